"""Provider webhooks: no JWT; the provider's signature over the raw body is the credential."""

from fastapi import APIRouter, Request

from logistics.auth import Principal
from logistics.errors import ErrorCode
from logistics.platform import Ctx, Platform
from logistics.resolvers import payments
from logistics.rest_compat.base import UnitOfWorkRoute, errors

router = APIRouter(route_class=UnitOfWorkRoute, tags=["provider webhooks"])
PROVIDER = Principal(sub="system:webhook", roles=frozenset({"system"}))


async def _receive(request: Request, provider: str) -> dict[str, str]:
    platform: Platform = request.app.state.platform
    body = await request.body()
    ctx = Ctx(uow=await request.state.transaction.begin(), principal=PROVIDER, platform=platform)
    outcome = await payments.handle_webhook(ctx, provider, body, request.headers)
    return {"status": outcome}


@router.post("/webhooks/stripe", responses=errors(ErrorCode.NOT_FOUND))
async def stripe_webhook(request: Request) -> dict[str, str]:
    """Stripe events, verified with the endpoint's signing secret; each event acts once."""
    return await _receive(request, "stripe")


@router.post("/webhooks/paypal", responses=errors(ErrorCode.NOT_FOUND))
async def paypal_webhook(request: Request) -> dict[str, str]:
    """PayPal events, verified through PayPal's verify-webhook-signature; each acts once."""
    return await _receive(request, "paypal")
