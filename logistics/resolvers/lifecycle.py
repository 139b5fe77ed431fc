"""The driver's seven steps of a job, from accepted to completed (the table is the job core's)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics import ledger
from logistics.errors import DomainError, ErrorCode
from logistics.job.access import driver_job, for_drivers
from logistics.job.lifecycle import Step, must_move, record_transition
from logistics.job.status import DRIVER_STEPS, JobStatus
from logistics.models import Driver, Job, JobImage
from logistics.platform import Ctx
from logistics.resolvers.views import job_view
from logistics.shapes.jobs import JobView, TransitionIn


async def _has_dropoff_proof(ctx: Ctx, job: Job) -> bool:
    query = (
        select(col(JobImage.id))
        .where(col(JobImage.job_id) == job.id, col(JobImage.kind) == "dropoff")
        .limit(1)
    )
    return (await ctx.session.execute(query)).first() is not None


# The driver is locked before the job, as tracking does (its points reference the job): the
# opposite order deadlocks `complete` against tracking, and without the lock two jobs
# completing at once lose one `completed_jobs` increment.
@for_drivers(lock=True)
async def advance_job(ctx: Ctx, driver: Driver, job_id: str, step: str, data: TransitionIn) -> JobView:
    """One of the seven driver steps, by the assigned driver only."""
    target = DRIVER_STEPS[step]
    job = await driver_job(ctx, driver, job_id, lock=True)
    if must_move(job, target):
        if data.point is None and target != JobStatus.COMPLETED:
            raise DomainError(
                ErrorCode.VALIDATION_FAILED,
                "a point is required for this step",
                {"fields": {"point": "required"}},
            )
        region = ctx.settings.region(job.region_id)
        needs_proof = target == JobStatus.DROPOFF_COMPLETED and region.proof_of_delivery == "photo"
        if needs_proof and not await _has_dropoff_proof(ctx, job):
            raise DomainError(ErrorCode.PROOF_REQUIRED, "add a dropoff photo before completing the dropoff")
        made = Step("driver", point=data.point, recorded_at=data.recorded_at, note=data.note)
        await record_transition(ctx, job, target, made)
        if target == JobStatus.COMPLETED:
            await _settle_completed_job(ctx, job, driver_id=driver.id)
            driver.completed_jobs += 1
            ctx.session.add(driver)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="driver")


async def _settle_completed_job(ctx: Ctx, job: Job, *, driver_id: str) -> None:
    job.completed_at = ctx.now()
    await ledger.post_completion(ctx.session, job, driver_id=driver_id, at=ctx.now())
