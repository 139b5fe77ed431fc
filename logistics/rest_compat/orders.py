from fastapi import APIRouter, Depends

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import order_tracking, orders
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates
from logistics.shapes.jobs import JobPage, JobStatus, JobView, TrackView
from logistics.shapes.orders import CancelIn, OrderIn, OrderUpdateIn

router = APIRouter(route_class=UnitOfWorkRoute, tags=["orders"])


@creates(router, "/orders", JobView, ErrorCode.NOT_FOUND, ErrorCode.QUOTE_EXPIRED)
async def post_order(
    body: OrderIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> JobView:
    """Book a delivery from a quote, at the quote's price. Cash orders go to `searching`."""
    return await orders.create_order(ctx, body, idempotency_key=idempotency_key)


@router.get("/orders", response_model=JobPage, responses=errors())
async def get_orders(
    ctx: Ctx = Depends(get_ctx),
    status: JobStatus | None = None,
    limit: int = LIMIT,
    cursor: str | None = None,
) -> JobPage:
    """The caller's orders, newest first."""
    return await orders.list_orders(ctx, status=status, limit=limit, cursor=cursor)


@router.get("/orders/{job_id}/track", response_model=TrackView, responses=errors(ErrorCode.NOT_FOUND))
async def track(job_id: str, ctx: Ctx = Depends(get_ctx)) -> TrackView:
    """Status, ETA, the driver's last position (with `stale`) and the timeline."""
    return await order_tracking.track_order(ctx, job_id)


@router.put(
    "/orders/{job_id}/cancel",
    response_model=JobView,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.INVALID_TRANSITION),
)
async def cancel(job_id: str, body: CancelIn | None = None, ctx: Ctx = Depends(get_ctx)) -> JobView:
    """Cancel: free while searching, a fee once a driver accepted, refused after pickup."""
    return await orders.cancel_order(ctx, job_id, body or CancelIn())


@router.put(
    "/orders/{job_id}",
    response_model=JobView,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.INVALID_TRANSITION),
)
async def update(job_id: str, body: OrderUpdateIn, ctx: Ctx = Depends(get_ctx)) -> JobView:
    """Change notes, time, contacts or instructions; a new address needs a new quote."""
    return await orders.update_order(ctx, job_id, body)
