"""PayPal through ``paypal-server-sdk`` (Orders v2), which is synchronous: every SDK call runs
in a worker thread (``asyncio.to_thread``).

A charge is an order: created with intent CAPTURE, approved by the buyer at its approval
link, captured here by ``confirm_charge``. The platform keeps the order id as the charge's
``ref``. Amounts travel as decimal strings in the currency's own precision (JPY has none).

``base_url`` replaces the environment's address (tests use a local fake) through the SDK's
own hook, a ``Configuration`` whose ``get_base_uri`` answers it. Webhook signatures are checked
by PayPal's verify-webhook-signature API, for which the SDK has no controller: that one call
goes over httpx to the same address with a client-credentials token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import httpx
import requests
from apimatic_core.exceptions.auth_validation_exception import AuthValidationException
from paypalserversdk.configuration import Configuration, Environment, Server
from paypalserversdk.exceptions.api_exception import ApiException
from paypalserversdk.exceptions.error_exception import ErrorException
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient

from logistics.payments import paypal_payload as read
from logistics.payments.currency import to_paypal_value
from logistics.payments.gateway import (
    ChargeStatus,
    ProviderCharge,
    ProviderError,
    WebhookEvent,
    WebhookRejected,
)

TIMEOUT_S = 30.0

_TRANSMISSION_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}

_CAPTURE_STATUS: dict[str, ChargeStatus] = {
    "COMPLETED": "succeeded",
    "PARTIALLY_REFUNDED": "succeeded",
    "REFUNDED": "refunded",
    "PENDING": "pending",
    "DECLINED": "failed",
    "FAILED": "failed",
}


class PaypalApiError(ProviderError):
    """PayPal refused a call: ``name`` (e.g. UNPROCESSABLE_ENTITY) and the detail ``issues``
    (e.g. ORDER_NOT_APPROVED) as PayPal reported them."""

    def __init__(self, message: str, *, status_code: int | None, name: str | None, issues: list[str]):
        super().__init__(message)
        self.status_code = status_code
        self.name = name
        self.issues = issues


class _BaseUrlConfiguration(Configuration):
    """The SDK's configuration, sending every call to ``base_url``."""

    def __init__(self, *, base_url: str, **kwargs: Any) -> None:
        self._base_url = base_url.rstrip("/")
        super().__init__(**kwargs)

    def get_base_uri(self, server: Any = Server.DEFAULT) -> str:
        return self._base_url


def _error(exc: Exception) -> ProviderError:
    if isinstance(exc, ErrorException):
        name = cast(str | None, getattr(exc, "name", None))
        details = cast(list[Any] | None, getattr(exc, "details", None)) or []
        issues = [str(issue) for d in details if (issue := getattr(d, "issue", None))]
        if "ORDER_NOT_APPROVED" in issues:
            text = "paypal: the buyer has not approved the order yet (ORDER_NOT_APPROVED)"
        else:
            text = f"paypal: {name or 'error'}" + (f" ({', '.join(issues)})" if issues else "")
        return PaypalApiError(text, status_code=cast(int | None, exc.response_code), name=name, issues=issues)
    if isinstance(exc, ApiException):
        code = cast(int | None, exc.response_code)
        return PaypalApiError(f"paypal: HTTP {code}", status_code=code, name=None, issues=[])
    if isinstance(exc, AuthValidationException):
        return ProviderError("paypal: authentication with the payment provider failed")
    return ProviderError("paypal: the payment provider could not be reached")


class PaypalGateway:
    """PaymentGateway over PayPal Orders v2."""

    name = "paypal"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        environment: str = "sandbox",
        webhook_id: str | None = None,
        base_url: str | None = None,
    ) -> None:
        options: dict[str, Any] = {
            "environment": Environment.PRODUCTION if environment == "live" else Environment.SANDBOX,
            "client_credentials_auth_credentials": ClientCredentialsAuthCredentials(
                o_auth_client_id=client_id, o_auth_client_secret=client_secret
            ),
            "timeout": TIMEOUT_S,
            # Only GET and PUT are retried (the SDK's default methods): POSTs are not replayed.
            "max_retries": 2,
            "backoff_factor": 0.5,
        }
        config = _BaseUrlConfiguration(base_url=base_url, **options) if base_url else Configuration(**options)
        self._sdk = PaypalServersdkClient(config=config)
        self._base_url = cast(str, config.get_base_uri()).rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._webhook_id = webhook_id
        self._token: tuple[str, float] | None = None

    async def _call(self, method: Callable[[dict[str, Any]], Any], options: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await asyncio.to_thread(method, options)
        except (ApiException, AuthValidationException, requests.RequestException) as exc:
            raise _error(exc) from exc
        try:
            body = json.loads(cast(str, response.text))
        except (TypeError, ValueError) as exc:
            raise ProviderError("paypal: the provider answered an unreadable response") from exc
        if not isinstance(body, dict):
            raise ProviderError("paypal: the provider answered an unreadable response")
        return cast(dict[str, Any], body)

    async def _get_order(self, order_id: str) -> dict[str, Any]:
        return await self._call(self._sdk.orders.get_order, {"id": order_id})

    def _charge(self, order: Mapping[str, Any]) -> ProviderCharge:
        order_id = order.get("id")
        if not isinstance(order_id, str):
            raise ProviderError("paypal: the provider answered an order without an id")
        captures = read.captures(order)
        units = read.as_list(order.get("purchase_units"))
        money = read.money(captures[0].get("amount")) if captures else None
        money = money or (read.money(read.as_dict(units[0]).get("amount")) if units else None)
        if money is None:
            raise ProviderError("paypal: the provider answered an order without an amount")
        status: ChargeStatus
        if captures:
            status = _CAPTURE_STATUS.get(str(captures[0].get("status")), "pending")
        elif order.get("status") == "COMPLETED":
            status = "succeeded"
        elif order.get("status") == "VOIDED":
            status = "failed"
        else:
            status = "pending"
        return ProviderCharge(
            ref=order_id,
            status=status,
            amount=money[0],
            currency=money[1],
            approve_url=read.link(order, "approve", "payer-action") if status == "pending" else None,
        )

    async def create_charge(
        self, *, amount: int, currency: str, reference: str, description: str, idempotency_key: str
    ) -> ProviderCharge:
        code = currency.upper()
        body = OrderRequest(
            intent=CheckoutPaymentIntent.CAPTURE,
            purchase_units=[
                PurchaseUnitRequest(
                    reference_id=reference,
                    custom_id=reference,
                    description=description[:127],
                    amount=AmountWithBreakdown(currency_code=code, value=to_paypal_value(amount, code)),
                )
            ],
        )
        order = await self._call(
            self._sdk.orders.create_order,
            {"body": body, "paypal_request_id": idempotency_key, "prefer": "return=representation"},
        )
        return self._charge(order)

    async def confirm_charge(self, ref: str) -> ProviderCharge:
        """Capture the approved order. A second capture is refused by PayPal as
        ORDER_ALREADY_CAPTURED: the order is then read instead, so repeating is safe. Before
        the buyer approves, PayPal refuses with ORDER_NOT_APPROVED (a ProviderError)."""
        try:
            order = await self._call(
                self._sdk.orders.capture_order, {"id": ref, "prefer": "return=representation"}
            )
        except PaypalApiError as exc:
            if "ORDER_ALREADY_CAPTURED" not in exc.issues:
                raise
            order = await self._get_order(ref)
        return self._charge(order)

    async def refund(self, ref: str, *, amount: int, currency: str, idempotency_key: str) -> str:
        """Refund ``amount`` of the order's capture (looked up from the order)."""
        captures = read.captures(await self._get_order(ref))
        capture_id = captures[0].get("id") if captures else None
        if not isinstance(capture_id, str):
            raise ProviderError("paypal: the order has no captured payment to refund")
        code = currency.upper()
        body = RefundRequest(amount=Money(currency_code=code, value=to_paypal_value(amount, code)))
        refund = await self._call(
            self._sdk.payments.refund_captured_payment,
            {
                "capture_id": capture_id,
                "body": body,
                "paypal_request_id": idempotency_key,
                "prefer": "return=representation",
            },
        )
        refund_id = refund.get("id")
        if not isinstance(refund_id, str):
            raise ProviderError("paypal: the provider answered a refund without an id")
        return refund_id

    # -- webhooks ---------------------------------------------------------------------------

    async def _access_token(self, client: httpx.AsyncClient, *, fresh: bool = False) -> str:
        if self._token is not None and not fresh and self._token[1] > time.monotonic():
            return self._token[0]
        response = await client.post(
            "/v1/oauth2/token",
            auth=(self._client_id, self._client_secret),
            data={"grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise ProviderError("paypal: authentication with the payment provider failed")
        data = read.as_dict(response.json())
        token = data.get("access_token")
        if not isinstance(token, str):
            raise ProviderError("paypal: authentication with the payment provider failed")
        expires_in = data.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        self._token = (token, time.monotonic() + max(lifetime - 60.0, 0.0))
        return token

    async def _verify(self, body: bytes, transmission: dict[str, str]) -> bool:
        fields = {**transmission, "webhook_id": self._webhook_id}
        # The event goes back byte for byte as received: PayPal checks the signature over the
        # body it sent, and re-serialising it (key order, spacing, unicode) can break that.
        payload = json.dumps(fields)[:-1] + ', "webhook_event": ' + body.decode("utf-8") + "}"
        async with httpx.AsyncClient(base_url=self._base_url, timeout=TIMEOUT_S) as client:
            for attempt in range(2):
                token = await self._access_token(client, fresh=attempt > 0)
                response = await client.post(
                    "/v1/notifications/verify-webhook-signature",
                    content=payload.encode("utf-8"),
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                    },
                )
                if response.status_code != 401:
                    break
        if response.status_code >= 500 or response.status_code == 401:
            raise ProviderError(f"paypal: webhook verification failed (HTTP {response.status_code})")
        if response.status_code != 200:
            return False
        return read.as_dict(response.json()).get("verification_status") == "SUCCESS"

    async def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Verify the event with PayPal, then reduce it.

        PAYMENT.CAPTURE.COMPLETED / DENIED: the order (from the capture's related ids)
        ``succeeded`` / ``failed`` with the captured amount. CHECKOUT.ORDER.APPROVED: the order,
        still ``pending`` (it is captured by ``confirm_charge``). PAYMENT.CAPTURE.REFUNDED: the
        order, ``refunded`` once the capture is refunded in full (``succeeded`` while only
        partly), with ``amount`` the total refunded so far. Other types: no charge, no status.
        ProviderError when PayPal cannot be asked (the sender retries)."""
        if not self._webhook_id:
            raise WebhookRejected("paypal webhooks are not configured")
        try:
            event = json.loads(body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WebhookRejected("paypal webhook body is not JSON") from exc
        if not isinstance(event, dict) or not isinstance(event.get("event_type"), str):
            raise WebhookRejected("paypal webhook body is not an event")
        transmission: dict[str, str] = {}
        for field, header in _TRANSMISSION_HEADERS.items():
            value = read.header(headers, header)
            if not value:
                raise WebhookRejected(f"paypal webhook without {header}")
            transmission[field] = value
        try:
            verified = await self._verify(body, transmission)
        except httpx.HTTPError as exc:
            raise ProviderError("paypal: the payment provider could not be reached") from exc
        if not verified:
            raise WebhookRejected("paypal signature does not verify")
        return await self._reduce(cast(dict[str, Any], event))

    async def _reduce(self, event: dict[str, Any]) -> WebhookEvent:
        event_id = str(event.get("id", ""))
        event_type = cast(str, event["event_type"])
        resource = read.as_dict(event.get("resource"))
        if event_type in ("PAYMENT.CAPTURE.COMPLETED", "PAYMENT.CAPTURE.DENIED"):
            money = read.money(resource.get("amount"))
            return WebhookEvent(
                id=event_id,
                type=event_type,
                charge_ref=read.related_order_id(resource),
                status="succeeded" if event_type == "PAYMENT.CAPTURE.COMPLETED" else "failed",
                amount=money[0] if money else None,
                currency=money[1] if money else None,
                raw=event,
            )
        if event_type == "CHECKOUT.ORDER.APPROVED":
            units = read.as_list(resource.get("purchase_units"))
            money = read.money(read.as_dict(units[0]).get("amount")) if units else None
            order_id = resource.get("id")
            return WebhookEvent(
                id=event_id,
                type=event_type,
                charge_ref=order_id if isinstance(order_id, str) else None,
                status="pending",
                amount=money[0] if money else None,
                currency=money[1] if money else None,
                raw=event,
            )
        if event_type == "PAYMENT.CAPTURE.REFUNDED":
            return await self._reduce_refund(event_id, event_type, resource, event)
        return WebhookEvent(id=event_id, type=event_type, charge_ref=None, status=None, raw=event)

    async def _reduce_refund(
        self, event_id: str, event_type: str, refund: dict[str, Any], event: dict[str, Any]
    ) -> WebhookEvent:
        # The refund names its capture by its "up" link; the capture names the order and says
        # whether it is refunded in full.
        order_id = read.related_order_id(refund)
        fully_refunded = False
        up = read.link(refund, "up")
        capture_id = up.rstrip("/").rsplit("/", 1)[-1] if up and "/captures/" in up else None
        if capture_id:
            capture = await self._call(self._sdk.payments.get_captured_payment, {"capture_id": capture_id})
            order_id = order_id or read.related_order_id(capture)
            fully_refunded = capture.get("status") == "REFUNDED"
        breakdown = read.as_dict(refund.get("seller_payable_breakdown"))
        money = read.money(breakdown.get("total_refunded_amount")) or read.money(refund.get("amount"))
        return WebhookEvent(
            id=event_id,
            type=event_type,
            charge_ref=order_id,
            status="refunded" if fully_refunded else "succeeded",
            amount=money[0] if money else None,
            currency=money[1] if money else None,
            raw=event,
        )
