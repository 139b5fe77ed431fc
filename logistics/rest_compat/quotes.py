from fastapi import APIRouter, Depends

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import quotes
from logistics.rest_compat.base import UnitOfWorkRoute, errors, get_ctx
from logistics.shapes.quotes import QuoteIn, QuoteView

router = APIRouter(route_class=UnitOfWorkRoute, tags=["quotes"])


@router.post("/quote", status_code=201, response_model=QuoteView, responses=errors(ErrorCode.ADDRESS_INVALID))
async def post_quote(body: QuoteIn, ctx: Ctx = Depends(get_ctx)) -> QuoteView:
    """Price a trip. Outside the service area: `ADDRESS_INVALID`."""
    return await quotes.create_quote(ctx, body)


@router.post(
    "/quote/validated", status_code=201, response_model=QuoteView, responses=errors(ErrorCode.ADDRESS_INVALID)
)
async def post_validated_quote(body: QuoteIn, ctx: Ctx = Depends(get_ctx)) -> QuoteView:
    """Price a trip after stricter address checks (postcode format, country, service area,
    pickup and dropoff apart). Failing checks: 422 `ADDRESS_INVALID` with `details.checks`."""
    return await quotes.create_quote(ctx, body, validated=True)
