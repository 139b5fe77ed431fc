"""Refunds of paid orders: cancelling one, a payment arriving after the cancellation, a second payment."""

from __future__ import annotations

import pytest

from logistics.config import Settings
from logistics.platform import Platform
from tests import payment_helpers
from tests.factories import Api
from tests.fake_providers import FakeProviders, no_network, stripe_signed
from tests.payment_helpers import (
    card_order,
    db_rows,
    intent_of,
    paid_order,
    postings,
    statuses,
    stripe_intent,
)

# No connection leaves the machine: only the loopback fake (and the test database) answer.
no_network = no_network
# Stripe and PayPal configured against the fake, as fixtures of this module.
providers_on = payment_helpers.providers_on
settings = payment_helpers.settings

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def test_an_order_paid_twice_keeps_one_payment_and_refunds_the_other(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given an order the customer started paying with both Stripe and PayPal, and paid with both
    order = await card_order(api, "cust-twice")
    stripe = await api.ok("POST", "/stripe/intent", "cust-twice", 201, json={"job_id": order["id"]})
    paypal = await api.ok("POST", "/paypal/create", "cust-twice", 201, json={"job_id": order["id"]})
    fake.pay_intent(intent_of(fake, stripe["payment_id"]))
    fake.approve_order(paypal["order_id"])
    await api.ok("POST", "/stripe/verify", "cust-twice", json={"payment_id": stripe["payment_id"]})

    # When the second payment is captured too
    second = await api.ok("POST", "/paypal/capture", "cust-twice", json={"payment_id": paypal["payment_id"]})

    # Then it goes straight back through PayPal, and the order stays paid by the first
    assert second["status"] == "refunded"
    [refund] = fake.paypal_refunds.values()
    assert refund["_order_id"] == paypal["order_id"]
    assert refund["amount"]["value"] == f"{order['price']['amount'] / 100:.2f}"
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-twice")
    assert job["status"] == "searching" and job["payment"]["status"] == "paid"
    assert statuses(job) == ["awaiting_payment", "searching"]

    # And cancelling now refunds the first payment through Stripe, in full
    cancelled = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-twice", json={})
    assert cancelled["cancellation"]["refund"] == order["price"]
    assert [r["amount"] for r in fake.stripe_refunds.values()] == [order["price"]["amount"]]
    [(held,)] = await db_rows(
        platform,
        "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = 'prepaid_jobs' AND owner_id = :job",
        job=order["id"],
    )
    assert held == 0


async def test_cancelling_after_acceptance_refunds_the_price_less_the_fee(
    api: Api, fake: FakeProviders, settings: Settings, platform: Platform
) -> None:
    # Given a paid order a driver has accepted
    driver = await api.register_driver("drv-1")
    order = await paid_order(api, fake, "cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])

    # When the customer cancels
    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "changed my mind"})

    # Then the fee is kept and the rest goes back through Stripe
    price = order["price"]["amount"]
    fee = min(settings.default_region.cancellation_fee, price)
    assert job["status"] == "cancelled"
    assert job["cancellation"] == {
        "by": "customer",
        "reason": "changed my mind",
        "fee": {"amount": fee, "currency": "EUR"},
        "refund": {"amount": price - fee, "currency": "EUR"},
    }
    assert job["payment"]["status"] == "refunded"
    [refund] = fake.stripe_refunds.values()
    assert refund["amount"] == price - fee
    assert refund["payment_intent"] in fake.intents
    # And the driver's share of the fee is in its balance
    share = fee * settings.default_region.cancellation_driver_share_bps // 10_000
    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["balance"] == {"amount": share, "currency": "EUR"}
    assert [line["type"] for line in history["items"]] == ["cancellation_fee"]
    assert await postings(platform, order["id"], "cancellation") == 1


async def test_cancelling_a_paid_order_before_acceptance_refunds_it_all(
    api: Api, fake: FakeProviders
) -> None:
    order = await paid_order(api, fake, "cust-1")
    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})
    assert job["cancellation"]["fee"] == {"amount": 0, "currency": "EUR"}
    assert job["cancellation"]["refund"] == order["price"]
    assert [r["amount"] for r in fake.stripe_refunds.values()] == [order["price"]["amount"]]
    # Cancelling again is a retried request: no second refund.
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})
    assert len(fake.stripe_refunds) == 1


async def test_cancelling_a_paypal_order_refunds_through_paypal(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-pp", method="paypal")
    start = await api.ok("POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"]})
    fake.approve_order(start["order_id"])
    await api.ok("POST", "/paypal/capture", "cust-pp", json={"payment_id": start["payment_id"]})

    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-pp", json={})

    assert job["cancellation"]["refund"] == order["price"]
    [refund] = fake.paypal_refunds.values()
    assert refund["_order_id"] == start["order_id"]
    assert refund["amount"]["currency_code"] == "EUR"


async def test_cancelling_an_unpaid_card_order_refunds_nothing(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    await api.ok("POST", f"/orders/{order['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"})
    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})
    assert job["cancellation"]["fee"]["amount"] == 0 and job["cancellation"]["refund"]["amount"] == 0
    assert fake.stripe_refunds == {}


async def test_a_payment_arriving_after_the_order_was_cancelled_goes_back(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given a customer who cancelled while Stripe was still taking the money
    order, intent_id = await stripe_intent(api, fake, "cust-late")
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-late", json={})
    fake.pay_intent(intent_id)

    # When Stripe's webhook reports the payment
    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))
    assert (await api.client.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200

    # Then it is refunded in full and the order stays cancelled
    [refund] = fake.stripe_refunds.values()
    assert refund["amount"] == order["price"]["amount"]
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-late")
    assert job["status"] == "cancelled" and job["payment"]["status"] == "refunded"
    assert await postings(platform, order["id"], "refund") == 1
