"""The payments sandbox's one path, and how its webhooks reach this app: mounted only while
``LOGISTICS_PAYMENTS_SANDBOX`` is on (development; production refuses to start with it)."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, FastAPI

from logistics.errors import ErrorCode
from logistics.payments.sandbox_gateway import SANDBOX_METHOD, SandboxGateway
from logistics.platform import Ctx, Platform
from logistics.resolvers import sandbox
from logistics.rest_compat.base import UnitOfWorkRoute, errors, get_ctx
from logistics.shapes.money import SandboxCardIn, SandboxChargeView

router = APIRouter(route_class=UnitOfWorkRoute, tags=["payments sandbox (development only)"])


@router.post(
    "/sandbox/payments/{payment_id}/confirm",
    response_model=SandboxChargeView,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.PAYMENT_FAILED),
)
async def confirm(payment_id: str, body: SandboxCardIn, ctx: Ctx = Depends(get_ctx)) -> SandboxChargeView:
    """Pay one of your pending card payments (a delivery or a tip) with a test card, as
    Stripe.js would confirm it: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is
    declined (`decline_code` `generic_decline`), `4000 0000 0000 9995` has insufficient funds.
    A declined card answers 200 with `status` `failed`; verify and complete-payment then answer
    `PAYMENT_FAILED`, and another card may be tried. Right after answering, the sandbox sends
    its signed webhook to `/webhooks/stripe`, which moves the order to `searching` (or
    credits the tip). Confirming again answers the same outcome. Another customer's payment,
    or one not made through the sandbox, is `NOT_FOUND`; a number that is not a test card is
    `VALIDATION_FAILED`; a charge the sandbox forgot in a restart is `PAYMENT_FAILED`."""
    return await sandbox.confirm_card(ctx, payment_id, body)


def install(app: FastAPI, platform: Platform, prefix: str) -> None:
    """Mount the confirm path and point the sandbox's webhooks at this app's own webhook
    path, called in-process: no socket, and no need to know the address it is served on."""
    app.include_router(router, prefix=prefix)
    gateway = platform.gateways.get(SANDBOX_METHOD)
    if not isinstance(gateway, SandboxGateway):
        return
    path = f"/webhooks/{SANDBOX_METHOD}"

    async def send(body: bytes, headers: dict[str, str]) -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.internal") as client:
            return (await client.post(path, content=body, headers=headers)).status_code

    gateway.attach(send)
