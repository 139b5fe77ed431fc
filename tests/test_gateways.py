"""The Stripe and PayPal adapters through the real SDKs, against the local fake providers.

Every test here runs with a socket guard: a connection or name lookup for anything but the
loopback interface fails, so no request can leave the machine.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from logistics.config import Settings
from logistics.payments.gateway import ManualPayouts, ProviderError, WebhookRejected
from logistics.payments.paypal_gateway import PaypalGateway, from_paypal_value, to_paypal_value
from logistics.payments.providers import build_payment_gateways, build_payout_gateway
from logistics.payments.stripe_gateway import StripeConnectPayouts, StripeGateway
from tests.fake_providers import FakeProviders, stripe_signed

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def _loopback(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse any lookup or connection that is not to the loopback interface."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            raise OSError(f"test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise OSError(f"test tried to connect to {address!r}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield


def test_the_guard_refuses_the_network() -> None:
    with pytest.raises(OSError):
        socket.getaddrinfo("api.stripe.com", 443)
    with pytest.raises(OSError):
        socket.create_connection(("203.0.113.7", 443), timeout=1)


# -- Stripe ------------------------------------------------------------------------------------


@pytest.fixture
async def stripe_gateway(fake_providers: FakeProviders) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        fake_providers.stripe_secret_key, fake_providers.stripe_webhook_secret, api_base=fake_providers.url
    )
    yield gateway
    await gateway.aclose()


async def _stripe_charge(gateway: StripeGateway, amount: int = 1999, currency: str = "EUR") -> str:
    charge = await gateway.create_charge(
        amount=amount,
        currency=currency,
        reference="pay_1",
        description="Delivery",
        idempotency_key="k-create",
    )
    return charge.ref


async def test_stripe_create_charge(stripe_gateway: StripeGateway, fake_providers: FakeProviders) -> None:
    charge = await stripe_gateway.create_charge(
        amount=1999,
        currency="EUR",
        reference="pay_123",
        description="Delivery job_9",
        idempotency_key="idem-1",
    )
    assert charge.ref.startswith("pi_")
    assert charge.status == "pending"
    assert charge.amount == 1999
    assert charge.currency == "EUR"
    assert charge.client_secret and charge.client_secret.startswith(f"{charge.ref}_secret_")
    intent = fake_providers.intents[charge.ref]
    assert intent["amount"] == 1999
    assert intent["currency"] == "eur"
    assert intent["metadata"] == {"payment_id": "pay_123"}
    assert intent["automatic_payment_methods"]["enabled"] is True
    assert intent["description"] == "Delivery job_9"
    (request,) = fake_providers.requests_to("/v1/payment_intents", "POST")
    assert request.headers["idempotency-key"] == "idem-1"
    assert request.headers["authorization"] == f"Bearer {fake_providers.stripe_secret_key}"


async def test_stripe_idempotency_key_replays(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    kwargs: dict[str, Any] = {
        "currency": "EUR",
        "reference": "pay_1",
        "description": "d",
        "idempotency_key": "same",
    }
    first = await stripe_gateway.create_charge(amount=1000, **kwargs)
    again = await stripe_gateway.create_charge(amount=1000, **kwargs)
    assert again.ref == first.ref
    assert len(fake_providers.intents) == 1
    assert [r.headers["idempotency-key"] for r in fake_providers.requests_to("/v1/payment_intents")] == [
        "same",
        "same",
    ]
    # The same key with other parameters is refused, as Stripe does.
    with pytest.raises(ProviderError):
        await stripe_gateway.create_charge(amount=2000, **kwargs)


async def test_stripe_zero_decimal_currency(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway, amount=500, currency="JPY")
    assert fake_providers.intents[ref]["amount"] == 500
    assert fake_providers.intents[ref]["currency"] == "jpy"


async def test_stripe_confirm_follows_the_intent(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    assert (await stripe_gateway.confirm_charge(ref)).status == "pending"
    fake_providers.pay_intent(ref)
    confirmed = await stripe_gateway.confirm_charge(ref)
    assert (confirmed.status, confirmed.amount, confirmed.currency) == ("succeeded", 1999, "EUR")
    assert (await stripe_gateway.confirm_charge(ref)).status == "succeeded"


@pytest.mark.parametrize(
    ("stripe_status", "status"),
    [
        ("requires_payment_method", "pending"),
        ("requires_confirmation", "pending"),
        ("requires_action", "pending"),
        ("processing", "pending"),
        ("succeeded", "succeeded"),
        ("canceled", "failed"),
    ],
)
async def test_stripe_status_mapping(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders, stripe_status: str, status: str
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.intents[ref]["status"] = stripe_status
    assert (await stripe_gateway.confirm_charge(ref)).status == status


async def test_stripe_declined_card_stays_pending_and_cancel_fails(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.fail_intent(ref)
    assert (await stripe_gateway.confirm_charge(ref)).status == "pending"
    fake_providers.fail_intent(ref, cancel=True)
    assert (await stripe_gateway.confirm_charge(ref)).status == "failed"


async def test_stripe_refund(stripe_gateway: StripeGateway, fake_providers: FakeProviders) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.pay_intent(ref)
    refund_id = await stripe_gateway.refund(ref, amount=500, currency="EUR", idempotency_key="refund-1")
    assert refund_id.startswith("re_")
    refund = fake_providers.stripe_refunds[refund_id]
    assert (refund["payment_intent"], refund["amount"]) == (ref, 500)
    (request,) = fake_providers.requests_to("/v1/refunds")
    assert request.headers["idempotency-key"] == "refund-1"
    # Repeating the same refund is answered with the same refund, not a second one.
    assert (
        await stripe_gateway.refund(ref, amount=500, currency="EUR", idempotency_key="refund-1") == refund_id
    )
    assert len(fake_providers.stripe_refunds) == 1
    with pytest.raises(ProviderError):
        await stripe_gateway.refund(ref, amount=5000, currency="EUR", idempotency_key="refund-2")


async def test_stripe_refund_before_payment_is_a_provider_error(
    stripe_gateway: StripeGateway,
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    with pytest.raises(ProviderError):
        await stripe_gateway.refund(ref, amount=100, currency="EUR", idempotency_key="r")


async def test_stripe_provider_errors(stripe_gateway: StripeGateway, fake_providers: FakeProviders) -> None:
    fake_providers.fail_next("stripe")
    with pytest.raises(ProviderError, match="declined"):
        await _stripe_charge(stripe_gateway)
    assert fake_providers.intents == {}
    with pytest.raises(ProviderError):
        await stripe_gateway.confirm_charge("pi_missing")
    fake_providers.fail_next("stripe", status=500, code="api_error", message="boom")
    with pytest.raises(ProviderError):
        await _stripe_charge(stripe_gateway)


async def test_stripe_bad_key_is_a_provider_error_without_the_key(fake_providers: FakeProviders) -> None:
    gateway = StripeGateway("sk_test_wrong_secret_value", None, api_base=fake_providers.url)
    try:
        with pytest.raises(ProviderError) as raised:
            await _stripe_charge(gateway)
        assert "sk_test_wrong_secret_value" not in str(raised.value)
    finally:
        await gateway.aclose()


async def test_stripe_webhook_payment_succeeded(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.pay_intent(ref)
    event = fake_providers.stripe_event("payment_intent.succeeded", ref)
    body, headers = stripe_signed(event, fake_providers.stripe_webhook_secret)
    parsed = await stripe_gateway.parse_webhook(body, headers)
    assert parsed.id == event["id"]
    assert parsed.type == "payment_intent.succeeded"
    assert (parsed.charge_ref, parsed.status, parsed.amount, parsed.currency) == (
        ref,
        "succeeded",
        1999,
        "EUR",
    )
    assert parsed.raw["data"]["object"]["id"] == ref
    # Header names are matched without regard to case, as HTTP has it.
    lowered = {k.lower(): v for k, v in headers.items()}
    assert (await stripe_gateway.parse_webhook(body, lowered)).charge_ref == ref


async def test_stripe_webhook_payment_failed_and_refunded(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.fail_intent(ref)
    body, headers = stripe_signed(fake_providers.stripe_event("payment_intent.payment_failed", ref))
    failed = await stripe_gateway.parse_webhook(body, headers)
    assert (failed.charge_ref, failed.status) == (ref, "failed")

    fake_providers.pay_intent(ref)
    await stripe_gateway.refund(ref, amount=999, currency="EUR", idempotency_key="r1")
    body, headers = stripe_signed(fake_providers.stripe_event("charge.refunded", ref))
    partly = await stripe_gateway.parse_webhook(body, headers)
    assert (partly.charge_ref, partly.status, partly.amount) == (ref, "succeeded", 999)

    await stripe_gateway.refund(ref, amount=1000, currency="EUR", idempotency_key="r2")
    body, headers = stripe_signed(fake_providers.stripe_event("charge.refunded", ref))
    fully = await stripe_gateway.parse_webhook(body, headers)
    assert (fully.charge_ref, fully.status, fully.amount, fully.currency) == (ref, "refunded", 1999, "EUR")


async def test_stripe_webhook_other_types_carry_no_status(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    body, headers = stripe_signed(fake_providers.stripe_event("payment_intent.created", ref))
    parsed = await stripe_gateway.parse_webhook(body, headers)
    assert (parsed.type, parsed.charge_ref, parsed.status) == ("payment_intent.created", None, None)


async def test_stripe_webhook_rejections(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await _stripe_charge(stripe_gateway)
    fake_providers.pay_intent(ref)
    event = fake_providers.stripe_event("payment_intent.succeeded", ref)

    body, headers = stripe_signed(event, "whsec_someone_else")
    with pytest.raises(WebhookRejected):
        await stripe_gateway.parse_webhook(body, headers)

    body, headers = stripe_signed(event)
    tampered = body.replace(b'"amount_received": 1999', b'"amount_received": 1')
    assert tampered != body
    with pytest.raises(WebhookRejected):
        await stripe_gateway.parse_webhook(tampered, headers)

    with pytest.raises(WebhookRejected):
        await stripe_gateway.parse_webhook(body, {"Content-Type": "application/json"})
    with pytest.raises(WebhookRejected):
        await stripe_gateway.parse_webhook(body, {"Stripe-Signature": "garbage"})

    stale_body, stale_headers = stripe_signed(event, timestamp=int(time.time()) - 3600)
    with pytest.raises(WebhookRejected):
        await stripe_gateway.parse_webhook(stale_body, stale_headers)

    unconfigured = StripeGateway(fake_providers.stripe_secret_key, None, api_base=fake_providers.url)
    try:
        with pytest.raises(WebhookRejected):
            await unconfigured.parse_webhook(body, headers)
    finally:
        await unconfigured.aclose()


# -- Stripe Connect payouts --------------------------------------------------------------------


@pytest.fixture
async def stripe_payouts(fake_providers: FakeProviders) -> AsyncIterator[StripeConnectPayouts]:
    payouts = StripeConnectPayouts(fake_providers.stripe_secret_key, api_base=fake_providers.url)
    yield payouts
    await payouts.aclose()


async def test_stripe_connect_payout(
    stripe_payouts: StripeConnectPayouts, fake_providers: FakeProviders
) -> None:
    result = await stripe_payouts.send(
        payout_id="po_1", amount=4200, currency="EUR", destination={"stripe_account": "acct_123"}
    )
    assert result.status == "paid"
    assert result.ref is not None and result.ref.startswith("tr_")
    transfer = fake_providers.transfers[result.ref]
    assert (transfer["destination"], transfer["amount"], transfer["currency"]) == ("acct_123", 4200, "eur")
    assert transfer["metadata"] == {"payout_id": "po_1"}
    (request,) = fake_providers.requests_to("/v1/transfers")
    assert request.headers["idempotency-key"] == "payout-po_1"
    # Sending the same payout again moves no more money.
    again = await stripe_payouts.send(
        payout_id="po_1", amount=4200, currency="EUR", destination={"stripe_account": "acct_123"}
    )
    assert again.ref == result.ref
    assert len(fake_providers.transfers) == 1


async def test_stripe_connect_payout_errors(
    stripe_payouts: StripeConnectPayouts, fake_providers: FakeProviders
) -> None:
    with pytest.raises(ProviderError):
        await stripe_payouts.send(payout_id="po_2", amount=100, currency="EUR", destination={"iban": "DE89"})
    with pytest.raises(ProviderError):
        await stripe_payouts.send(
            payout_id="po_3", amount=100, currency="EUR", destination={"stripe_account": "not-an-account"}
        )
    fake_providers.fail_next("stripe", status=400, code="balance_insufficient", message="Insufficient funds")
    with pytest.raises(ProviderError):
        await stripe_payouts.send(
            payout_id="po_4", amount=100, currency="EUR", destination={"stripe_account": "acct_123"}
        )
    assert fake_providers.transfers == {}


# -- PayPal ------------------------------------------------------------------------------------


@pytest.fixture
def paypal_gateway(fake_providers: FakeProviders) -> PaypalGateway:
    return PaypalGateway(
        fake_providers.paypal_client_id,
        fake_providers.paypal_client_secret,
        "sandbox",
        fake_providers.paypal_webhook_id,
        base_url=fake_providers.url,
    )


async def _paypal_order(gateway: PaypalGateway, amount: int = 1999, currency: str = "EUR") -> str:
    charge = await gateway.create_charge(
        amount=amount,
        currency=currency,
        reference="pay_7",
        description="Delivery",
        idempotency_key="pp-create",
    )
    return charge.ref


def test_paypal_amounts() -> None:
    assert to_paypal_value(1999, "EUR") == "19.99"
    assert to_paypal_value(5, "usd") == "0.05"
    assert to_paypal_value(500, "JPY") == "500"
    assert to_paypal_value(150000, "HUF") == "1500"
    with pytest.raises(ProviderError):
        to_paypal_value(150050, "HUF")
    assert from_paypal_value("19.99", "EUR") == 1999
    assert from_paypal_value("500", "JPY") == 500
    assert from_paypal_value("1.500", "KWD") == 1500


async def test_paypal_create_charge(paypal_gateway: PaypalGateway, fake_providers: FakeProviders) -> None:
    charge = await paypal_gateway.create_charge(
        amount=1999, currency="EUR", reference="pay_42", description="Delivery job_1", idempotency_key="pp-1"
    )
    assert charge.status == "pending"
    assert (charge.amount, charge.currency) == (1999, "EUR")
    assert charge.approve_url == f"{fake_providers.url}/checkoutnow?token={charge.ref}"
    order = fake_providers.orders[charge.ref]
    assert order["intent"] == "CAPTURE"
    (unit,) = order["purchase_units"]
    assert unit["amount"] == {"currency_code": "EUR", "value": "19.99"}
    assert (unit["reference_id"], unit["custom_id"], unit["description"]) == (
        "pay_42",
        "pay_42",
        "Delivery job_1",
    )
    (request,) = fake_providers.requests_to("/v2/checkout/orders", "POST")
    assert request.headers["paypal-request-id"] == "pp-1"
    assert request.headers["authorization"].startswith("Bearer ")
    assert len(fake_providers.requests_to("/v1/oauth2/token")) == 1


async def test_paypal_create_is_idempotent(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    first = await _paypal_order(paypal_gateway)
    assert await _paypal_order(paypal_gateway) == first
    assert len(fake_providers.orders) == 1


async def test_paypal_zero_decimal_currency(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await _paypal_order(paypal_gateway, amount=500, currency="JPY")
    assert fake_providers.orders[ref]["purchase_units"][0]["amount"] == {
        "currency_code": "JPY",
        "value": "500",
    }
    fake_providers.approve_order(ref)
    captured = await paypal_gateway.confirm_charge(ref)
    assert (captured.status, captured.amount, captured.currency) == ("succeeded", 500, "JPY")


async def test_paypal_capture_before_approval_is_a_provider_error(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await _paypal_order(paypal_gateway)
    with pytest.raises(ProviderError, match="ORDER_NOT_APPROVED"):
        await paypal_gateway.confirm_charge(ref)
    assert fake_providers.orders[ref]["status"] == "CREATED"


async def test_paypal_approve_then_capture(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    charge = await paypal_gateway.create_charge(
        amount=1999, currency="EUR", reference="pay_7", description="Delivery", idempotency_key="k"
    )
    assert charge.approve_url is not None
    # The buyer follows the approval link (the fake serves it).
    async with httpx.AsyncClient() as client:
        assert (await client.get(charge.approve_url)).status_code == 200
    captured = await paypal_gateway.confirm_charge(charge.ref)
    assert (captured.ref, captured.status, captured.amount, captured.currency) == (
        charge.ref,
        "succeeded",
        1999,
        "EUR",
    )
    assert captured.approve_url is None
    assert fake_providers.orders[charge.ref]["status"] == "COMPLETED"
    assert len(fake_providers.captures) == 1

    # Capturing again: PayPal says ORDER_ALREADY_CAPTURED, the adapter reads the order instead.
    again = await paypal_gateway.confirm_charge(charge.ref)
    assert (again.status, again.amount) == ("succeeded", 1999)
    assert len(fake_providers.captures) == 1
    assert len(fake_providers.requests_to(f"/v2/checkout/orders/{charge.ref}/capture")) == 2
    assert len(fake_providers.requests_to(f"/v2/checkout/orders/{charge.ref}", "GET")) == 1


async def test_paypal_refund(paypal_gateway: PaypalGateway, fake_providers: FakeProviders) -> None:
    ref = await _paypal_order(paypal_gateway)
    with pytest.raises(ProviderError):
        await paypal_gateway.refund(ref, amount=500, currency="EUR", idempotency_key="too-early")
    fake_providers.approve_order(ref)
    await paypal_gateway.confirm_charge(ref)

    refund_id = await paypal_gateway.refund(ref, amount=500, currency="EUR", idempotency_key="refund-1")
    refund = fake_providers.paypal_refunds[refund_id]
    assert refund["amount"] == {"currency_code": "EUR", "value": "5.00"}
    (capture_id,) = fake_providers.captures
    assert refund["_capture_id"] == capture_id
    (request,) = fake_providers.requests_to(f"/v2/payments/captures/{capture_id}/refund")
    assert request.headers["paypal-request-id"] == "refund-1"
    assert (await paypal_gateway.confirm_charge(ref)).status == "succeeded"

    with pytest.raises(ProviderError, match="REFUND_AMOUNT_EXCEEDED"):
        await paypal_gateway.refund(ref, amount=5000, currency="EUR", idempotency_key="refund-2")
    await paypal_gateway.refund(ref, amount=1499, currency="EUR", idempotency_key="refund-3")
    assert (await paypal_gateway.confirm_charge(ref)).status == "refunded"


async def test_paypal_provider_errors(paypal_gateway: PaypalGateway, fake_providers: FakeProviders) -> None:
    fake_providers.fail_next("paypal")
    with pytest.raises(ProviderError, match="INSTRUMENT_DECLINED"):
        await _paypal_order(paypal_gateway)
    assert fake_providers.orders == {}
    with pytest.raises(ProviderError):
        await paypal_gateway.confirm_charge("NOSUCHORDER")


async def test_paypal_bad_credentials_are_a_provider_error(fake_providers: FakeProviders) -> None:
    gateway = PaypalGateway(
        fake_providers.paypal_client_id,
        "wrong-secret",
        "sandbox",
        fake_providers.paypal_webhook_id,
        base_url=fake_providers.url,
    )
    with pytest.raises(ProviderError) as raised:
        await _paypal_order(gateway)
    assert "wrong-secret" not in str(raised.value)
    assert fake_providers.orders == {}


async def _captured_order(gateway: PaypalGateway, fake: FakeProviders) -> str:
    ref = await _paypal_order(gateway)
    fake.approve_order(ref)
    await gateway.confirm_charge(ref)
    return ref


async def test_paypal_webhook_capture_completed(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await _captured_order(paypal_gateway, fake_providers)
    event = fake_providers.paypal_event("PAYMENT.CAPTURE.COMPLETED", ref)
    body, headers = fake_providers.paypal_signed(event)
    parsed = await paypal_gateway.parse_webhook(body, headers)
    assert parsed.id == event["id"]
    assert (parsed.type, parsed.charge_ref, parsed.status) == ("PAYMENT.CAPTURE.COMPLETED", ref, "succeeded")
    assert (parsed.amount, parsed.currency) == (1999, "EUR")
    # The event went back to PayPal byte for byte, with the configured webhook id.
    (verify,) = fake_providers.requests_to("/v1/notifications/verify-webhook-signature")
    assert body in verify.body
    sent = json.loads(verify.body)
    assert sent["webhook_id"] == fake_providers.paypal_webhook_id
    assert sent["transmission_sig"] == headers["PAYPAL-TRANSMISSION-SIG"]


async def test_paypal_webhook_other_events(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await _paypal_order(paypal_gateway)
    fake_providers.approve_order(ref)
    body, headers = fake_providers.paypal_signed(fake_providers.paypal_event("CHECKOUT.ORDER.APPROVED", ref))
    approved = await paypal_gateway.parse_webhook(body, headers)
    assert (approved.charge_ref, approved.status, approved.amount) == (ref, "pending", 1999)

    body, headers = fake_providers.paypal_signed(fake_providers.paypal_event("PAYMENT.CAPTURE.DENIED", ref))
    denied = await paypal_gateway.parse_webhook(body, headers)
    assert (denied.charge_ref, denied.status) == (ref, "failed")

    await paypal_gateway.confirm_charge(ref)
    await paypal_gateway.refund(ref, amount=999, currency="EUR", idempotency_key="r1")
    body, headers = fake_providers.paypal_signed(fake_providers.paypal_event("PAYMENT.CAPTURE.REFUNDED", ref))
    partly = await paypal_gateway.parse_webhook(body, headers)
    assert (partly.charge_ref, partly.status, partly.amount) == (ref, "succeeded", 999)

    await paypal_gateway.refund(ref, amount=1000, currency="EUR", idempotency_key="r2")
    body, headers = fake_providers.paypal_signed(fake_providers.paypal_event("PAYMENT.CAPTURE.REFUNDED", ref))
    fully = await paypal_gateway.parse_webhook(body, headers)
    assert (fully.charge_ref, fully.status, fully.amount, fully.currency) == (ref, "refunded", 1999, "EUR")

    body, headers = fake_providers.paypal_signed(fake_providers.paypal_event("CHECKOUT.ORDER.SAVED", ref))
    other = await paypal_gateway.parse_webhook(body, headers)
    assert (other.type, other.charge_ref, other.status) == ("CHECKOUT.ORDER.SAVED", None, None)


async def test_paypal_webhook_forgeries(paypal_gateway: PaypalGateway, fake_providers: FakeProviders) -> None:
    ref = await _captured_order(paypal_gateway, fake_providers)
    event = fake_providers.paypal_event("PAYMENT.CAPTURE.COMPLETED", ref)
    body, headers = fake_providers.paypal_signed(event)

    forged = {**headers, "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"}
    with pytest.raises(WebhookRejected):
        await paypal_gateway.parse_webhook(body, forged)

    tampered = json.dumps(
        {**event, "resource": {**event["resource"], "amount": {"currency_code": "EUR", "value": "0.01"}}}
    )
    with pytest.raises(WebhookRejected):
        await paypal_gateway.parse_webhook(tampered.encode(), headers)

    # Signed for another webhook: PayPal verifies against the configured id.
    other_body, other_headers = fake_providers.paypal_signed(event, webhook_id="WH-SOMEONE-ELSE")
    with pytest.raises(WebhookRejected):
        await paypal_gateway.parse_webhook(other_body, other_headers)

    verifications = len(fake_providers.requests_to("/v1/notifications/verify-webhook-signature"))
    missing = {k: v for k, v in headers.items() if k != "PAYPAL-TRANSMISSION-SIG"}
    with pytest.raises(WebhookRejected):
        await paypal_gateway.parse_webhook(body, missing)
    with pytest.raises(WebhookRejected):
        await paypal_gateway.parse_webhook(b"not json", headers)
    assert len(fake_providers.requests_to("/v1/notifications/verify-webhook-signature")) == verifications

    unconfigured = PaypalGateway(
        fake_providers.paypal_client_id,
        fake_providers.paypal_client_secret,
        "sandbox",
        None,
        base_url=fake_providers.url,
    )
    with pytest.raises(WebhookRejected):
        await unconfigured.parse_webhook(body, headers)


async def test_paypal_webhook_token_is_reused(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await _captured_order(paypal_gateway, fake_providers)
    tokens_before = len(fake_providers.requests_to("/v1/oauth2/token"))
    for _ in range(2):
        body, headers = fake_providers.paypal_signed(
            fake_providers.paypal_event("PAYMENT.CAPTURE.COMPLETED", ref)
        )
        await paypal_gateway.parse_webhook(body, headers)
    assert len(fake_providers.requests_to("/v1/oauth2/token")) == tokens_before + 1


# -- configuration -----------------------------------------------------------------------------


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, env="test", **values)


def test_build_payment_gateways(fake_providers: FakeProviders) -> None:
    assert build_payment_gateways(_settings()) == {}
    gateways = build_payment_gateways(
        _settings(
            stripe_secret_key=fake_providers.stripe_secret_key,
            stripe_api_base=fake_providers.url,
            paypal_client_id=fake_providers.paypal_client_id,
            paypal_client_secret=fake_providers.paypal_client_secret,
            paypal_base_url=fake_providers.url,
        )
    )
    assert sorted(gateways) == ["paypal", "stripe"]
    assert isinstance(gateways["stripe"], StripeGateway)
    assert isinstance(gateways["paypal"], PaypalGateway)
    only_paypal_id = build_payment_gateways(_settings(paypal_client_id="id-without-secret"))
    assert only_paypal_id == {}


async def test_built_gateways_reach_the_configured_base(fake_providers: FakeProviders) -> None:
    gateways = build_payment_gateways(
        _settings(
            stripe_secret_key=fake_providers.stripe_secret_key,
            stripe_api_base=fake_providers.url,
            paypal_client_id=fake_providers.paypal_client_id,
            paypal_client_secret=fake_providers.paypal_client_secret,
            paypal_base_url=fake_providers.url,
        )
    )
    for gateway in gateways.values():
        charge = await gateway.create_charge(
            amount=100,
            currency="EUR",
            reference="pay_x",
            description="d",
            idempotency_key=f"k-{gateway.name}",
        )
        assert charge.status == "pending"
    assert len(fake_providers.intents) == 1
    assert len(fake_providers.orders) == 1
    stripe_gateway = gateways["stripe"]
    assert isinstance(stripe_gateway, StripeGateway)
    await stripe_gateway.aclose()


def test_build_payout_gateway(fake_providers: FakeProviders) -> None:
    assert isinstance(build_payout_gateway(_settings()), ManualPayouts)
    payouts = build_payout_gateway(
        _settings(payout_provider="stripe", stripe_secret_key="sk_test_x", stripe_api_base=fake_providers.url)
    )
    assert isinstance(payouts, StripeConnectPayouts)
    with pytest.raises(RuntimeError):
        build_payout_gateway(_settings(payout_provider="stripe"))


async def test_default_provider_addresses_are_refused_in_tests() -> None:
    """Without a base address the SDKs aim at the real APIs, which the guard refuses: the
    adapters report that as a ProviderError."""
    stripe_gateway = StripeGateway("sk_test_x", None, max_network_retries=0)
    try:
        with pytest.raises(ProviderError, match="could not be reached"):
            await _stripe_charge(stripe_gateway)
    finally:
        await stripe_gateway.aclose()
    paypal_gateway = PaypalGateway("id", "secret", "sandbox", "WH-1")
    with pytest.raises(ProviderError, match="could not be reached"):
        await _paypal_order(paypal_gateway)
