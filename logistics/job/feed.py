"""The feed rule: which open jobs a driver may see and take, and which drivers dispatch may
offer a job to. Stated once, here, as plain functions over facts.

Every surface asks these functions: the feed query, the ``availableJobs`` subscription,
``GET /jobs/:id``, ``accept``, and dispatch's choice of driver for a job and of job for a
driver. SQL only narrows the rows to look at (status, area, cells); it never decides.

- :func:`job_block` is the job's side: is this job open to this driver at all?
- :func:`dispatch_block` adds the driver's side, for offers: online, fresh, free, and not
  offered this job before.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.config import VEHICLE_RANK, VehicleType
from logistics.geo import haversine_m
from logistics.job.status import ACTIVE_STATUSES, JobStatus
from logistics.models import Driver, Job, JobOffer, JobRejection


class Block(StrEnum):
    """Why a job is not open to a driver (the first reason found)."""

    NOT_OPEN = "not_open"  # not searching, or a driver holds it
    OWN_ORDER = "own_order"  # the driver's own order: it could not deliver it to itself
    VEHICLE = "vehicle"  # the driver's vehicle is too small
    REJECTED = "rejected"  # the driver passed on it
    OFFERED_ELSEWHERE = "offered_elsewhere"  # under a live exclusive offer to another driver
    TOO_FAR = "too_far"
    # The driver's side: dispatch offers only to drivers who can start now.
    NOT_APPROVED = "not_approved"
    OFFLINE = "offline"
    STALE = "stale"  # no position recent enough to measure a pickup distance
    BUSY = "busy"  # doing another job
    OFFER_PENDING = "offer_pending"  # holds a live offer of another job
    OFFERED_BEFORE = "offered_before"  # dispatch already tried this driver for the job


@dataclass(frozen=True)
class JobFacts:
    """What the rule reads of a job; also the payload of feed events."""

    id: str
    status: str
    driver_id: str | None
    customer_id: str
    creator_id: str
    vehicle_type: str
    lat: float
    lng: float
    offered_to: str | None = None  # the driver holding a live offer
    rejected_by: frozenset[str] = frozenset()
    offered_before: frozenset[str] = frozenset()

    @classmethod
    def of(cls, job: Job, **sets: Any) -> JobFacts:
        """The facts of a job row; ``sets`` gives what lives in other tables (its live offer,
        who rejected it, who was offered it)."""
        columns = {field: getattr(job, column) for field, column in _JOB_COLUMNS.items()}
        return cls(**columns, **sets)

    def as_event(self) -> dict[str, object]:
        """The facts a feed event carries; who was offered the job before matters only to
        dispatch, which reads it from the database."""
        data = {field: getattr(self, field) for field in (*_JOB_COLUMNS, "offered_to")}
        return {**data, "rejected_by": sorted(self.rejected_by)}

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> JobFacts:
        plain = {field: data[field] for field in (*_JOB_COLUMNS, "offered_to")}
        return cls(**plain, rejected_by=frozenset(data.get("rejected_by") or ()))


# JobFacts field -> Job column.
_JOB_COLUMNS = {
    "id": "id",
    "status": "status",
    "driver_id": "driver_id",
    "customer_id": "customer_id",
    "creator_id": "creator_id",
    "vehicle_type": "vehicle_type",
    "lat": "pickup_lat",
    "lng": "pickup_lng",
}


@dataclass(frozen=True)
class DriverFacts:
    """What the rule reads of a driver."""

    id: str
    user_id: str
    vehicle_type: str
    approved: bool = True
    online: bool = True
    lat: float | None = None
    lng: float | None = None
    position_at: datetime | None = None
    busy: bool = False
    live_offer_job: str | None = None

    @classmethod
    def of(cls, driver: Driver, **workload: Any) -> DriverFacts:
        """The facts of a driver row; ``workload`` (busy, live offer) lives in other tables."""
        return cls(
            **{
                field: getattr(driver, field)
                for field in ("id", "user_id", "vehicle_type", "online", "lat", "lng")
            },
            approved=driver.status == "approved",
            position_at=driver.location_recorded_at,
            **workload,
        )


def vehicle_fits(driver_vehicle: str, job_vehicle: str) -> bool:
    """A driver may take a job booked for its vehicle type or a smaller one."""
    return VEHICLE_RANK[VehicleType(driver_vehicle)] >= VEHICLE_RANK[VehicleType(job_vehicle)]


def vehicle_types_for(job_vehicle: str) -> list[str]:
    """Vehicle types that may take a job booked for ``job_vehicle``: that one or larger."""
    return [v.value for v in VEHICLE_RANK if vehicle_fits(v.value, job_vehicle)]


def job_block(driver: DriverFacts, job: JobFacts) -> Block | None:
    """Why ``job`` is not open to ``driver``, or None: it may see it and take it."""
    if job.status != JobStatus.SEARCHING or job.driver_id is not None:
        return Block.NOT_OPEN
    if driver.user_id in (job.customer_id, job.creator_id):
        return Block.OWN_ORDER
    if not vehicle_fits(driver.vehicle_type, job.vehicle_type):
        return Block.VEHICLE
    if driver.id in job.rejected_by:
        return Block.REJECTED
    if job.offered_to is not None and job.offered_to != driver.id:
        return Block.OFFERED_ELSEWHERE
    return None


def within(driver_lat: float, driver_lng: float, job: JobFacts, radius_m: float) -> float | None:
    """The pickup distance when it is within ``radius_m``, else None."""
    distance = haversine_m(driver_lat, driver_lng, job.lat, job.lng)
    return distance if distance <= radius_m else None


def feed_block(driver: DriverFacts, job: JobFacts, lat: float, lng: float, radius_m: float) -> Block | None:
    """The feed around (lat, lng): open to the driver and within the radius."""
    block = job_block(driver, job)
    if block is None and within(lat, lng, job, radius_m) is None:
        return Block.TOO_FAR
    return block


def driver_block(driver: DriverFacts, *, now: datetime, stale_after_s: float) -> Block | None:
    """The driver's side of an offer: approved, online, with a fresh position, free."""
    if not driver.approved:
        return Block.NOT_APPROVED
    if not driver.online:
        return Block.OFFLINE
    if (
        driver.lat is None
        or driver.lng is None
        or driver.position_at is None
        or driver.position_at < now - timedelta(seconds=stale_after_s)
    ):
        return Block.STALE
    if driver.busy:
        return Block.BUSY
    if driver.live_offer_job is not None:
        return Block.OFFER_PENDING
    return None


def dispatch_block(
    driver: DriverFacts, job: JobFacts, *, now: datetime, stale_after_s: float, radius_m: float
) -> Block | None:
    """Whether dispatch may offer ``job`` to ``driver`` now: open to it, nobody holds an
    offer of it, the driver can start at once and is near enough, and was not tried for
    this job before."""
    block = job_block(driver, job)
    if block is not None:
        return block
    if job.offered_to is not None:
        return Block.OFFER_PENDING
    block = driver_block(driver, now=now, stale_after_s=stale_after_s)
    if block is not None:
        return block
    if driver.id in job.offered_before:
        return Block.OFFERED_BEFORE
    assert driver.lat is not None and driver.lng is not None
    if within(driver.lat, driver.lng, job, radius_m) is None:
        return Block.TOO_FAR
    return None


# --- facts from the database, in batches ---------------------------------------------------


@dataclass
class _Offers:
    live: dict[str, str] = field(default_factory=dict)
    tried: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


async def job_facts(session: AsyncSession, jobs: Iterable[Job], now: datetime) -> dict[str, JobFacts]:
    """The rule's facts for each job: two queries whatever the number of jobs."""
    jobs = list(jobs)
    ids = [job.id for job in jobs]
    offers = _Offers()
    rejected: dict[str, set[str]] = defaultdict(set)
    if ids:
        offer_rows = await session.execute(
            select(
                col(JobOffer.job_id), col(JobOffer.driver_id), col(JobOffer.status), col(JobOffer.expires_at)
            ).where(col(JobOffer.job_id).in_(ids))
        )
        for job_id, driver_id, status, expires_at in offer_rows:
            offers.tried[job_id].add(driver_id)
            # An offer past its time no longer holds the job, even before the loop closes it.
            if status == "pending" and expires_at > now:
                offers.live[job_id] = driver_id
        rejection_rows = await session.execute(
            select(col(JobRejection.job_id), col(JobRejection.driver_id)).where(
                col(JobRejection.job_id).in_(ids)
            )
        )
        for job_id, driver_id in rejection_rows:
            rejected[job_id].add(driver_id)
    return {
        job.id: JobFacts.of(
            job,
            offered_to=offers.live.get(job.id),
            rejected_by=frozenset(rejected[job.id]),
            offered_before=frozenset(offers.tried[job.id]),
        )
        for job in jobs
    }


async def one_job_facts(session: AsyncSession, job: Job, now: datetime) -> JobFacts:
    return (await job_facts(session, [job], now))[job.id]


async def driver_facts(session: AsyncSession, drivers: Iterable[Driver]) -> dict[str, DriverFacts]:
    """The rule's facts for each driver (two queries, whatever the number of drivers)."""
    loaded = await with_workload(session, [DriverFacts.of(driver) for driver in drivers])
    return {facts.id: facts for facts in loaded}


async def with_workload(session: AsyncSession, drivers: list[DriverFacts]) -> list[DriverFacts]:
    """The same drivers with what they are doing now: an active job, a live offer."""
    if not drivers:
        return []
    busy, offers = await _workload(session, [driver.id for driver in drivers])
    return [replace(d, busy=d.id in busy, live_offer_job=offers.get(d.id)) for d in drivers]


async def with_all_workload(session: AsyncSession, drivers: list[DriverFacts]) -> list[DriverFacts]:
    """:func:`with_workload` for a whole fleet: the active jobs and live offers read in full
    (two statements) rather than through an IN list per chunk of drivers."""
    busy, offers = await _workload(session, None)
    return [replace(d, busy=d.id in busy, live_offer_job=offers.get(d.id)) for d in drivers]


async def _workload(session: AsyncSession, ids: list[str] | None) -> tuple[set[str], dict[str, str]]:
    busy_query = select(col(Job.driver_id)).where(
        col(Job.driver_id).is_not(None), col(Job.status).in_(ACTIVE_STATUSES)
    )
    offer_query = select(col(JobOffer.driver_id), col(JobOffer.job_id)).where(
        col(JobOffer.status) == "pending"
    )
    if ids is not None:
        busy_query = busy_query.where(col(Job.driver_id).in_(ids))
        offer_query = offer_query.where(col(JobOffer.driver_id).in_(ids))
    busy = {driver_id for (driver_id,) in await session.execute(busy_query) if driver_id is not None}
    offers = {driver_id: job_id for driver_id, job_id in await session.execute(offer_query)}
    return busy, offers


def as_if_open(job: JobFacts) -> JobFacts:
    """The job as it was while open: to tell "taken by someone else" from "never yours"."""
    return replace(job, status=JobStatus.SEARCHING, driver_id=None)
