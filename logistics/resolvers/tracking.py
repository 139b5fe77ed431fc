"""The driver's GPS trail while a job is active, and its positions on the job's stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, insert, or_, select, update
from sqlmodel import col

from logistics.auth import Principal
from logistics.db import UnitOfWork
from logistics.dispatch import offers
from logistics.errors import DomainError, ErrorCode
from logistics.geo import cell_of
from logistics.job.access import driver_job, for_drivers
from logistics.job.eta import TRIP_COLUMNS, Located, Trip, driver_position, job_eta
from logistics.job.status import ACTIVE_STATUSES, is_active
from logistics.models import Driver, Job, LocationPoint
from logistics.models.base import new_id
from logistics.observability.metrics import PINGS_TRANSACTION
from logistics.platform import Ctx, Platform
from logistics.positions import FlushHook, Position, move
from logistics.pubsub import location_channel
from logistics.shapes.common import LocationReport, Point
from logistics.shapes.events import DriverLocation
from logistics.shapes.jobs import TrackingResult


class MovingJob(Trip, Protocol):
    """A job row, or the columns of one that the batch announcer read."""

    @property
    def id(self) -> str: ...
    @property
    def region_id(self) -> str: ...


# The columns a position's event needs, read for a whole batch of pings at once.
_ACTIVE_JOBS_OF = select(*TRIP_COLUMNS).where(
    col(Job.driver_id).in_(bindparam("drivers", expanding=True)), col(Job.status).in_(ACTIVE_STATUSES)
)


def announce_position(
    ctx: Ctx, job: MovingJob, at: Located, heading: float | None, speed: float | None
) -> None:
    """Queue the driver's position on ``job``'s ``driverLocation`` stream, with the ETA from it."""
    if at.lat is None or at.lng is None or at.location_recorded_at is None:
        return
    eta = job_eta(job, ctx.settings.region(job.region_id), at, ctx.settings, ctx.now())
    location = DriverLocation(
        job_id=job.id,
        point=Point(lat=at.lat, lng=at.lng),
        heading_deg=heading,
        speed_mps=speed,
        recorded_at=at.location_recorded_at,
        eta_seconds=eta.seconds if eta else None,
    )
    ctx.publish(location_channel(job.id), location.model_dump(mode="json"))


async def announce_positions(ctx: Ctx, positions: Sequence[Position]) -> None:
    """Each position of a batch of pings, on the stream of its driver's active job (if any)."""
    by_driver = {position.driver_id: position for position in positions}
    connection = await ctx.session.connection()
    for job in await connection.execute(_ACTIVE_JOBS_OF, {"drivers": list(by_driver)}):
        position = by_driver[str(job.driver_id)]
        announce_position(ctx, job, position, position.heading_deg, position.speed_mps)


def announce_flushed(platform: Platform) -> FlushHook:
    """The ping buffer's hook: positions written in a batch reach their jobs' streams and
    dispatch's index of drivers."""
    system = Principal.system("positions")

    async def hook(uow: UnitOfWork, positions: list[Position]) -> None:
        platform.driver_sync.positions_written(uow, positions)
        await announce_positions(Ctx(uow, principal=system, platform=platform), positions)

    return hook


async def announce_driver(ctx: Ctx, driver: Driver) -> None:
    """A ping written through a transaction, on the stream of the driver's active job."""
    connection = await ctx.session.connection()
    for job in await connection.execute(_ACTIVE_JOBS_OF, {"drivers": [driver.id]}):
        announce_position(ctx, job, driver, driver.heading_deg, driver.speed_mps)


def apply_position(driver: Driver, report: LocationReport, ctx: Ctx) -> bool:
    """Move the driver to ``report`` unless a newer position is already stored."""
    now = ctx.now()
    return move(driver, position_of(driver.id, report, now), now=now)


def position_of(driver_id: str, report: LocationReport, now: datetime) -> Position:
    return Position(
        driver_id,
        report.lat,
        report.lng,
        report.accuracy_m,
        report.heading_deg,
        report.speed_mps,
        recorded_at=report.recorded_at or now,
        received_at=now,
    )


def remember_position(ctx: Ctx, driver: Driver) -> None:
    """Once committed, the driver's newest position is known to this process's ping buffer."""
    positions, user_id, driver_id = ctx.platform.positions, driver.user_id, driver.id
    recorded_at = driver.location_recorded_at

    async def remember() -> None:
        positions.remember(user_id, driver_id, recorded_at)

    ctx.uow.after_commit(remember)


async def update_location(ctx: Ctx, report: LocationReport) -> None:
    """A presence ping. Telemetry first: the ping of a known, fresh, approved driver goes to
    the buffer that writes positions in batches (``logistics.positions``), without a
    transaction; any other ping is decided in one (who the caller is, whether the position
    brings the driver back to dispatch)."""
    now, positions = ctx.now(), ctx.platform.positions
    driver_id = positions.fresh_driver(ctx.principal.sub, now)
    if driver_id is None:
        await _update_location_now(ctx, report)
        PINGS_TRANSACTION.inc()
    else:
        positions.keep(ctx.principal.sub, position_of(driver_id, report, now))


@for_drivers(lock=True)
async def _update_location_now(ctx: Ctx, driver: Driver, report: LocationReport) -> None:
    was_fresh = driver_position(driver, ctx.settings, ctx.now()) is not None
    if apply_position(driver, report, ctx):
        ctx.session.add(driver)
        await ctx.session.flush()
        await announce_driver(ctx, driver)
        if driver.online and not was_fresh:
            # An online driver whose position was unknown or stale is new to dispatch.
            await offers.offer_nearby_job_to_driver(ctx, driver)
    remember_position(ctx, driver)


# The tracking PUT's one read: the job's trip and its driver, when the caller is that driver.
_TRACKED = (
    select(
        *TRIP_COLUMNS,
        col(Driver.status).label("driver_status"),
        col(Driver.lat).label("lat"),
        col(Driver.lng).label("lng"),
        col(Driver.location_recorded_at).label("location_recorded_at"),
    )
    .join(Driver, col(Driver.id) == col(Job.driver_id))
    .where(col(Job.id) == bindparam("job"), col(Driver.user_id) == bindparam("user"))
)
# The driver moves only to a position newer than its stored one (a batch replayed late, or two
# requests that overtook each other, leave it where it is), and only while approved.
_MOVE = (
    update(Driver)
    .where(
        col(Driver.id) == bindparam("driver"),
        col(Driver.status) == "approved",
        or_(col(Driver.location_recorded_at).is_(None), col(Driver.location_recorded_at) < bindparam("at")),
    )
    .values(
        lat=bindparam("lat"),
        lng=bindparam("lng"),
        h3_cell=bindparam("cell"),
        accuracy_m=bindparam("accuracy"),
        heading_deg=bindparam("heading"),
        speed_mps=bindparam("speed"),
        location_recorded_at=bindparam("at"),
        updated_at=bindparam("now"),
    )
    .returning(col(Driver.id))
)


async def report_tracking(ctx: Ctx, job_id: str, points: list[LocationReport]) -> TrackingResult:
    """Store points (a batch is replayed in device-time order) and move the driver.

    A driver's tracking runs all through a job, a point every few seconds, so it is three Core
    statements: one read that answers who the caller is to the job, the points in one INSERT,
    and a guarded UPDATE of the driver. Whatever that read does not settle (not the job's
    driver, not approved, the job not active) takes the checked path, for its exact error."""
    await ctx.begin()
    connection = await ctx.session.connection()
    row = (await connection.execute(_TRACKED, {"job": job_id, "user": ctx.principal.sub})).first()
    if row is None or row.driver_status != "approved" or not is_active(row.status):
        return await _report_tracking_checked(ctx, job_id, points)
    now = ctx.now()
    positions = sorted(
        (position_of(str(row.driver_id), report, now) for report in points), key=lambda p: p.recorded_at
    )
    await connection.execute(
        insert(LocationPoint),
        [
            {
                "id": new_id(),
                "job_id": row.id,
                "driver_id": p.driver_id,
                "lat": p.lat,
                "lng": p.lng,
                "accuracy_m": p.accuracy_m,
                "heading_deg": p.heading_deg,
                "speed_mps": p.speed_mps,
                "recorded_at": p.recorded_at,
                "received_at": now,
            }
            for p in positions
        ],
    )
    newest = positions[-1]
    moved = (
        await connection.execute(
            _MOVE,
            {
                "driver": newest.driver_id,
                "lat": newest.lat,
                "lng": newest.lng,
                "cell": cell_of(newest.lat, newest.lng),
                "accuracy": newest.accuracy_m,
                "heading": newest.heading_deg,
                "speed": newest.speed_mps,
                "at": newest.recorded_at,
                "now": now,
            },
        )
    ).first() is not None
    at: Located = row
    if moved:
        at = newest
        ctx.platform.driver_sync.positions_written(ctx.uow, [newest])
        announce_position(ctx, row, newest, newest.heading_deg, newest.speed_mps)
        platform, user_id = ctx.platform, ctx.principal.sub

        async def remember() -> None:
            platform.positions.remember(user_id, newest.driver_id, newest.recorded_at)

        ctx.uow.after_commit(remember)
    eta = job_eta(row, ctx.settings.region(row.region_id), at, ctx.settings, now)
    return TrackingResult(accepted=len(points), eta=eta)


@for_drivers(lock=True)
async def _report_tracking_checked(
    ctx: Ctx, driver: Driver, job_id: str, points: list[LocationReport]
) -> TrackingResult:
    """The tracking PUT through the access rules: for what the fast read did not settle."""
    job = await driver_job(ctx, driver, job_id)
    if not is_active(job.status):
        raise DomainError(ErrorCode.JOB_NOT_ACTIVE, "tracking is accepted only while the job is active")
    now = ctx.now()

    def device_time(report: LocationReport) -> datetime:
        return report.recorded_at or now

    moved = False
    for report in sorted(points, key=device_time):
        ctx.session.add(
            LocationPoint(
                **report.model_dump(exclude={"recorded_at"}),
                job_id=job.id,
                driver_id=driver.id,
                recorded_at=device_time(report),
                received_at=now,
            )
        )
        moved = apply_position(driver, report, ctx) or moved
    ctx.session.add(driver)
    await ctx.session.flush()
    remember_position(ctx, driver)
    if moved:
        announce_position(ctx, job, driver, driver.heading_deg, driver.speed_mps)
    eta = job_eta(job, ctx.settings.region(job.region_id), driver, ctx.settings, now)
    return TrackingResult(accepted=len(points), eta=eta)
