"""The protocols every payment and payout provider implements, and the cash provider.

The domain (logistics.resolvers.payments) speaks only these protocols: which provider a
payment went through is data on its row, never a branch in a use case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ChargeStatus = Literal["pending", "succeeded", "failed", "refunded"]


class ProviderError(Exception):
    """The provider refused or failed; the message is safe to show (no secrets, no traces)."""


class WebhookRejected(Exception):
    """A webhook whose signature or shape does not verify."""


@dataclass(frozen=True)
class ProviderCharge:
    ref: str
    status: ChargeStatus
    amount: int
    currency: str
    client_secret: str | None = None
    approve_url: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A provider event reduced to what the platform acts on."""

    id: str
    type: str
    charge_ref: str | None
    status: ChargeStatus | None
    amount: int | None = None
    currency: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    name: str

    async def create_charge(
        self, *, amount: int, currency: str, reference: str, description: str, idempotency_key: str
    ) -> ProviderCharge:
        """Start a charge the customer completes in the app (Stripe: a PaymentIntent and its
        client secret; PayPal: an order and its approval link)."""
        ...

    async def confirm_charge(self, ref: str) -> ProviderCharge:
        """The charge as the provider sees it now (PayPal: captured here). Safe to repeat."""
        ...

    async def refund(self, ref: str, *, amount: int, currency: str, idempotency_key: str) -> str:
        """Refund part or all of a succeeded charge; the provider's refund id."""
        ...

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the signature over the raw body and reduce the event; WebhookRejected if not."""
        ...


@dataclass(frozen=True)
class PayoutResult:
    ref: str | None
    status: Literal["pending", "paid", "failed"]
    failure_reason: str | None = None


class PayoutGateway(Protocol):
    name: str

    async def send(
        self, *, payout_id: str, amount: int, currency: str, destination: dict[str, Any]
    ) -> PayoutResult: ...


class ManualPayouts:
    """Payouts that ops pay by hand and mark paid or failed (the default)."""

    name = "manual"

    async def send(
        self, *, payout_id: str, amount: int, currency: str, destination: dict[str, Any]
    ) -> PayoutResult:
        return PayoutResult(ref=None, status="pending")
