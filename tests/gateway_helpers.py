"""Charges made through the Stripe and PayPal adapters, shared by the gateway tests."""

from __future__ import annotations

from logistics.payments.paypal_gateway import PaypalGateway
from logistics.payments.stripe_gateway import StripeGateway


async def stripe_charge(gateway: StripeGateway, amount: int = 1999, currency: str = "EUR") -> str:
    charge = await gateway.create_charge(
        amount=amount,
        currency=currency,
        reference="pay_1",
        description="Delivery",
        idempotency_key="k-create",
    )
    return charge.ref


async def paypal_order(gateway: PaypalGateway, amount: int = 1999, currency: str = "EUR") -> str:
    charge = await gateway.create_charge(
        amount=amount,
        currency=currency,
        reference="pay_7",
        description="Delivery",
        idempotency_key="pp-create",
    )
    return charge.ref
