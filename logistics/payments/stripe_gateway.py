"""Stripe through the official SDK, asynchronously over its HTTPX client.

A charge is a PaymentIntent the app confirms with its client secret; the platform keeps the
intent id as the charge's ``ref``. Amounts are the platform's minor units, which is what
Stripe expects too (zero-decimal currencies such as JPY included). ``api_base`` points the
SDK at another server (tests use a local fake); nothing else differs there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import stripe

from logistics.payments.gateway import (
    ChargeStatus,
    PayoutResult,
    ProviderCharge,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
)
from logistics.payments.stripe_events import reduce_event

T = TypeVar("T")

# Retries reuse the request's idempotency key, so a retried create never charges twice.
MAX_NETWORK_RETRIES = 2
TIMEOUT_S = 30.0

_INTENT_STATUS: dict[str, ChargeStatus] = {
    "requires_payment_method": "pending",
    "requires_confirmation": "pending",
    "requires_action": "pending",
    "requires_capture": "pending",
    "processing": "pending",
    "succeeded": "succeeded",
    "canceled": "failed",
}


def intent_status(status: str) -> ChargeStatus:
    """A PaymentIntent's status as the platform's charge status."""
    return _INTENT_STATUS.get(status, "pending")


def _client(
    secret_key: str, api_base: str | None, max_network_retries: int
) -> tuple[stripe.StripeClient, stripe.HTTPXClient]:
    http_client = stripe.HTTPXClient(timeout=TIMEOUT_S)
    client = stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        http_client=http_client,
        max_network_retries=max_network_retries,
    )
    return client, http_client


def _provider_error(exc: stripe.StripeError) -> ProviderError:
    """A message safe to show: Stripe's own user-facing text for card errors, otherwise only
    the error's kind and code (other messages can echo request details)."""
    if isinstance(exc, stripe.CardError) and exc.user_message:
        return ProviderError(f"stripe: {exc.user_message}")
    if isinstance(exc, stripe.APIConnectionError):
        return ProviderError("stripe: the payment provider could not be reached")
    kind = type(exc).__name__
    return ProviderError(f"stripe: {kind}" + (f" ({exc.code})" if exc.code else ""))


async def _request(request: Awaitable[T]) -> T:
    """Await a call to Stripe; what Stripe raises becomes a ProviderError safe to show."""
    try:
        return await request
    except stripe.StripeError as exc:
        raise _provider_error(exc) from exc


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None


class StripeGateway:
    """PaymentGateway over Stripe PaymentIntents."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str | None,
        api_base: str | None = None,
        *,
        max_network_retries: int = MAX_NETWORK_RETRIES,
    ) -> None:
        self._client, self._http = _client(secret_key, api_base, max_network_retries)
        self._webhook_secret = webhook_secret

    async def aclose(self) -> None:
        await self._http.close_async()

    def _charge(self, intent: stripe.PaymentIntent) -> ProviderCharge:
        return ProviderCharge(
            ref=intent.id,
            status=intent_status(intent.status),
            amount=intent.amount,
            currency=intent.currency.upper(),
            client_secret=intent.client_secret,
        )

    async def create_charge(
        self, *, amount: int, currency: str, reference: str, description: str, idempotency_key: str
    ) -> ProviderCharge:
        intent = await _request(
            self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "description": description,
                    "metadata": {"payment_id": reference},
                    "automatic_payment_methods": {"enabled": True},
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return self._charge(intent)

    async def confirm_charge(self, ref: str) -> ProviderCharge:
        """Stripe confirms on the client; here the intent is read back as Stripe sees it."""
        return self._charge(await _request(self._client.v1.payment_intents.retrieve_async(ref)))

    async def refund(self, ref: str, *, amount: int, currency: str, idempotency_key: str) -> str:
        refund = await _request(
            self._client.v1.refunds.create_async(
                {"payment_intent": ref, "amount": amount}, {"idempotency_key": idempotency_key}
            )
        )
        return refund.id

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify ``Stripe-Signature`` over the raw body, then reduce the event.

        ``payment_intent.succeeded`` / ``payment_intent.payment_failed``: the intent's status
        and amount. ``charge.refunded``: ``refunded`` once the charge is refunded in full
        (``succeeded`` while only partly), with ``amount`` the total refunded so far. Other
        types come back with no charge and no status."""
        if not self._webhook_secret:
            raise WebhookRejected("stripe webhooks are not configured")
        try:
            event = stripe.Webhook.construct_event(
                body, _header(headers, "stripe-signature"), self._webhook_secret
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected("stripe signature does not verify") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("stripe webhook body is not a JSON event") from exc
        raw = event.to_dict()
        obj = raw.get("data", {}).get("object")
        if not isinstance(obj, dict):
            raise WebhookRejected("stripe event has no data.object")
        return reduce_event(raw, obj)


class StripeConnectPayouts:
    """PayoutGateway: a transfer to the driver's Stripe connected account
    (``destination["stripe_account"]``, an ``acct_...`` id). A transfer lands in the connected
    account's balance at once, so a created transfer is ``paid``."""

    name = "stripe"

    def __init__(
        self, secret_key: str, api_base: str | None = None, *, max_network_retries: int = MAX_NETWORK_RETRIES
    ) -> None:
        self._client, self._http = _client(secret_key, api_base, max_network_retries)

    async def aclose(self) -> None:
        await self._http.close_async()

    async def send(
        self, *, payout_id: str, amount: int, currency: str, destination: dict[str, Any]
    ) -> PayoutResult:
        account = destination.get("stripe_account")
        if not isinstance(account, str) or not account:
            raise ProviderError("stripe: the payout method has no connected Stripe account")
        transfer = await _request(
            self._client.v1.transfers.create_async(
                {
                    "amount": amount,
                    "currency": currency.lower(),
                    "destination": account,
                    "metadata": {"payout_id": payout_id},
                    "transfer_group": f"payout-{payout_id}",
                },
                {"idempotency_key": f"payout-{payout_id}"},
            )
        )
        return PayoutResult(ref=transfer.id, status="paid")
