"""The fake PayPal API: OAuth client credentials, Orders v2, capture refunds and webhook verification."""

from __future__ import annotations

import base64
import copy
import hmac
import json
import re
import secrets
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from tests.fake_providers.state import FakeProviders, _now_iso, _paypal_id

# PayPal currencies without decimals; the others take two.
_PAYPAL_ZERO_DECIMAL = {"JPY", "HUF", "TWD"}


def _paypal_exp(currency: str) -> int:
    return 0 if currency.upper() in _PAYPAL_ZERO_DECIMAL else 2


def _paypal_minor(value: str, currency: str) -> int:
    return int(Decimal(value).scaleb(_paypal_exp(currency)))


def _paypal_value(minor: int, currency: str) -> str:
    exp = _paypal_exp(currency)
    return f"{Decimal(minor).scaleb(-exp):.{exp}f}"


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


class PaypalHandlers:
    """Verify-webhook-signature answers SUCCESS only for a transmission signature made with the
    fake's key (``FakeProviders.paypal_signed`` makes one); anything else is a forgery."""

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
