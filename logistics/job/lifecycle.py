"""Moving a job along its lifecycle: the checks every step makes, the timeline row it
records, and the events it queues. The table itself is ``logistics.job.status``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from logistics.errors import DomainError, ErrorCode
from logistics.job import webhook_events
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


@dataclass(frozen=True)
class Step:
    """Who made a step, and what the timeline keeps of it: where, when by the device, why."""

    actor_role: str
    point: Point | None = None
    recorded_at: datetime | None = None
    note: str | None = None


async def record_transition(
    ctx: Ctx, job: Job, status: str, step: Step, *, moved_from: str | None = None
) -> None:
    """Move the job, append its timeline row, and queue what its listeners hear on commit.

    ``moved_from`` is for a step a conditional UPDATE has already made (accepting among
    racing drivers): the status the job had before it.
    """
    if moved_from is None:
        await watch_feed(ctx, job)
        previous: str | None = job.status
        job.status = status
    else:
        previous = moved_from
    now = ctx.now()
    seq_query = select(func.coalesce(func.max(col(JobEvent.seq)), 0)).where(col(JobEvent.job_id) == job.id)
    seq = int((await ctx.session.execute(seq_query)).scalar_one()) + 1
    job.updated_at = now
    point = step.point
    ctx.session.add(
        JobEvent(
            job_id=job.id,
            seq=seq,
            status=job.status,
            at=now,
            recorded_at=step.recorded_at,
            lat=point.lat if point else None,
            lng=point.lng if point else None,
            actor_role=step.actor_role,
            actor_id=ctx.principal.sub if step.actor_role != "system" else "system",
            note=step.note,
        )
    )
    update = await announce_status(ctx, job, previous)
    await webhook_events.job_moved(ctx, job, update)
    ctx.session.add(job)
    await ctx.session.flush()
