"""The offer log, for ops: who was offered a job, when, and what came of it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics.errors import not_found
from logistics.job.access import for_ops
from logistics.models import Job, JobOffer
from logistics.platform import Ctx
from logistics.shapes.dispatch import OfferLogEntry


@for_ops
async def offer_log(ctx: Ctx, job_id: str) -> list[OfferLogEntry]:
    if (await ctx.session.execute(select(col(Job.id)).where(col(Job.id) == job_id))).first() is None:
        raise not_found("job")
    query = select(JobOffer).where(col(JobOffer.job_id) == job_id).order_by(col(JobOffer.id))
    return [
        OfferLogEntry.model_validate(offer, from_attributes=True)
        for offer in (await ctx.session.execute(query)).scalars()
    ]
