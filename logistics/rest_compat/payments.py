from fastapi import APIRouter, Depends

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import payments, ratings, tips
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.shapes.jobs import JobView
from logistics.shapes.money import (
    IntentIn,
    PaymentIdIn,
    PaymentMethodIn,
    PaymentPurpose,
    PaymentStart,
    PaymentView,
    RateIn,
    RatingView,
    StripeConfig,
    TipIn,
    TipResult,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["payments, tips and ratings"])
PAY_ERRORS = errors(
    ErrorCode.NOT_FOUND,
    ErrorCode.PAYMENT_FAILED,
    ErrorCode.INVALID_TRANSITION,
    ErrorCode.IDEMPOTENCY_CONFLICT,
)


@router.get("/stripe/config", response_model=StripeConfig, responses=errors(ErrorCode.NOT_FOUND))
async def stripe_config(ctx: Ctx = Depends(get_ctx)) -> StripeConfig:
    """Stripe's publishable key and the region's currency; `NOT_FOUND` when Stripe is off."""
    return payments.stripe_config(ctx)


def _checkout_routes(provider: str, *, start: str, start_doc: str, confirm: str, confirm_doc: str) -> None:
    """A provider's two checkout paths: ``start`` begins a payment, ``confirm`` asks the
    provider how it went."""

    @router.post(
        f"/{provider}/{start}",
        name=f"{provider}_{start}",
        description=start_doc,
        status_code=201,
        response_model=PaymentStart,
        responses=PAY_ERRORS,
    )
    async def start_payment(
        body: IntentIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
    ) -> PaymentStart:
        return await payments.start_payment(
            ctx,
            body.job_id,
            purpose=body.purpose,
            provider=provider,
            amount=body.amount,
            idempotency_key=idempotency_key,
        )

    @router.post(
        f"/{provider}/{confirm}",
        name=f"{provider}_{confirm}",
        description=confirm_doc,
        response_model=PaymentView,
        responses=PAY_ERRORS,
    )
    async def confirm_payment(body: PaymentIdIn, ctx: Ctx = Depends(get_ctx)) -> PaymentView:
        return payments.payment_view(await payments.confirm_payment(ctx, body.payment_id, provider=provider))


_checkout_routes(
    "stripe",
    start="intent",
    start_doc="A PaymentIntent for a delivery (its price) or a tip (`amount`); answers its client secret.",
    confirm="verify",
    confirm_doc="Ask Stripe whether the payment succeeded; a paid order moves to `searching`.",
)
_checkout_routes(
    "paypal",
    start="create",
    start_doc="A PayPal order (Orders v2) for a delivery or a tip; answers its approval link.",
    confirm="capture",
    confirm_doc="Capture the approved PayPal order; a paid order moves to `searching`.",
)


@router.post(
    "/orders/{job_id}/payment-intent", status_code=201, response_model=PaymentStart, responses=PAY_ERRORS
)
async def payment_intent(
    job_id: str,
    body: PaymentMethodIn,
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = IdempotencyKey,
) -> PaymentStart:
    """Start paying for the order with Stripe or PayPal."""
    return await payments.start_payment(
        ctx,
        job_id,
        purpose=PaymentPurpose.DELIVERY,
        provider=body.method.value,
        idempotency_key=idempotency_key,
    )


@router.post("/orders/{job_id}/complete-payment", response_model=JobView, responses=PAY_ERRORS)
async def complete_payment(job_id: str, body: PaymentIdIn, ctx: Ctx = Depends(get_ctx)) -> JobView:
    """Confirm the payment with its provider; answers the order, now `searching`."""
    return await payments.complete_order_payment(ctx, job_id, body.payment_id)


@router.post(
    "/orders/{job_id}/rate",
    status_code=201,
    response_model=RatingView,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.ALREADY_RATED, ErrorCode.INVALID_TRANSITION),
)
async def rate(job_id: str, body: RateIn, ctx: Ctx = Depends(get_ctx)) -> RatingView:
    """1 to 5 stars for the driver, once, after the job is completed."""
    return await ratings.rate_order(ctx, job_id, body)


@router.post("/orders/{job_id}/tip", status_code=201, response_model=PaymentStart, responses=PAY_ERRORS)
async def tip(
    job_id: str, body: TipIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> PaymentStart:
    """Start a tip for the driver (Stripe or PayPal); all of it goes to the driver."""
    return await tips.tip_order(ctx, job_id, body, idempotency_key=idempotency_key)


@router.post("/orders/{job_id}/tip/complete", response_model=TipResult, responses=PAY_ERRORS)
async def tip_complete(job_id: str, body: PaymentIdIn, ctx: Ctx = Depends(get_ctx)) -> TipResult:
    """Confirm the tip; the driver's balance gets it exactly once, however often this is called."""
    return await tips.complete_tip(ctx, job_id, body.payment_id)
