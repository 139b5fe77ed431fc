"""The PayPal adapter, orders, captures, refunds and webhooks, against the local fake."""

from __future__ import annotations

import json

import httpx
import pytest

from logistics.payments.currency import from_paypal_value, to_paypal_value
from logistics.payments.gateway import ProviderError, WebhookRejected
from logistics.payments.paypal_gateway import PaypalGateway
from tests.fake_providers import FakeProviders, no_network
from tests.gateway_helpers import paypal_order

# Every test here runs behind the socket guard, so no request can leave the machine.
no_network = no_network


@pytest.fixture
def paypal_gateway(fake_providers: FakeProviders) -> PaypalGateway:
    return PaypalGateway(
        fake_providers.paypal_client_id,
        fake_providers.paypal_client_secret,
        "sandbox",
        fake_providers.paypal_webhook_id,
        base_url=fake_providers.url,
    )


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
    first = await paypal_order(paypal_gateway)
    assert await paypal_order(paypal_gateway) == first
    assert len(fake_providers.orders) == 1


async def test_paypal_zero_decimal_currency(
    paypal_gateway: PaypalGateway, fake_providers: FakeProviders
) -> None:
    ref = await paypal_order(paypal_gateway, amount=500, currency="JPY")
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
    ref = await paypal_order(paypal_gateway)
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
    ref = await paypal_order(paypal_gateway)
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
        await paypal_order(paypal_gateway)
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
        await paypal_order(gateway)
    assert "wrong-secret" not in str(raised.value)
    assert fake_providers.orders == {}


async def _captured_order(gateway: PaypalGateway, fake: FakeProviders) -> str:
    ref = await paypal_order(gateway)
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
    ref = await paypal_order(paypal_gateway)
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
