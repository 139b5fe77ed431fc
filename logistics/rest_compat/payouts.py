from fastapi import APIRouter, Depends, Response

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import earnings, payouts
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates
from logistics.shapes import money as shape

router = APIRouter(route_class=UnitOfWorkRoute, tags=["driver payouts and payment history"])


@router.get("/payout-methods", response_model=shape.PayoutMethodPage, responses=errors(ErrorCode.FORBIDDEN))
async def list_methods(
    ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.PayoutMethodPage:
    """The driver's payout methods; only `last4` and a label, never account numbers."""
    return await payouts.list_payout_methods(ctx, limit=limit, cursor=cursor)


@creates(router, "/payout-methods", shape.PayoutMethodView, ErrorCode.FORBIDDEN)
async def add_method(
    body: shape.PayoutMethodIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> shape.PayoutMethodView:
    """Add a bank account (IBAN checked), a debit card (provider token) or a PayPal email."""
    return await payouts.add_payout_method(ctx, body, idempotency_key=idempotency_key)


@router.put(
    "/payout-methods/{method_id}",
    response_model=shape.PayoutMethodView,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
async def update_method(
    method_id: str, body: shape.PayoutMethodUpdate, ctx: Ctx = Depends(get_ctx)
) -> shape.PayoutMethodView:
    """Rename a payout method (new details need a new method)."""
    return await payouts.update_payout_method(ctx, method_id, body)


@router.delete(
    "/payout-methods/{method_id}",
    status_code=204,
    response_class=Response,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.INVALID_TRANSITION),
)
async def delete_method(method_id: str, ctx: Ctx = Depends(get_ctx)) -> Response:
    """Remove a payout method; refused while a payout to it is pending."""
    await payouts.delete_payout_method(ctx, method_id)
    return Response(status_code=204)


@router.put(
    "/payout-methods/{method_id}/default",
    response_model=shape.PayoutMethodView,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
async def default_method(method_id: str, ctx: Ctx = Depends(get_ctx)) -> shape.PayoutMethodView:
    """Make this the method payouts go to by default."""
    return await payouts.set_default_payout_method(ctx, method_id)


@router.get("/payouts", response_model=shape.PayoutPage, responses=errors(ErrorCode.FORBIDDEN))
async def list_payouts(
    ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.PayoutPage:
    """The driver's payouts, newest first."""
    return await payouts.list_payouts(ctx, limit=limit, cursor=cursor)


@creates(
    router,
    "/payouts/request",
    shape.PayoutView,
    ErrorCode.FORBIDDEN,
    ErrorCode.NOT_FOUND,
    ErrorCode.INSUFFICIENT_BALANCE,
)
async def request_payout(
    body: shape.PayoutRequestIn | None = None,
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = IdempotencyKey,
) -> shape.PayoutView:
    """Pay out `amount` (default: the whole balance) to `method_id` (default: the default)."""
    return await payouts.request_payout(ctx, body or shape.PayoutRequestIn(), idempotency_key=idempotency_key)


@router.get("/payments", response_model=shape.PaymentHistory, responses=errors(ErrorCode.FORBIDDEN))
async def payment_history(
    ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.PaymentHistory:
    """Earnings, tips, fees, payouts and the commission on cash jobs, newest first, with totals:
    the balance (below zero while the driver owes commission), cash collected, cash commission."""
    return await earnings.earnings_history(ctx, limit=limit, cursor=cursor)


@router.get(
    "/payments/{job_id}",
    response_model=shape.PaymentHistory,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
async def job_payments(
    job_id: str, ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.PaymentHistory:
    """One job's lines for its driver."""
    return await earnings.job_earnings(ctx, job_id, limit=limit, cursor=cursor)
