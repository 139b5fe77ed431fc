"""The payments sandbox: a stand-in for Stripe in development, in the spirit of Stripe's test mode.

The API's card method is ``stripe``; with no Stripe key set, the sandbox serves that method, so
a client written to the API books, pays, tips and is refunded exactly as it would with Stripe.
Where Stripe.js would confirm a PaymentIntent in the customer's browser, the customer confirms
the sandbox's charge with a test card number (``POST /sandbox/payments/{id}/confirm``). The
sandbox records the outcome and then, as Stripe does, tells the platform in a signed webhook to
the platform's own ``/webhooks/stripe``: Stripe's event shapes, signed ``t=<unix time>,v1=<hex
HMAC-SHA256 of "t.body">`` in a ``Sandbox-Signature`` header with the sandbox's own secret.

Nothing here opens a socket: webhooks go through a sender the app attaches (an in-process call
to itself). Charges live in this process's memory, so the server runs one worker with the
sandbox on, and a restart forgets them: a forgotten charge reads as failed, which makes the
customer's next attempt start a fresh one instead of waiting on a charge nobody can pay.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from logistics.payments.gateway import (
    ChargeStatus,
    PayoutResult,
    ProviderCharge,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
)
from logistics.payments.stripe_events import reduce_event

# The API method the sandbox serves, and so the key of ``platform.gateways`` and the webhook
# path (``/webhooks/stripe``) it reports to.
SANDBOX_METHOD = "stripe"
SIGNATURE_HEADER = "Sandbox-Signature"
# As Stripe's libraries do: an event signed longer ago than this is refused as a replay.
TOLERANCE_S = 300
# Pauses before the second and third delivery of an event the app could not take (a 5xx or
# an exception); a 4xx is the app's considered answer and is not retried.
RETRY_DELAYS_S = (0.5, 2.0)
# How long shutting down waits for events still being delivered.
DRAIN_TIMEOUT_S = 5.0

log = logging.getLogger("logistics.sandbox")


@dataclass(frozen=True)
class SandboxCard:
    brand: str
    decline_code: str | None = None
    message: str | None = None


# Stripe's documented test numbers, so what a developer already knows works here too.
TEST_CARDS: dict[str, SandboxCard] = {
    "4242424242424242": SandboxCard("visa"),
    "4000000000000002": SandboxCard("visa", "generic_decline", "Your card was declined."),
    "4000000000009995": SandboxCard("visa", "insufficient_funds", "Your card has insufficient funds."),
}


class UnknownTestCard(ValueError):
    """Not one of the test cards. Any other number is refused, never charged: the sandbox
    takes no real card, and never keeps a number (only its brand and last four digits)."""


def card_for(number: str) -> tuple[str, SandboxCard]:
    """(last four digits, the test card) for a number written with or without spaces."""
    digits = "".join(number.split()).replace("-", "")
    card = TEST_CARDS.get(digits)
    if card is None:
        raise UnknownTestCard("the payments sandbox takes only its test card numbers")
    return digits[-4:], card


@dataclass
class SandboxCharge:
    """A charge as the sandbox, playing the provider, sees it."""

    ref: str
    reference: str
    amount: int
    currency: str
    client_secret: str
    status: ChargeStatus = "pending"
    brand: str | None = None
    last4: str | None = None
    decline_code: str | None = None
    message: str | None = None
    refunded: int = 0
    # Refund id by idempotency key: a retried refund is the same refund, as at Stripe.
    refunds: dict[str, str] = field(default_factory=dict)
    # The latest event about the charge; confirming again delivers it again, with its id.
    event: dict[str, Any] | None = None


Sender = Callable[[bytes, dict[str, str]], Awaitable[int]]


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The ``Sandbox-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(body: bytes, header: str | None, secret: str, now: float) -> None:
    """WebhookRejected unless ``header`` signs ``body`` with ``secret``, recently enough."""
    pairs = [item.split("=", 1) for item in (header or "").split(",") if "=" in item]
    stamps = [value for key, value in pairs if key.strip() == "t"]
    signed = [value for key, value in pairs if key.strip() == "v1"]
    if not stamps or not signed or not stamps[0].strip().isdigit():
        raise WebhookRejected("the sandbox signature is missing or malformed")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > TOLERANCE_S:
        raise WebhookRejected("the sandbox signature is too old")
    expected = signature(body, secret, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, value.strip()) for value in signed):
        raise WebhookRejected("the sandbox signature does not verify")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


class SandboxGateway:
    """PaymentGateway that takes test cards and pays out of nothing; development only."""

    name = "sandbox"

    def __init__(self, webhook_secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self._secret = webhook_secret
        self._clock = clock
        self.charges: dict[str, SandboxCharge] = {}
        self._by_key: dict[str, str] = {}
        self._sender: Sender | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    def attach(self, sender: Sender) -> None:
        """Where events go: the app attaches a sender that posts to its own webhook path."""
        self._sender = sender

    @staticmethod
    def _charge(charge: SandboxCharge) -> ProviderCharge:
        return ProviderCharge(
            ref=charge.ref,
            status=charge.status,
            amount=charge.amount,
            currency=charge.currency,
            client_secret=charge.client_secret,
        )

    async def create_charge(
        self, *, amount: int, currency: str, reference: str, description: str, idempotency_key: str
    ) -> ProviderCharge:
        ref = self._by_key.get(idempotency_key)
        if ref is None:
            ref = f"sbx_pi_{secrets.token_hex(12)}"
            self.charges[ref] = SandboxCharge(
                ref=ref,
                reference=reference,
                amount=amount,
                currency=currency.upper(),
                client_secret=f"{ref}_secret_{secrets.token_hex(12)}",
            )
            self._by_key[idempotency_key] = ref
        return self._charge(self.charges[ref])

    async def confirm_charge(self, ref: str) -> ProviderCharge:
        """The outcome recorded when the customer confirmed (pending until then)."""
        charge = self.charges.get(ref)
        if charge is None:
            # Forgotten in a restart: it can never be paid, so it is failed (see the module).
            return ProviderCharge(ref=ref, status="failed", amount=0, currency="")
        return self._charge(charge)

    def pay(self, ref: str, card_number: str) -> SandboxCharge:
        """The customer confirms the charge with a test card, and the outcome is recorded.

        A succeeded charge is final: confirming it again, with any card, answers the same. A
        declined one may be tried again with another card, as Stripe allows."""
        last4, card = card_for(card_number)
        charge = self.charges.get(ref)
        if charge is None:
            raise ProviderError(
                "the sandbox does not know this charge (it forgets its charges when the server "
                "restarts): start the payment again"
            )
        if charge.status in ("succeeded", "refunded"):
            return charge
        charge.brand, charge.last4 = card.brand, last4
        charge.decline_code, charge.message = card.decline_code, card.message
        charge.status = "failed" if card.decline_code else "succeeded"
        charge.event = self._event(charge)
        return charge

    def _event(self, charge: SandboxCharge) -> dict[str, Any]:
        """A Stripe ``payment_intent.*`` event, so that it reduces as Stripe's do."""
        succeeded = charge.status == "succeeded"
        intent = {
            "id": charge.ref,
            "object": "payment_intent",
            "amount": charge.amount,
            "amount_received": charge.amount if succeeded else 0,
            "currency": charge.currency.lower(),
            "status": "succeeded" if succeeded else "requires_payment_method",
            "metadata": {"payment_id": charge.reference},
            "last_payment_error": None
            if succeeded
            else {"code": "card_declined", "decline_code": charge.decline_code, "message": charge.message},
        }
        return {
            "id": f"evt_sbx_{secrets.token_hex(12)}",
            "object": "event",
            "type": "payment_intent.succeeded" if succeeded else "payment_intent.payment_failed",
            "created": int(self._clock()),
            "livemode": False,
            "data": {"object": intent},
        }

    def announce(self, ref: str) -> None:
        """Deliver the charge's latest event in a task of its own, so the request that
        confirmed it has answered first. Delivered again, an event keeps its id, and the
        platform acts on it once."""
        charge = self.charges.get(ref)
        if charge is None or charge.event is None:
            return
        if self._sender is None:
            log.warning("payments sandbox: no webhook sender attached; event %s not sent", charge.event["id"])
            return
        task = asyncio.create_task(self._deliver(self._sender, charge.event))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, sender: Sender, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        for delay in (0.0, *RETRY_DELAYS_S):
            if delay:
                await asyncio.sleep(delay)
            # Signed at each attempt, as Stripe does, so a retry is never a stale signature.
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(body, self._secret, int(self._clock())),
            }
            try:
                status = await sender(body, headers)
            except Exception:  # the app failed to take it: try again, as a provider would
                log.exception("payments sandbox: delivering event %s failed", event["id"])
                continue
            if status < 500:
                if status >= 400:
                    log.warning("payments sandbox: the app refused event %s (%s)", event["id"], status)
                return
        log.warning("payments sandbox: gave up delivering event %s", event["id"])

    async def drain(self) -> None:
        """Wait for the events being delivered now."""
        while pending := [task for task in self._deliveries if not task.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Let deliveries in flight finish for a moment, then stop the rest: the client's own
        verify and complete-payment paths still reach the same state."""
        try:
            await asyncio.wait_for(self.drain(), DRAIN_TIMEOUT_S)
        except TimeoutError:
            for task in list(self._deliveries):
                task.cancel()
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def refund(self, ref: str, *, amount: int, currency: str, idempotency_key: str) -> str:
        charge = self.charges.get(ref)
        if charge is None or charge.status not in ("succeeded", "refunded"):
            raise ProviderError("sandbox: only a succeeded charge can be refunded")
        if idempotency_key in charge.refunds:
            return charge.refunds[idempotency_key]
        if currency.upper() != charge.currency or not 0 < amount <= charge.amount - charge.refunded:
            raise ProviderError("sandbox: the refund is more than is left of the charge")
        refund_id = f"sbx_re_{secrets.token_hex(12)}"
        charge.refunds[idempotency_key] = refund_id
        charge.refunded += amount
        if charge.refunded == charge.amount:
            charge.status = "refunded"
        return refund_id

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify ``Sandbox-Signature`` over the raw body, then reduce the event as Stripe's."""
        verify_signature(body, _header(headers, SIGNATURE_HEADER), self._secret, self._clock())
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookRejected("the sandbox webhook body is not a JSON event") from exc
        data = raw.get("data") if isinstance(raw, dict) else None
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise WebhookRejected("the sandbox event has no data.object")
        return reduce_event(raw, obj)


class SandboxPayouts:
    """PayoutGateway whose payouts arrive at once, as a Stripe test-mode transfer does, so card
    earnings are paid out without an ops step. Nothing leaves the process."""

    name = "sandbox"

    async def send(
        self, *, payout_id: str, amount: int, currency: str, destination: dict[str, Any]
    ) -> PayoutResult:
        return PayoutResult(ref=f"sbx_po_{payout_id}", status="paid")
