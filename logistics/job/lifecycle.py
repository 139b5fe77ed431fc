"""Moving a job along its lifecycle: the checks every step makes, the timeline row it
records, and the events it queues. The table itself is ``logistics.job.status``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from logistics.errors import DomainError, ErrorCode
from logistics.job.events import announce_status, watch_feed
from logistics.job.status import stage
from logistics.models import Job, JobEvent
from logistics.platform import Ctx
from logistics.shapes.common import Point


def refused(job: Job, message: str) -> DomainError:
    """``INVALID_TRANSITION`` for a step the job's status does not allow, with the statuses
    reachable next (``details.allowed``), so a client can tell what would work."""
    return DomainError(
        ErrorCode.INVALID_TRANSITION,
        message,
        {"status": job.status, "allowed": [status.value for status in stage(job.status).next]},
    )


def invalid_transition(job: Job, target: str) -> DomainError:
    return refused(job, f"a job that is {job.status} cannot become {target}")


def must_move(job: Job, target: str) -> bool:
    """True when the job should move to ``target``; False when it is already there (a retried
    request, answered without change); ``INVALID_TRANSITION`` for any other step."""
    if job.status == target:
        return False
    if target not in stage(job.status).next:
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
    """Move the job and append its timeline row; the job's listeners hear of it on commit."""
    await watch_feed(ctx, job)
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
    seq_query = select(func.coalesce(func.max(col(JobEvent.seq)), 0)).where(col(JobEvent.job_id) == job.id)
    seq = int((await ctx.session.execute(seq_query)).scalar_one()) + 1
    job.updated_at = now
    ctx.session.add(
        JobEvent(
            job_id=job.id,
            seq=seq,
            status=job.status,
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
