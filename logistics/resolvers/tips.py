"""Ratings and tips: after the delivery, from the job's customer only."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from logistics.auth import customer_job
from logistics.errors import DomainError, ErrorCode
from logistics.models import Driver, Rating
from logistics.resolvers import payments
from logistics.resolvers.context import Ctx
from logistics.resolvers.views import money
from logistics.shapes.money import PaymentPurpose, PaymentStart, RateIn, RatingView, TipIn, TipResult


async def rate_order(ctx: Ctx, job_id: str, data: RateIn) -> RatingView:
    job = await customer_job(ctx.session, ctx.principal, job_id)
    if job.status != "completed" or job.driver_id is None:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            "a job is rated once it is completed",
            {"status": job.status, "allowed": []},
        )
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


async def tip_order(
    ctx: Ctx, job_id: str, data: TipIn, *, idempotency_key: str | None = None
) -> PaymentStart:
    return await payments.start_payment(
        ctx,
        job_id,
        purpose=PaymentPurpose.TIP,
        provider=data.method.value,
        amount=data.amount,
        idempotency_key=idempotency_key,
    )


async def complete_tip(ctx: Ctx, job_id: str, payment_id: str) -> TipResult:
    """Confirm the tip with its provider; the driver's balance gets it exactly once."""
    await customer_job(ctx.session, ctx.principal, job_id)
    payment = await payments.confirm_payment(ctx, payment_id, purpose=PaymentPurpose.TIP)
    if payment.job_id != job_id:
        raise DomainError(ErrorCode.NOT_FOUND, "payment not found")
    return TipResult.model_validate(
        {"tip": money(payment.amount, payment.currency), "status": payment.status}
    )
