"""The payment and payout providers the settings configure."""

from __future__ import annotations

from logistics.config import Settings
from logistics.payments.gateway import ManualPayouts, PaymentGateway, PayoutGateway
from logistics.payments.sandbox_gateway import SANDBOX_METHOD, SandboxGateway, SandboxPayouts

# Each provider's SDK is imported only when its credentials are set: Stripe's alone is about
# 24 MB in every worker.


def build_payment_gateways(settings: Settings) -> dict[str, PaymentGateway]:
    """The card/wallet providers with credentials, by name: ``stripe`` when a secret key is
    set (or the payments sandbox in its place), ``paypal`` when a client id and secret are.
    Cash needs no gateway."""
    gateways: dict[str, PaymentGateway] = {}
    if settings.payments_sandbox:
        if settings.stripe_secret_key:
            # Both would answer for the one card method: say so rather than pick one silently.
            raise RuntimeError(
                "LOGISTICS_PAYMENTS_SANDBOX stands in for Stripe: unset LOGISTICS_STRIPE_SECRET_KEY "
                "or turn the sandbox off"
            )
        gateways[SANDBOX_METHOD] = SandboxGateway(settings.payments_sandbox_webhook_secret)
    if settings.stripe_secret_key:
        from logistics.payments.stripe_gateway import StripeGateway

        gateways["stripe"] = StripeGateway(
            settings.stripe_secret_key,
            settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    if settings.paypal_client_id and settings.paypal_client_secret:
        from logistics.payments.paypal_gateway import PaypalGateway

        gateways["paypal"] = PaypalGateway(
            settings.paypal_client_id,
            settings.paypal_client_secret,
            settings.paypal_environment,
            settings.paypal_webhook_id,
            base_url=settings.paypal_base_url,
        )
    return gateways


def build_payout_gateway(settings: Settings) -> PayoutGateway:
    """Manual payouts unless the provider is ``stripe`` (Connect transfers) or ``sandbox``
    (paid at once; the default while the payments sandbox is on)."""
    provider = settings.payout_provider_name
    if provider == "stripe":
        if not settings.stripe_secret_key:
            raise RuntimeError("LOGISTICS_PAYOUT_PROVIDER=stripe needs LOGISTICS_STRIPE_SECRET_KEY")
        from logistics.payments.stripe_gateway import StripeConnectPayouts

        return StripeConnectPayouts(settings.stripe_secret_key, api_base=settings.stripe_api_base)
    if provider == "sandbox":
        return SandboxPayouts()
    return ManualPayouts()
