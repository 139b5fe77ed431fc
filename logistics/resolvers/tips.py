"""Tips: after the delivery, from the job's customer only, through a payment provider."""

from __future__ import annotations

from logistics.errors import DomainError, ErrorCode
from logistics.job.access import customer_job
from logistics.platform import Ctx
from logistics.resolvers import payments
from logistics.resolvers.views import money
from logistics.shapes.money import PaymentPurpose, PaymentStart, TipIn, TipResult


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
    await customer_job(ctx, job_id)
    payment = await payments.confirm_payment(ctx, payment_id, purpose=PaymentPurpose.TIP)
    if payment.job_id != job_id:
        raise DomainError(ErrorCode.NOT_FOUND, "payment not found")
    return TipResult.model_validate(
        {"tip": money(payment.amount, payment.currency), "status": payment.status}
    )
