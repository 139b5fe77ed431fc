"""The Stripe adapter, payments and Connect payouts, through the real SDK against the local fake."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from logistics.payments.gateway import ProviderError, WebhookRejected
from logistics.payments.stripe_gateway import StripeConnectPayouts, StripeGateway
from tests.fake_providers import FakeProviders, no_network, stripe_signed
from tests.gateway_helpers import stripe_charge

# Every test here runs behind the socket guard, so no request can leave the machine.
no_network = no_network

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
async def stripe_gateway(fake_providers: FakeProviders) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(
        fake_providers.stripe_secret_key, fake_providers.stripe_webhook_secret, api_base=fake_providers.url
    )
    yield gateway
    await gateway.aclose()


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
    ref = await stripe_charge(stripe_gateway, amount=500, currency="JPY")
    assert fake_providers.intents[ref]["amount"] == 500
    assert fake_providers.intents[ref]["currency"] == "jpy"


async def test_stripe_confirm_follows_the_intent(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await stripe_charge(stripe_gateway)
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
    ref = await stripe_charge(stripe_gateway)
    fake_providers.intents[ref]["status"] = stripe_status
    assert (await stripe_gateway.confirm_charge(ref)).status == status


async def test_stripe_declined_card_stays_pending_and_cancel_fails(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await stripe_charge(stripe_gateway)
    fake_providers.fail_intent(ref)
    assert (await stripe_gateway.confirm_charge(ref)).status == "pending"
    fake_providers.fail_intent(ref, cancel=True)
    assert (await stripe_gateway.confirm_charge(ref)).status == "failed"


async def test_stripe_refund(stripe_gateway: StripeGateway, fake_providers: FakeProviders) -> None:
    ref = await stripe_charge(stripe_gateway)
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
    ref = await stripe_charge(stripe_gateway)
    with pytest.raises(ProviderError):
        await stripe_gateway.refund(ref, amount=100, currency="EUR", idempotency_key="r")


async def test_stripe_provider_errors(stripe_gateway: StripeGateway, fake_providers: FakeProviders) -> None:
    fake_providers.fail_next("stripe")
    with pytest.raises(ProviderError, match="declined"):
        await stripe_charge(stripe_gateway)
    assert fake_providers.intents == {}
    with pytest.raises(ProviderError):
        await stripe_gateway.confirm_charge("pi_missing")
    fake_providers.fail_next("stripe", status=500, code="api_error", message="boom")
    with pytest.raises(ProviderError):
        await stripe_charge(stripe_gateway)


async def test_stripe_bad_key_is_a_provider_error_without_the_key(fake_providers: FakeProviders) -> None:
    gateway = StripeGateway("sk_test_wrong_secret_value", None, api_base=fake_providers.url)
    try:
        with pytest.raises(ProviderError) as raised:
            await stripe_charge(gateway)
        assert "sk_test_wrong_secret_value" not in str(raised.value)
    finally:
        await gateway.aclose()


async def test_stripe_webhook_payment_succeeded(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await stripe_charge(stripe_gateway)
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
    ref = await stripe_charge(stripe_gateway)
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
    ref = await stripe_charge(stripe_gateway)
    body, headers = stripe_signed(fake_providers.stripe_event("payment_intent.created", ref))
    parsed = await stripe_gateway.parse_webhook(body, headers)
    assert (parsed.type, parsed.charge_ref, parsed.status) == ("payment_intent.created", None, None)


async def test_stripe_webhook_rejections(
    stripe_gateway: StripeGateway, fake_providers: FakeProviders
) -> None:
    ref = await stripe_charge(stripe_gateway)
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
