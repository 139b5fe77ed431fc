"""The offer log, for ops: where a job's dispatch stands, why it waits, who was offered it,
when, and what came of it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics.dispatch.offers import progress
from logistics.job.access import existing, for_ops
from logistics.models import Job, JobOffer
from logistics.platform import Ctx
from logistics.shapes.dispatch import OfferLog, OfferLogEntry


@for_ops
async def offer_log(ctx: Ctx, job_id: str) -> OfferLog:
    job = await existing(ctx, Job, job_id, what="job")
    query = select(JobOffer).where(col(JobOffer.job_id) == job_id).order_by(col(JobOffer.id))
    entries = [OfferLogEntry.of(offer) for offer in (await ctx.session.execute(query)).scalars()]
    live = any(entry.status == "pending" for entry in entries)
    return OfferLog(job_id=job.id, dispatch=progress(ctx.settings, job, live=live), entries=entries)
