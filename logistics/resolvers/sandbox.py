"""The payments sandbox's confirm step: the customer pays a pending charge with a test card.

It stands where Stripe.js confirms a PaymentIntent in the customer's browser, on the
provider's side: it changes nothing in the platform's tables. The sandbox records the outcome
and, once this request has committed, tells the platform by its signed webhook; the order and
the ledger move only then, through ``payments.handle_webhook`` (or when the client verifies
through the usual paths), exactly as with Stripe.
"""

from __future__ import annotations

from logistics.errors import DomainError, ErrorCode, not_found, validation_failed
from logistics.job.access import owned
from logistics.models import Payment
from logistics.payments.gateway import ProviderError
from logistics.payments.sandbox_gateway import SandboxGateway, UnknownTestCard
from logistics.platform import Ctx
from logistics.resolvers.views import money
from logistics.shapes.money import SandboxCardIn, SandboxCardView, SandboxChargeView

TEST_CARDS_HINT = "4242 4242 4242 4242, 4000 0000 0000 0002 or 4000 0000 0000 9995"


async def confirm_card(ctx: Ctx, payment_id: str, data: SandboxCardIn) -> SandboxChargeView:
    """Pay the caller's payment with a test card. Naturally idempotent: a succeeded charge
    answers the same however often it is confirmed, and its event keeps its id."""
    payment = await owned(ctx, Payment, payment_id, owner="customer_id", what="payment")
    gateway = ctx.platform.gateways.get(payment.provider)
    if not isinstance(gateway, SandboxGateway) or payment.provider_ref is None:
        # A PayPal payment, say: the sandbox has no charge of it to confirm.
        raise not_found("payment")
    ref = payment.provider_ref
    try:
        charge = gateway.pay(ref, data.card_number)
    except UnknownTestCard as exc:
        raise validation_failed(str(exc), card_number=f"a test card: {TEST_CARDS_HINT}") from exc
    except ProviderError as exc:
        raise DomainError(ErrorCode.PAYMENT_FAILED, str(exc)) from exc

    async def announce() -> None:
        gateway.announce(ref)

    ctx.uow.after_commit(announce)
    card = SandboxCardView(brand=charge.brand, last4=charge.last4) if charge.brand and charge.last4 else None
    return SandboxChargeView.model_validate(
        {
            "payment_id": payment.id,
            "provider_ref": ref,
            "status": charge.status,
            "amount": money(charge.amount, charge.currency),
            "card": card,
            "decline_code": charge.decline_code,
            "message": charge.message,
        }
    )
