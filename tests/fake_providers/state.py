"""What the fake providers hold and how a test steers them, shared by the Stripe and PayPal fakes."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
from starlette.requests import Request

STRIPE_SECRET_KEY = "sk_test_fake_providers"
STRIPE_WEBHOOK_SECRET = "whsec_fake_providers"
PAYPAL_CLIENT_ID = "fake-paypal-client-id"
PAYPAL_CLIENT_SECRET = "fake-paypal-client-secret"
PAYPAL_WEBHOOK_ID = "WH-FAKE-0001"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(prefix: str, n: int = 12) -> str:
    return f"{prefix}{secrets.token_hex(n)}"


def _paypal_id() -> str:
    return secrets.token_hex(9).upper()[:17]


def _canonical(event: Any) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProviders:
    """The fakes' state: what was created (``intents``, ``stripe_refunds``, ``transfers``,
    ``orders``, ``captures``, ``paypal_refunds``), every request received (``requests``), and
    the steering a test needs: ``pay_intent`` / ``fail_intent`` (the customer paid or the card
    failed), ``approve_order`` (the buyer approved at the approval link, which the fake also
    serves), ``fail_next`` (the provider refuses the next call).

    ``stripe_event`` and ``paypal_event`` build webhook events about an intent or order as it
    now is; ``paypal_signed`` signs one the way the fake's verify-webhook-signature checks it.
    """

    url: str = ""
    stripe_secret_key: str = STRIPE_SECRET_KEY
    stripe_webhook_secret: str = STRIPE_WEBHOOK_SECRET
    paypal_client_id: str = PAYPAL_CLIENT_ID
    paypal_client_secret: str = PAYPAL_CLIENT_SECRET
    paypal_webhook_id: str = PAYPAL_WEBHOOK_ID
    paypal_signing_key: bytes = b"fake-paypal-transmission-key"

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    stripe_refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    paypal_refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    paypal_tokens: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)

    _replays: dict[tuple[str, str], tuple[str, int, Any]] = field(default_factory=dict)
    _failures: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def reset(self) -> None:
        with self._lock:
            for store in (
                self.intents,
                self.stripe_refunds,
                self.transfers,
                self.orders,
                self.captures,
                self.paypal_refunds,
                self.paypal_tokens,
                self._replays,
                self._failures,
            ):
                store.clear()
            self.requests.clear()

    # -- steering ---------------------------------------------------------------------------

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        ]

    def fail_next(
        self, provider: str, *, status: int | None = None, code: str | None = None, message: str | None = None
    ) -> None:
        """The next call to ``provider`` (``stripe`` or ``paypal``; token requests excepted)
        is refused: Stripe a declined card (402) unless told otherwise, PayPal a 422."""
        with self._lock:
            body: dict[str, Any]
            if provider == "stripe":
                body = {
                    "error": {
                        "type": "card_error" if (status or 402) == 402 else "api_error",
                        "code": code or "card_declined",
                        "decline_code": "generic_decline",
                        "message": message or "Your card was declined.",
                    }
                }
                self._failures.setdefault("stripe", []).append((status or 402, body))
            elif provider == "paypal":
                issue = code or "INSTRUMENT_DECLINED"
                body = {
                    "name": "UNPROCESSABLE_ENTITY",
                    "message": message or "The requested action could not be performed.",
                    "debug_id": secrets.token_hex(6),
                    "details": [{"issue": issue, "description": f"{issue} (fake)"}],
                }
                self._failures.setdefault("paypal", []).append((status or 422, body))
            else:
                raise ValueError(provider)

    def pay_intent(self, intent_id: str) -> dict[str, Any]:
        """The customer completed the payment in the app."""
        with self._lock:
            intent = self.intents[intent_id]
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge=intent.get("latest_charge") or _id("ch_"),
                last_payment_error=None,
            )
            return copy.deepcopy(intent)

    def fail_intent(self, intent_id: str, *, cancel: bool = False) -> dict[str, Any]:
        """The card was declined (the intent wants another payment method) or, with
        ``cancel``, the intent was canceled."""
        with self._lock:
            intent = self.intents[intent_id]
            if cancel:
                intent.update(status="canceled", cancellation_reason="abandoned")
            else:
                intent.update(
                    status="requires_payment_method",
                    last_payment_error={"type": "card_error", "code": "card_declined"},
                )
            return copy.deepcopy(intent)

    def approve_order(self, order_id: str) -> dict[str, Any]:
        """The buyer approved the order at its approval link."""
        with self._lock:
            order = self.orders[order_id]
            if order["status"] == "CREATED":
                order["status"] = "APPROVED"
                order["payer"] = {
                    "payer_id": _paypal_id()[:13],
                    "email_address": "buyer@example.com",
                    "name": {"given_name": "Test", "surname": "Buyer"},
                }
            return copy.deepcopy(order)

    # -- webhook events ------------------------------------------------------------------------

    def stripe_event(self, event_type: str, intent_id: str) -> dict[str, Any]:
        """A Stripe event about the intent as it now is (``payment_intent.*`` carry the
        intent, ``charge.refunded`` its charge)."""
        with self._lock:
            intent = copy.deepcopy(self.intents[intent_id])
        if event_type == "charge.refunded":
            obj: dict[str, Any] = {
                "id": intent.get("latest_charge") or _id("ch_"),
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount_received"],
                "amount_refunded": intent["amount_refunded"],
                "refunded": intent["amount_refunded"] >= intent["amount"],
                "currency": intent["currency"],
                "payment_intent": intent_id,
                "status": "succeeded",
                "paid": True,
            }
        else:
            obj = intent
        return {
            "id": _id("evt_"),
            "object": "event",
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }

    def paypal_event(self, event_type: str, order_id: str) -> dict[str, Any]:
        """A PayPal event about the order as it now is: the order for CHECKOUT.ORDER.*, its
        capture for PAYMENT.CAPTURE.COMPLETED / DENIED, its latest refund for
        PAYMENT.CAPTURE.REFUNDED."""
        with self._lock:
            order = copy.deepcopy(self.orders[order_id])
            captures = order["purchase_units"][0].get("payments", {}).get("captures", [])
            resource: dict[str, Any]
            if event_type.startswith("CHECKOUT.ORDER."):
                resource, resource_type = order, "checkout-order"
            elif event_type in ("PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"):
                if captures:
                    resource = copy.deepcopy(self.captures[captures[0]["id"]])
                else:  # a denied payment leaves no capture on the order
                    resource = self._new_capture(order_id, order["purchase_units"][0]["amount"])
                if event_type.endswith("DENIED"):
                    resource["status"] = "DECLINED"
                resource_type = "capture"
            elif event_type == "PAYMENT.CAPTURE.REFUNDED":
                refunds = [r for r in self.paypal_refunds.values() if r["_order_id"] == order_id]
                resource = {k: v for k, v in copy.deepcopy(refunds[-1]).items() if not k.startswith("_")}
                resource_type = "refund"
            else:
                resource, resource_type = order, "checkout-order"
        return {
            "id": f"WH-{secrets.token_hex(8).upper()}",
            "event_version": "1.0",
            "create_time": _now_iso(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": f"{event_type} (fake)",
            "resource": resource,
            "links": [],
        }

    def paypal_signature(
        self, event: Any, *, transmission_id: str, transmission_time: str, webhook_id: str
    ) -> str:
        """The fake's transmission signature: HMAC-SHA256 with its key over
        ``transmission_id|transmission_time|webhook_id|`` and the canonical JSON event."""
        message = f"{transmission_id}|{transmission_time}|{webhook_id}|".encode() + _canonical(event)
        return base64.b64encode(hmac.new(self.paypal_signing_key, message, hashlib.sha256).digest()).decode()

    def paypal_signed(
        self, event: dict[str, Any], *, webhook_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook body and the PAYPAL-* transmission headers that verify with the fake."""
        body = json.dumps(event).encode()
        transmission_id = str(uuid.uuid4())
        transmission_time = _now_iso()
        signature = self.paypal_signature(
            event,
            transmission_id=transmission_id,
            transmission_time=transmission_time,
            webhook_id=webhook_id or self.paypal_webhook_id,
        )
        return body, {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": f"{self.url}/v1/notifications/certs/CERT-FAKE",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    # -- plumbing shared by the handlers --------------------------------------------------------

    async def _record(self, request: Request) -> bytes:
        body = await request.body()
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                )
            )
        return body

    def _take_failure(self, provider: str) -> tuple[int, dict[str, Any]] | None:
        queue = self._failures.get(provider)
        return queue.pop(0) if queue else None

    def _new_capture(self, order_id: str, amount: dict[str, str]) -> dict[str, Any]:
        capture_id = _paypal_id()
        now = _now_iso()
        return {
            "id": capture_id,
            "status": "COMPLETED",
            "amount": dict(amount),
            "final_capture": True,
            "seller_protection": {"status": "ELIGIBLE"},
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now,
            "update_time": now,
            "links": [
                {"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "self", "method": "GET"},
                {
                    "href": f"{self.url}/v2/payments/captures/{capture_id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "up", "method": "GET"},
            ],
        }
