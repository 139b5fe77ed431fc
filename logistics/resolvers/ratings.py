"""Ratings: the customer rates the driver once the job is completed, once."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from logistics.errors import DomainError, ErrorCode
from logistics.job.access import customer_job
from logistics.job.lifecycle import refused
from logistics.job.status import JobStatus
from logistics.models import Driver, Rating
from logistics.platform import Ctx
from logistics.shapes.money import RateIn, RatingView


async def rate_order(ctx: Ctx, job_id: str, data: RateIn) -> RatingView:
    job = await customer_job(ctx, job_id)
    if job.status != JobStatus.COMPLETED or job.driver_id is None:
        raise refused(job, "a job is rated once it is completed")
    rating = Rating(
        job_id=job.id,
        customer_id=ctx.principal.sub,
        driver_id=job.driver_id,
        stars=data.stars,
        comment=data.comment,
        created_at=ctx.now(),
    )
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(rating)
            await ctx.session.flush()
    except IntegrityError as exc:
        # The unique job_id settles two racing ratings: the second one is refused.
        raise DomainError(ErrorCode.ALREADY_RATED, "this job has been rated") from exc
    # One atomic update, so concurrent ratings of one driver never lose a star.
    await ctx.session.execute(
        update(Driver)
        .where(col(Driver.id) == job.driver_id)
        .values(rating_sum=col(Driver.rating_sum) + data.stars, rating_count=col(Driver.rating_count) + 1)
        .execution_options(synchronize_session=False)
    )
    return RatingView(job_id=job.id, stars=rating.stars, comment=rating.comment, created_at=rating.created_at)
