"""The fake Stripe API: PaymentIntents, refunds and Connect transfers, and signed webhooks."""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fake_providers.state import STRIPE_WEBHOOK_SECRET, FakeProviders, _id


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


class StripeHandlers:
    """Form-encoded bodies, Stripe-shaped objects and ``{"error": {...}}`` errors, idempotency
    keys replayed like Stripe does."""

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
