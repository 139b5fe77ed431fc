"""Payments in: a delivery's price or a tip, through Stripe or PayPal, confirmed by the
provider (never by the client's word), from the client path or the provider's webhook alike.

``settle_payment`` is the one place where a provider's answer changes state; it runs under a
lock on the payment row and acts only on a pending payment, so a webhook racing the client's
verify, or ten retries of tip/complete, settle it exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from logistics import ledger
from logistics.dispatch import offers
from logistics.errors import DomainError, ErrorCode, not_found, validation_failed
from logistics.job import webhook_events
from logistics.job.access import customer_job, owned
from logistics.job.lifecycle import Step, must_move, record_transition, refused
from logistics.job.status import JobStatus, Trait, stage
from logistics.models import Job, Payment, ProviderEvent
from logistics.payments.gateway import PaymentGateway, ProviderCharge, ProviderError, WebhookRejected
from logistics.platform import Ctx
from logistics.resolvers import idempotency
from logistics.resolvers.views import job_view, money
from logistics.shapes.common import Money
from logistics.shapes.jobs import JobView
from logistics.shapes.money import PaymentPurpose, PaymentStart, PaymentView, StripeConfig

# A tip above this multiple of the job's price is refused as a likely typo.
MAX_TIP_MULTIPLE = 5


def payment_methods(ctx: Ctx) -> list[str]:
    """Cash always; card and PayPal when their providers are configured."""
    return ["cash", *sorted(ctx.platform.gateways)]


def gateway_for(ctx: Ctx, provider: str) -> PaymentGateway:
    gateway = ctx.platform.gateways.get(provider)
    if gateway is None:
        raise validation_failed(
            f"{provider} payments are not available", method=f"one of {payment_methods(ctx)}"
        )
    return gateway


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView.of(payment, amount=money(payment.amount, payment.currency))


def start_view(payment: Payment) -> PaymentStart:
    return PaymentStart.of(
        payment,
        payment_id=payment.id,
        amount=money(payment.amount, payment.currency),
        order_id=payment.provider_ref if payment.provider == "paypal" else None,
    )


def stripe_config(ctx: Ctx) -> StripeConfig:
    key = ctx.settings.stripe_publishable_key
    if "stripe" not in ctx.platform.gateways or not key:
        raise not_found("stripe configuration")
    region = ctx.settings.default_region
    return StripeConfig(publishable_key=key, currency=region.currency, country=region.country)


def _tip_amount(job: Job, amount: Money | None) -> int:
    if amount is None:
        raise validation_failed("a tip needs an amount", amount="required")
    if amount.currency != job.currency:
        raise validation_failed(f"tips are in {job.currency}", **{"amount.currency": job.currency})
    if not 1 <= amount.amount <= job.price * MAX_TIP_MULTIPLE:
        raise validation_failed("the tip amount is out of range", **{"amount.amount": "out of range"})
    return amount.amount


async def start_payment(
    ctx: Ctx,
    job_id: str,
    *,
    purpose: PaymentPurpose,
    provider: str,
    amount: Money | None = None,
    idempotency_key: str | None = None,
) -> PaymentStart:
    """Ask the provider for a charge the customer completes in the app."""
    gateway = gateway_for(ctx, provider)
    job = await customer_job(ctx, job_id, lock=True)
    if purpose is PaymentPurpose.DELIVERY:
        if job.status != JobStatus.AWAITING_PAYMENT:
            raise refused(job, "this order is not waiting for payment")
        if amount is not None and (amount.amount != job.price or amount.currency != job.currency):
            raise validation_failed("a delivery is paid at its price", amount="leave out, or the job's price")
        charge_amount = job.price
    else:
        if not stage(job.status).has(Trait.DELIVERED) or job.driver_id is None:
            raise refused(job, "a tip follows a delivered job")
        charge_amount = _tip_amount(job, amount)

    async def create() -> tuple[str, PaymentStart]:
        if purpose is PaymentPurpose.DELIVERY:
            # An order has one delivery charge per provider: a retry gets the pending one. Inside
            # ``create`` so that an Idempotency-Key sent with the retry is still claimed.
            reusable = await _pending_payment(ctx, job.id, purpose.value, provider)
            if reusable is not None and not await _failed_at_provider(gateway, reusable):
                return reusable.id, start_view(reusable)
        payment = Payment(
            job_id=job.id,
            customer_id=job.customer_id,
            purpose=purpose.value,
            provider=provider,
            amount=charge_amount,
            currency=job.currency,
            created_at=ctx.now(),
            updated_at=ctx.now(),
        )
        ctx.session.add(payment)
        await ctx.session.flush()
        try:
            charge = await gateway.create_charge(
                amount=charge_amount,
                currency=job.currency,
                reference=payment.id,
                description=f"{purpose.value} for job {job.id}",
                idempotency_key=f"charge-{payment.id}",
            )
        except ProviderError as exc:
            raise DomainError(ErrorCode.PAYMENT_FAILED, f"{provider} refused the payment: {exc}") from exc
        payment.provider_ref = charge.ref
        payment.client_secret = charge.client_secret
        payment.approve_url = charge.approve_url
        ctx.session.add(payment)
        await ctx.session.flush()
        return payment.id, start_view(payment)

    async def replay(payment_id: str) -> PaymentStart:
        return start_view(await _own_payment(ctx, payment_id))

    return await idempotency.once(
        ctx,
        scope=f"payments.create:{job.id}",
        key=idempotency_key,
        payload={"purpose": purpose.value, "provider": provider, "amount": charge_amount},
        create=create,
        replay=replay,
    )


async def _pending_payment(ctx: Ctx, job_id: str, purpose: str, provider: str) -> Payment | None:
    query = select(Payment).where(
        col(Payment.job_id) == job_id,
        col(Payment.purpose) == purpose,
        col(Payment.provider) == provider,
        col(Payment.status) == "pending",
        col(Payment.provider_ref).is_not(None),
    )
    return (await ctx.session.execute(query.order_by(col(Payment.id).desc()).limit(1))).scalar_one_or_none()


async def _failed_at_provider(gateway: PaymentGateway, payment: Payment) -> bool:
    """Whether the provider will never take this pending charge (a canceled intent, a declined
    capture, or one whose amount is not the payment's). Such a charge is not handed out again:
    the PAYMENT_FAILED that found it rolled back, so its row still says pending, and reusing it
    would leave the order unpayable. When the provider cannot be asked, it is still usable."""
    assert payment.provider_ref is not None
    try:
        charge = await gateway.confirm_charge(payment.provider_ref)
    except ProviderError:
        return False
    mismatch = charge.amount != payment.amount or charge.currency.upper() != payment.currency
    return charge.status == "failed" or (charge.status == "succeeded" and mismatch)


async def _own_payment(ctx: Ctx, payment_id: str, *, lock: bool = False) -> Payment:
    return await owned(ctx, Payment, payment_id, owner="customer_id", what="payment", lock=lock)


async def confirm_payment(
    ctx: Ctx, payment_id: str, *, provider: str | None = None, purpose: PaymentPurpose | None = None
) -> Payment:
    """Ask the provider how the payment stands (PayPal: capture it) and settle it."""
    payment = await _own_payment(ctx, payment_id, lock=True)
    if (provider and payment.provider != provider) or (purpose and payment.purpose != purpose.value):
        raise not_found("payment")
    # A failed payment is asked about again: the customer may have paid it on a retry.
    if payment.status not in ("pending", "failed"):
        return payment
    if payment.provider_ref is None:
        raise DomainError(ErrorCode.PAYMENT_FAILED, "the payment was never started with the provider")
    try:
        charge = await gateway_for(ctx, payment.provider).confirm_charge(payment.provider_ref)
    except ProviderError as exc:
        raise DomainError(ErrorCode.PAYMENT_FAILED, f"{payment.provider}: {exc}") from exc
    await settle_payment(ctx, payment, charge)
    if payment.status == "failed":
        raise DomainError(ErrorCode.PAYMENT_FAILED, "the payment did not go through")
    return payment


async def complete_order_payment(ctx: Ctx, job_id: str, payment_id: str) -> JobView:
    """``complete-payment``: confirm the order's payment and answer the order."""
    payment = await confirm_payment(ctx, payment_id, purpose=PaymentPurpose.DELIVERY)
    if payment.job_id != job_id:
        raise not_found("payment")
    job = await customer_job(ctx, job_id)
    return await job_view(ctx.session, job, settings=ctx.settings, now=ctx.now(), viewer="customer")


async def settle_payment(ctx: Ctx, payment: Payment, charge: ProviderCharge) -> None:
    """Apply the provider's word to a pending payment, once. The caller holds its row lock.

    A failed payment can still succeed: Stripe reports a declined card as failed, and the
    customer may then pay the same intent with another card. Money taken is never ignored."""
    if payment.status not in ("pending", "failed") or charge.status == "pending":
        return
    if payment.status == "failed" and charge.status != "succeeded":
        return
    mismatch = charge.amount != payment.amount or charge.currency.upper() != payment.currency
    if charge.status == "succeeded" and mismatch:
        # Paid, but not what this job costs: never treat it as payment for the job.
        charge = ProviderCharge(charge.ref, "failed", charge.amount, charge.currency)
    payment.status = "succeeded" if charge.status in ("succeeded", "refunded") else "failed"
    payment.updated_at = ctx.now()
    ctx.session.add(payment)
    await ctx.session.flush()
    if payment.status != "succeeded":
        return
    job = (
        await ctx.session.execute(
            select(Job).where(col(Job.id) == payment.job_id).with_for_update(key_share=True)
        )
    ).scalar_one()
    if payment.purpose == "delivery":
        await _delivery_paid(ctx, job, payment)
    else:
        await _tip_paid(ctx, job, payment)


async def _delivery_paid(ctx: Ctx, job: Job, payment: Payment) -> None:
    await ledger.post_prepayment(ctx.session, job, payment.amount, at=ctx.now())
    if job.status == JobStatus.AWAITING_PAYMENT and must_move(job, JobStatus.SEARCHING):
        job.payment_status = "paid"
        await record_transition(
            ctx, job, JobStatus.SEARCHING, Step("system", note=f"paid with {payment.provider}")
        )
        await offers.start_dispatch(ctx, job)
        return
    # The order no longer waits for this money: the customer cancelled meanwhile (a late
    # webhook, say), or paid it already through the other provider. It goes straight back,
    # through this payment's provider; the order's own payment is left as it is.
    await ledger.post_prepayment_refund(ctx.session, job, payment.amount, at=ctx.now())
    await _refund(ctx, payment, payment.amount)
    if job.status == JobStatus.CANCELLED:
        job.payment_status = "refunded"
        ctx.session.add(job)
        await ctx.session.flush()


async def _tip_paid(ctx: Ctx, job: Job, payment: Payment) -> None:
    await ledger.post_tip(ctx.session, job, payment.amount, at=ctx.now())
    webhook_events.tip_received(ctx, payment, job.driver_id)


async def refund_delivery(ctx: Ctx, job: Job, amount: int) -> None:
    """Return ``amount`` of a paid delivery through its provider (the ledger entry is the
    caller's: it is part of the cancellation's posting)."""
    query = select(Payment).where(
        col(Payment.job_id) == job.id, col(Payment.purpose) == "delivery", col(Payment.status) == "succeeded"
    )
    payment = (await ctx.session.execute(query.with_for_update())).scalar_one_or_none()
    if payment is None:
        raise DomainError(ErrorCode.PAYMENT_FAILED, "no payment to refund was found for this order")
    await _refund(ctx, payment, amount)
    job.payment_status = "refunded"
    ctx.session.add(job)
    await ctx.session.flush()


async def _refund(ctx: Ctx, payment: Payment, amount: int) -> None:
    """Return ``amount`` of a succeeded payment through its provider (the caller holds its lock)."""
    if payment.provider_ref is None:
        raise DomainError(ErrorCode.PAYMENT_FAILED, "no payment to refund was found for this order")
    try:
        await gateway_for(ctx, payment.provider).refund(
            payment.provider_ref,
            amount=amount,
            currency=payment.currency,
            idempotency_key=f"refund-{payment.id}",
        )
    except ProviderError as exc:
        raise DomainError(ErrorCode.PAYMENT_FAILED, f"the refund failed: {exc}") from exc
    payment.refunded_amount += amount
    if payment.refunded_amount >= payment.amount:
        payment.status = "refunded"
    payment.updated_at = ctx.now()
    ctx.session.add(payment)
    await ctx.session.flush()
    webhook_events.refunded(ctx, payment, amount)


async def handle_webhook(ctx: Ctx, provider: str, body: bytes, headers: Mapping[str, str]) -> str:
    """A provider's event, verified over the raw body and acted on once (by event id)."""
    gateway = ctx.platform.gateways.get(provider)
    if gateway is None:
        raise not_found("webhook")
    try:
        event = await gateway.parse_webhook(body, headers)
    except WebhookRejected as exc:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "the webhook signature does not verify") from exc
    except ProviderError as exc:
        # The provider could not be asked to verify (PayPal's API down): it retries later.
        raise DomainError(ErrorCode.UNAVAILABLE, "the webhook cannot be verified now; retry later") from exc
    try:
        async with ctx.session.begin_nested():
            ctx.session.add(
                ProviderEvent(provider=provider, event_id=event.id, type=event.type, received_at=ctx.now())
            )
            await ctx.session.flush()
    except IntegrityError:
        return "duplicate"
    if event.charge_ref is None or event.status is None:
        return "ignored"
    query = select(Payment).where(
        col(Payment.provider) == provider, col(Payment.provider_ref) == event.charge_ref
    )
    payment = (await ctx.session.execute(query.with_for_update())).scalar_one_or_none()
    if payment is None:
        return "unknown payment"
    if event.status in ("succeeded", "failed"):
        amount = event.amount if event.amount is not None else payment.amount
        currency = (event.currency or payment.currency).upper()
        await settle_payment(ctx, payment, ProviderCharge(event.charge_ref, event.status, amount, currency))
    return "processed"
