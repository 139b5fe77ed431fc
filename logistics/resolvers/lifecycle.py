"""The job state machine (API.md, "The job and its lifecycle") and the driver's steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from logistics import ledger
from logistics.auth import driver_job, require_driver
from logistics.errors import DomainError, ErrorCode
from logistics.models import Driver, Job, JobEvent, JobImage
from logistics.pubsub import FEED_CHANNEL, job_channel
from logistics.resolvers.context import Ctx
from logistics.resolvers.views import job_eta, job_view
from logistics.shapes.common import Point
from logistics.shapes.events import JobUpdate
from logistics.shapes.jobs import JobView, TransitionIn

NEXT: dict[str, tuple[str, ...]] = {
    "awaiting_payment": ("searching", "cancelled"),
    "searching": ("accepted", "cancelled"),
    "accepted": ("pickup_started", "cancelled"),
    "pickup_started": ("pickup_arrived", "cancelled"),
    "pickup_arrived": ("pickup_completed", "cancelled"),
    "pickup_completed": ("dropoff_started",),
    "dropoff_started": ("dropoff_arrived",),
    "dropoff_arrived": ("dropoff_completed",),
    "dropoff_completed": ("completed",),
    "completed": (),
    "cancelled": (),
}

# The driver's steps, by their REST path segment.
DRIVER_STEPS: dict[str, str] = {
    "start-pickup": "pickup_started",
    "arrive-pickup": "pickup_arrived",
    "complete-pickup": "pickup_completed",
    "start-dropoff": "dropoff_started",
    "arrive-dropoff": "dropoff_arrived",
    "complete-dropoff": "dropoff_completed",
    "complete": "completed",
}


def invalid_transition(job: Job, target: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TRANSITION,
        f"a job that is {job.status} cannot become {target}",
        {"status": job.status, "allowed": list(NEXT[job.status])},
    )


def must_move(job: Job, target: str) -> bool:
    """True when the job should move to ``target``; False when it is already there (a retried
    request, answered without change); ``INVALID_TRANSITION`` for any other step."""
    if job.status == target:
        return False
    if target not in NEXT[job.status]:
        raise invalid_transition(job, target)
    return True


async def record_transition(
    ctx: Ctx,
    job: Job,
    status: str,
    *,
    actor_role: str,
    point: Point | None = None,
    recorded_at: datetime | None = None,
    note: str | None = None,
) -> None:
    """Move the job and append its timeline row; the job's subscribers hear of it on commit."""
    previous = job.status
    job.status = status
    await append_event(
        ctx, job, previous, actor_role=actor_role, point=point, recorded_at=recorded_at, note=note
    )


async def append_event(
    ctx: Ctx,
    job: Job,
    previous: str | None,
    *,
    actor_role: str,
    point: Point | None = None,
    recorded_at: datetime | None = None,
    note: str | None = None,
) -> None:
    """The timeline row for a status the job has just taken (``job.status``)."""
    now = ctx.now()
    status = job.status
    seq_query = select(func.coalesce(func.max(col(JobEvent.seq)), 0)).where(col(JobEvent.job_id) == job.id)
    seq = int((await ctx.session.execute(seq_query)).scalar_one()) + 1
    job.updated_at = now
    ctx.session.add(
        JobEvent(
            job_id=job.id,
            seq=seq,
            status=status,
            at=now,
            recorded_at=recorded_at,
            lat=point.lat if point else None,
            lng=point.lng if point else None,
            actor_role=actor_role,
            actor_id=ctx.principal.sub if actor_role != "system" else "system",
            note=note,
        )
    )
    ctx.session.add(job)
    await ctx.session.flush()
    await announce_status(ctx, job, previous)


async def announce_status(ctx: Ctx, job: Job, previous: str | None) -> None:
    """Queue ``jobUpdated`` (with the new ETA) and, on entering or leaving the open feed,
    the feed change; both go out after the commit."""
    driver = None
    if job.driver_id is not None:
        driver = (
            await ctx.session.execute(select(Driver).where(col(Driver.id) == job.driver_id))
        ).scalar_one()
    now = ctx.now()
    eta = job_eta(job, ctx.settings.region(job.region_id), driver, ctx.settings, now)
    update = JobUpdate.model_validate(
        {
            "job_id": job.id,
            "status": job.status,
            "previous": previous,
            "at": now,
            "eta": eta,
            "driver_id": job.driver_id,
        }
    )
    ctx.publish(job_channel(job.id), update.model_dump(mode="json"))
    if job.status == "searching" or previous == "searching":
        ctx.publish(
            FEED_CHANNEL,
            {
                "type": "feed_entered" if job.status == "searching" else "feed_left",
                "job_id": job.id,
                "lat": job.pickup_lat,
                "lng": job.pickup_lng,
                "vehicle_type": job.vehicle_type,
                "driver_earnings": {"amount": job.driver_earnings, "currency": job.currency},
            },
        )


async def _has_dropoff_proof(ctx: Ctx, job: Job) -> bool:
    query = (
        select(col(JobImage.id))
        .where(col(JobImage.job_id) == job.id, col(JobImage.kind) == "dropoff")
        .limit(1)
    )
    return (await ctx.session.execute(query)).first() is not None


async def advance_job(ctx: Ctx, job_id: str, step: str, data: TransitionIn) -> JobView:
    """One of the seven driver steps, by the assigned driver only."""
    target = DRIVER_STEPS[step]
    # Lock the driver before the job, as tracking does (its points reference the job): the
    # opposite order deadlocks `complete` against tracking, and without the lock two jobs
    # completing at once lose one `completed_jobs` increment.
    driver = await require_driver(ctx.session, ctx.principal, lock=True)
    job = await driver_job(ctx.session, driver, job_id, lock=True)
    if must_move(job, target):
        if data.point is None and target != "completed":
            raise DomainError(
                ErrorCode.VALIDATION_FAILED,
                "a point is required for this step",
                {"fields": {"point": "required"}},
            )
        region = ctx.settings.region(job.region_id)
        needs_proof = target == "dropoff_completed" and region.proof_of_delivery == "photo"
        if needs_proof and not await _has_dropoff_proof(ctx, job):
            raise DomainError(ErrorCode.PROOF_REQUIRED, "add a dropoff photo before completing the dropoff")
        await record_transition(
            ctx,
            job,
            target,
            actor_role="driver",
            point=data.point,
            recorded_at=data.recorded_at,
            note=data.note,
        )
        if target == "completed":
            await _settle_completed_job(ctx, job, driver_id=driver.id)
            driver.completed_jobs += 1
            ctx.session.add(driver)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="driver")


async def _settle_completed_job(ctx: Ctx, job: Job, *, driver_id: str) -> None:
    job.completed_at = ctx.now()
    await ledger.post(
        ctx.session,
        at=ctx.now(),
        type="earning",
        currency=job.currency,
        job_id=job.id,
        legs=ledger.completion_legs(
            job_id=job.id,
            customer_id=job.customer_id,
            driver_id=driver_id,
            price=job.price,
            earnings=job.driver_earnings,
            payment_method=job.payment_method,
            paid=job.payment_status == "paid",
        ),
    )
