"""A local stand-in for the Stripe and PayPal APIs, for driving the real SDKs in tests.

One small Starlette app, served by uvicorn in a background thread on a free 127.0.0.1 port
(one server per test session; its state is cleared for every test). The ``fake_providers``
fixture yields the ``FakeProviders`` state: what was created (``intents``, ``stripe_refunds``,
``transfers``, ``orders``, ``captures``, ``paypal_refunds``), every request received
(``requests``), and the steering a test needs: ``pay_intent`` / ``fail_intent`` (the customer
paid or the card failed), ``approve_order`` (the buyer approved at the approval link, which the
fake also serves), ``fail_next`` (the provider refuses the next call).

Stripe: form-encoded bodies, Stripe-shaped objects and ``{"error": {...}}`` errors, idempotency
keys replayed like Stripe does. PayPal: OAuth client credentials, Orders v2, capture refunds,
and verify-webhook-signature, which answers SUCCESS only for a transmission signature made with
the fake's key (``paypal_signed`` makes one; anything else is a forgery).

Webhook helpers: ``stripe_signed`` signs with the SDK's own
``stripe.WebhookSignature.generate_signature_header``; ``FakeProviders.paypal_signed`` signs
the way the fake verifies.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest
import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

STRIPE_SECRET_KEY = "sk_test_fake_providers"
STRIPE_WEBHOOK_SECRET = "whsec_fake_providers"
PAYPAL_CLIENT_ID = "fake-paypal-client-id"
PAYPAL_CLIENT_SECRET = "fake-paypal-client-secret"
PAYPAL_WEBHOOK_ID = "WH-FAKE-0001"

# PayPal currencies without decimals; the others take two.
_PAYPAL_ZERO_DECIMAL = {"JPY", "HUF", "TWD"}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(prefix: str, n: int = 12) -> str:
    return f"{prefix}{secrets.token_hex(n)}"


def _paypal_id() -> str:
    return secrets.token_hex(9).upper()[:17]


def _paypal_exp(currency: str) -> int:
    return 0 if currency.upper() in _PAYPAL_ZERO_DECIMAL else 2


def _paypal_minor(value: str, currency: str) -> int:
    return int(Decimal(value).scaleb(_paypal_exp(currency)))


def _paypal_value(minor: int, currency: str) -> str:
    exp = _paypal_exp(currency)
    return f"{Decimal(minor).scaleb(-exp):.{exp}f}"


def _canonical(event: Any) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _form(body: bytes) -> dict[str, Any]:
    """Stripe's form encoding (``metadata[payment_id]=x``) back into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def stripe_signed(
    event: dict[str, Any] | bytes, secret: str = STRIPE_WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its ``Stripe-Signature`` header, signed by the SDK's own helper."""
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeProviders:
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


# -- Stripe ------------------------------------------------------------------------------------


def _stripe_error(
    status: int, message: str, *, type_: str = "invalid_request_error", **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "message": message, **extra}},
        status_code=status,
        headers={"Stripe-Should-Retry": "false", "Request-Id": _id("req_", 7)},
    )


def _stripe_ok(body: dict[str, Any], *, replayed: bool = False) -> JSONResponse:
    headers = {"Request-Id": _id("req_", 7)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, headers=headers)


class _StripeHandlers:
    def __init__(self, fake: FakeProviders) -> None:
        self.fake = fake

    async def _begin(self, request: Request) -> tuple[bytes, Response | None]:
        """Record, authenticate, replay an idempotent repeat, or fail on demand."""
        body = await self.fake._record(request)
        auth = request.headers.get("authorization", "")
        if auth != f"Bearer {self.fake.stripe_secret_key}":
            return body, _stripe_error(401, "Invalid API Key provided.")
        key = request.headers.get("idempotency-key")
        if key and request.method == "POST":
            fingerprint = f"{request.url.path}?{body.decode()}"
            with self.fake._lock:
                seen = self.fake._replays.get(("stripe", key))
            if seen is not None:
                if seen[0] != fingerprint:
                    return body, _stripe_error(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with.",
                        type_="idempotency_error",
                    )
                return body, _stripe_ok(copy.deepcopy(seen[2]), replayed=True)
        with self.fake._lock:
            failure = self.fake._take_failure("stripe")
        if failure is not None:
            status, error = failure
            return body, JSONResponse(error, status_code=status, headers={"Stripe-Should-Retry": "false"})
        return body, None

    def _remember(self, request: Request, body: bytes, result: dict[str, Any]) -> None:
        key = request.headers.get("idempotency-key")
        if key:
            fingerprint = f"{request.url.path}?{body.decode()}"
            self.fake._replays[("stripe", key)] = (fingerprint, 200, copy.deepcopy(result))

    async def create_intent(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        params = _form(body)
        try:
            amount = int(params["amount"])
            currency = str(params["currency"]).lower()
        except (KeyError, ValueError):
            return _stripe_error(400, "Missing required param: amount.", param="amount")
        if amount < 1:
            return _stripe_error(400, "Amount must be at least 1.", code="amount_too_small", param="amount")
        intent_id = _id("pi_")
        auto = params.get("automatic_payment_methods", {})
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "amount_refunded": 0,
            "currency": currency,
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "automatic_payment_methods": {
                "enabled": auto.get("enabled") == "true",
                "allow_redirects": "always",
            }
            if auto
            else None,
            "payment_method_types": ["card"],
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "latest_charge": None,
            "last_payment_error": None,
            "created": int(time.time()),
            "livemode": False,
        }
        with self.fake._lock:
            self.fake.intents[intent_id] = intent
            self._remember(request, body, intent)
            return _stripe_ok(copy.deepcopy(intent))

    async def get_intent(self, request: Request) -> Response:
        _, early = await self._begin(request)
        if early is not None:
            return early
        intent_id = request.path_params["intent_id"]
        with self.fake._lock:
            intent = copy.deepcopy(self.fake.intents.get(intent_id))
        if intent is None:
            return _stripe_error(
                404, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="intent"
            )
        return _stripe_ok(intent)

    async def create_refund(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        params = _form(body)
        intent_id = params.get("payment_intent", "")
        with self.fake._lock:
            intent = self.fake.intents.get(intent_id)
            if intent is None:
                return _stripe_error(
                    400,
                    f"No such payment_intent: '{intent_id}'",
                    code="resource_missing",
                    param="payment_intent",
                )
            if intent["status"] != "succeeded":
                return _stripe_error(
                    400,
                    "This PaymentIntent does not have a successful charge to refund.",
                    code="charge_not_refundable"
                    if intent["status"] != "canceled"
                    else "charge_already_refunded",
                )
            remaining = intent["amount_received"] - intent["amount_refunded"]
            amount = int(params.get("amount", remaining))
            if amount > remaining or amount < 1:
                return _stripe_error(
                    400,
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                    code="amount_too_large",
                    param="amount",
                )
            intent["amount_refunded"] += amount
            refund = {
                "id": _id("re_"),
                "object": "refund",
                "amount": amount,
                "currency": intent["currency"],
                "payment_intent": intent_id,
                "charge": intent["latest_charge"],
                "status": "succeeded",
                "metadata": params.get("metadata", {}),
                "created": int(time.time()),
            }
            self.fake.stripe_refunds[refund["id"]] = refund
            self._remember(request, body, refund)
            return _stripe_ok(copy.deepcopy(refund))

    async def create_transfer(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        params = _form(body)
        destination = str(params.get("destination", ""))
        if not destination.startswith("acct_"):
            return _stripe_error(
                400, f"No such destination: '{destination}'", code="resource_missing", param="destination"
            )
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            return _stripe_error(400, "Missing required param: amount.", param="amount")
        transfer = {
            "id": _id("tr_"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": str(params.get("currency", "")).lower(),
            "destination": destination,
            "metadata": params.get("metadata", {}),
            "transfer_group": params.get("transfer_group"),
            "reversed": False,
            "created": int(time.time()),
            "livemode": False,
        }
        with self.fake._lock:
            self.fake.transfers[transfer["id"]] = transfer
            self._remember(request, body, transfer)
        return _stripe_ok(copy.deepcopy(transfer))


# -- PayPal ------------------------------------------------------------------------------------


def _paypal_error(status: int, name: str, message: str, *issues: str) -> JSONResponse:
    return JSONResponse(
        {
            "name": name,
            "message": message,
            "debug_id": secrets.token_hex(6),
            "details": [{"issue": issue, "description": issue} for issue in issues],
            "links": [],
        },
        status_code=status,
    )


def _unprocessable(*issues: str) -> JSONResponse:
    return _paypal_error(
        422,
        "UNPROCESSABLE_ENTITY",
        "The requested action could not be performed, semantically incorrect, or failed business validation.",
        *issues,
    )


class _PaypalHandlers:
    def __init__(self, fake: FakeProviders) -> None:
        self.fake = fake

    async def token(self, request: Request) -> Response:
        body = await self.fake._record(request)
        expected = base64.b64encode(
            f"{self.fake.paypal_client_id}:{self.fake.paypal_client_secret}".encode()
        ).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
                status_code=401,
            )
        if dict(parse_qsl(body.decode())).get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = f"A21AA{secrets.token_urlsafe(24)}"
        with self.fake._lock:
            self.fake.paypal_tokens.add(token)
        return JSONResponse(
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-FAKE",
                "expires_in": 32400,
                "nonce": secrets.token_hex(8),
            }
        )

    async def _begin(self, request: Request, *, replayable: bool = False) -> tuple[bytes, Response | None]:
        body = await self.fake._record(request)
        auth = request.headers.get("authorization", "")
        with self.fake._lock:
            known = auth.startswith("Bearer ") and auth[7:] in self.fake.paypal_tokens
        if not known:
            return body, _paypal_error(
                401, "AUTHENTICATION_FAILURE", "Authentication failed due to invalid credentials."
            )
        request_id = request.headers.get("paypal-request-id")
        if replayable and request_id:
            with self.fake._lock:
                seen = self.fake._replays.get(("paypal", request.url.path + "|" + request_id))
            if seen is not None:
                return body, JSONResponse(copy.deepcopy(seen[2]), status_code=seen[1])
        with self.fake._lock:
            failure = self.fake._take_failure("paypal")
        if failure is not None:
            return body, JSONResponse(failure[1], status_code=failure[0])
        return body, None

    def _remember(self, request: Request, status: int, result: dict[str, Any]) -> None:
        request_id = request.headers.get("paypal-request-id")
        if request_id:
            key = ("paypal", request.url.path + "|" + request_id)
            self.fake._replays[key] = ("", status, copy.deepcopy(result))

    async def create_order(self, request: Request) -> Response:
        body, early = await self._begin(request, replayable=True)
        if early is not None:
            return early
        try:
            data = json.loads(body)
            units = data["purchase_units"]
            amount = units[0]["amount"]
            currency, value = str(amount["currency_code"]), str(amount["value"])
        except (ValueError, KeyError, IndexError, TypeError):
            return _paypal_error(
                400, "INVALID_REQUEST", "Request is not well-formed.", "MISSING_REQUIRED_PARAMETER"
            )
        if data.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            return _paypal_error(
                400, "INVALID_REQUEST", "Request is not well-formed.", "INVALID_PARAMETER_VALUE"
            )
        decimals = _paypal_exp(currency)
        pattern = r"\d{1,10}" if decimals == 0 else r"\d{1,10}(\.\d{1,2})?"
        if not re.fullmatch(pattern, value):
            return _unprocessable("DECIMAL_PRECISION")
        order_id = _paypal_id()
        base = self.fake.url
        order = {
            "id": order_id,
            "intent": data["intent"],
            "status": "CREATED",
            "purchase_units": [
                {
                    "reference_id": unit.get("reference_id", "default"),
                    **{k: unit[k] for k in ("custom_id", "description", "invoice_id") if k in unit},
                    "amount": unit["amount"],
                    "payee": {"email_address": "merchant@example.com", "merchant_id": "FAKEMERCHANT"},
                }
                for unit in units
            ],
            "create_time": _now_iso(),
            "links": [
                {"href": f"{base}/v2/checkout/orders/{order_id}", "rel": "self", "method": "GET"},
                {"href": f"{base}/checkoutnow?token={order_id}", "rel": "approve", "method": "GET"},
                {"href": f"{base}/v2/checkout/orders/{order_id}", "rel": "update", "method": "PATCH"},
                {"href": f"{base}/v2/checkout/orders/{order_id}/capture", "rel": "capture", "method": "POST"},
            ],
        }
        with self.fake._lock:
            self.fake.orders[order_id] = order
            self._remember(request, 201, order)
            return JSONResponse(copy.deepcopy(order), status_code=201)

    async def get_order(self, request: Request) -> Response:
        _, early = await self._begin(request)
        if early is not None:
            return early
        with self.fake._lock:
            order = copy.deepcopy(self.fake.orders.get(request.path_params["order_id"]))
        if order is None:
            return _paypal_error(
                404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
            )
        return JSONResponse(order)

    async def capture_order(self, request: Request) -> Response:
        _, early = await self._begin(request, replayable=True)
        if early is not None:
            return early
        order_id = request.path_params["order_id"]
        with self.fake._lock:
            order = self.fake.orders.get(order_id)
            if order is None:
                return _paypal_error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
                )
            if order["status"] == "COMPLETED":
                return _unprocessable("ORDER_ALREADY_CAPTURED")
            if order["status"] != "APPROVED":
                return _unprocessable("ORDER_NOT_APPROVED")
            unit = order["purchase_units"][0]
            capture = self.fake._new_capture(order_id, unit["amount"])
            self.fake.captures[capture["id"]] = capture
            unit["payments"] = {"captures": [copy.deepcopy(capture)]}
            order["status"] = "COMPLETED"
            order["update_time"] = _now_iso()
            self._remember(request, 201, order)
            return JSONResponse(copy.deepcopy(order), status_code=201)

    async def get_capture(self, request: Request) -> Response:
        _, early = await self._begin(request)
        if early is not None:
            return early
        with self.fake._lock:
            capture = copy.deepcopy(self.fake.captures.get(request.path_params["capture_id"]))
        if capture is None:
            return _paypal_error(
                404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
            )
        return JSONResponse(capture)

    async def refund_capture(self, request: Request) -> Response:
        body, early = await self._begin(request, replayable=True)
        if early is not None:
            return early
        capture_id = request.path_params["capture_id"]
        data = json.loads(body) if body.strip() else {}
        with self.fake._lock:
            capture = self.fake.captures.get(capture_id)
            if capture is None:
                return _paypal_error(
                    404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
                )
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                return _unprocessable("CAPTURE_FULLY_REFUNDED")
            currency = capture["amount"]["currency_code"]
            total = _paypal_minor(capture["amount"]["value"], currency)
            order_id = capture["supplementary_data"]["related_ids"]["order_id"]
            done = sum(
                _paypal_minor(r["amount"]["value"], currency)
                for r in self.fake.paypal_refunds.values()
                if r["_capture_id"] == capture_id
            )
            requested = data.get("amount")
            if requested is not None:
                if requested.get("currency_code") != currency:
                    return _unprocessable("REFUND_CURRENCY_MISMATCH")
                amount = _paypal_minor(str(requested["value"]), currency)
            else:
                amount = total - done
            if amount < 1 or amount > total - done:
                return _unprocessable("REFUND_AMOUNT_EXCEEDED")
            refund_id = _paypal_id()
            capture["status"] = "REFUNDED" if done + amount == total else "PARTIALLY_REFUNDED"
            refund = {
                "id": refund_id,
                "status": "COMPLETED",
                "amount": {"currency_code": currency, "value": _paypal_value(amount, currency)},
                "seller_payable_breakdown": {
                    "total_refunded_amount": {
                        "currency_code": currency,
                        "value": _paypal_value(done + amount, currency),
                    }
                },
                "create_time": _now_iso(),
                "links": [
                    {
                        "href": f"{self.fake.url}/v2/payments/refunds/{refund_id}",
                        "rel": "self",
                        "method": "GET",
                    },
                    {
                        "href": f"{self.fake.url}/v2/payments/captures/{capture_id}",
                        "rel": "up",
                        "method": "GET",
                    },
                ],
                "_capture_id": capture_id,
                "_order_id": order_id,
            }
            self.fake.paypal_refunds[refund_id] = refund
            order = self.fake.orders[order_id]
            payments = order["purchase_units"][0].setdefault("payments", {})
            payments["captures"] = [copy.deepcopy(capture)]
            public = {k: v for k, v in refund.items() if not k.startswith("_")}
            payments.setdefault("refunds", []).append(copy.deepcopy(public))
            self._remember(request, 201, public)
            return JSONResponse(copy.deepcopy(public), status_code=201)

    async def verify_webhook(self, request: Request) -> Response:
        body, early = await self._begin(request)
        if early is not None:
            return early
        try:
            data = json.loads(body)
            fields = {
                name: str(data[name])
                for name in (
                    "auth_algo",
                    "cert_url",
                    "transmission_id",
                    "transmission_sig",
                    "transmission_time",
                    "webhook_id",
                )
            }
            event = data["webhook_event"]
        except (ValueError, KeyError, TypeError):
            return _paypal_error(
                400, "VALIDATION_ERROR", "Invalid request - see details", "MISSING_REQUIRED_PARAMETER"
            )
        expected = self.fake.paypal_signature(
            event,
            transmission_id=fields["transmission_id"],
            transmission_time=fields["transmission_time"],
            webhook_id=fields["webhook_id"],
        )
        ok = fields["webhook_id"] == self.fake.paypal_webhook_id and hmac.compare_digest(
            expected, fields["transmission_sig"]
        )
        return JSONResponse({"verification_status": "SUCCESS" if ok else "FAILURE"})

    async def checkout(self, request: Request) -> Response:
        """The approval page: visiting it approves the order, as a buyer would."""
        await self.fake._record(request)
        order_id = request.query_params.get("token", "")
        if order_id not in self.fake.orders:
            return HTMLResponse("unknown order", status_code=404)
        self.fake.approve_order(order_id)
        return HTMLResponse(f"order {order_id} approved")


def build_app(fake: FakeProviders) -> Starlette:
    s, p = _StripeHandlers(fake), _PaypalHandlers(fake)
    return Starlette(
        routes=[
            Route("/v1/payment_intents", s.create_intent, methods=["POST"]),
            Route("/v1/payment_intents/{intent_id}", s.get_intent, methods=["GET"]),
            Route("/v1/refunds", s.create_refund, methods=["POST"]),
            Route("/v1/transfers", s.create_transfer, methods=["POST"]),
            Route("/v1/oauth2/token", p.token, methods=["POST"]),
            Route("/v2/checkout/orders", p.create_order, methods=["POST"]),
            Route("/v2/checkout/orders/{order_id}", p.get_order, methods=["GET"]),
            Route("/v2/checkout/orders/{order_id}/capture", p.capture_order, methods=["POST"]),
            Route("/v2/payments/captures/{capture_id}", p.get_capture, methods=["GET"]),
            Route("/v2/payments/captures/{capture_id}/refund", p.refund_capture, methods=["POST"]),
            Route("/v1/notifications/verify-webhook-signature", p.verify_webhook, methods=["POST"]),
            Route("/checkoutnow", p.checkout, methods=["GET"]),
        ]
    )


@dataclass
class _Running:
    fake: FakeProviders
    server: uvicorn.Server
    thread: threading.Thread


def start_fake_providers() -> _Running:
    """Serve a fresh fake on a free loopback port; returns once it accepts connections."""
    fake = FakeProviders()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        build_app(fake),
        lifespan="off",
        log_level="warning",
        access_log=False,
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake provider server did not start")
        time.sleep(0.01)
    return _Running(fake, server, thread)


def stop_fake_providers(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture(scope="session")
def fake_providers_server() -> Iterator[FakeProviders]:
    running = start_fake_providers()
    try:
        yield running.fake
    finally:
        stop_fake_providers(running)


@pytest.fixture
def fake_providers(fake_providers_server: FakeProviders) -> Iterator[FakeProviders]:
    """The fake providers, with no state left over from other tests."""
    fake_providers_server.reset()
    yield fake_providers_server
    fake_providers_server.reset()
