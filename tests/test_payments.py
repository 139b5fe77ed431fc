"""Paying for a delivery through Stripe and PayPal as the app does, over REST and GraphQL."""

from __future__ import annotations

import httpx
import pytest

from logistics.platform import Platform
from tests import payment_helpers
from tests.factories import MITTE, Api, quote_body
from tests.fake_providers import FakeProviders, no_network, stripe_signed
from tests.graphql_helpers import GraphQL
from tests.payment_helpers import (
    STRIPE_PUBLISHABLE_KEY,
    card_order,
    completed_card_job,
    error_of,
    intent_of,
    postings,
    statuses,
)

# No connection leaves the machine: only the loopback fake (and the test database) answer.
no_network = no_network
# Stripe and PayPal configured against the fake, as fixtures of this module.
providers_on = payment_helpers.providers_on
settings = payment_helpers.settings

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


# --- Stripe, driven by the client ------------------------------------------------------------


async def test_a_stripe_order_waits_for_payment_outside_every_feed(api: Api, fake: FakeProviders) -> None:
    # Given a driver online nearby and a customer who books with Stripe
    driver = await api.register_driver("drv-feed")
    order = await card_order(api, "cust-1")

    # Then the order waits for its payment, and no driver can see it
    assert order["status"] == "awaiting_payment"
    assert order["payment"] == {"method": "stripe", "status": "unpaid"}
    assert statuses(order) == ["awaiting_payment"]
    feed = await api.ok("GET", "/jobs/available", driver["sub"], params=MITTE)
    assert order["id"] not in [job["id"] for job in feed["items"]]
    error_of(await api.call("PUT", f"/jobs/{order['id']}/accept", driver["sub"]), 404, "NOT_FOUND")


@pytest.mark.parametrize("confirm", ["/stripe/verify", "/orders/{job}/complete-payment"])
async def test_a_stripe_payment_moves_the_order_to_searching_once_paid(
    api: Api, fake: FakeProviders, platform: Platform, confirm: str
) -> None:
    # Given a Stripe order and a driver who will see the feed
    driver = await api.register_driver("drv-1")
    order = await card_order(api, "cust-1")
    job_id = order["id"]

    # When the customer starts paying
    start = await api.ok("POST", f"/orders/{job_id}/payment-intent", "cust-1", 201, json={"method": "stripe"})

    # Then the app gets the intent's client secret for the order's price
    assert start["provider"] == "stripe" and start["status"] == "pending"
    assert start["amount"] == order["price"]
    intent_id = intent_of(fake, start["payment_id"])
    assert start["client_secret"] == fake.intents[intent_id]["client_secret"]
    assert fake.intents[intent_id]["amount"] == order["price"]["amount"]

    # When the app confirms before Stripe has the money, nothing moves
    early = await api.ok("POST", "/stripe/verify", "cust-1", json={"payment_id": start["payment_id"]})
    assert early["status"] == "pending" and early["provider_ref"] == intent_id
    still = await api.ok("GET", f"/jobs/{job_id}", "cust-1")
    assert still["status"] == "awaiting_payment" and still["payment"]["status"] == "unpaid"

    # When the customer pays and the app confirms
    fake.pay_intent(intent_id)
    path = confirm.format(job=job_id)
    answer = await api.ok("POST", path, "cust-1", json={"payment_id": start["payment_id"]})
    if path == "/stripe/verify":
        assert answer["status"] == "succeeded" and answer["job_id"] == job_id
        assert answer["amount"] == order["price"] and answer["purpose"] == "delivery"
    else:
        assert answer["status"] == "searching"

    # Then the order is paid and searching, moved by the system, and in the feed
    job = await api.ok("GET", f"/jobs/{job_id}", "cust-1")
    assert job["status"] == "searching"
    assert job["payment"] == {"method": "stripe", "status": "paid"}
    assert statuses(job) == ["awaiting_payment", "searching"]
    assert job["timeline"][-1]["actor"] == "system"
    feed = await api.ok("GET", "/jobs/available", driver["sub"], params=MITTE)
    assert job_id in [item["id"] for item in feed["items"]]

    # And confirming again changes nothing: one payment in the ledger, one move
    again = await api.ok("POST", "/stripe/verify", "cust-1", json={"payment_id": start["payment_id"]})
    assert again["status"] == "succeeded"
    await api.ok(
        "POST", f"/orders/{job_id}/complete-payment", "cust-1", json={"payment_id": start["payment_id"]}
    )
    assert statuses(await api.ok("GET", f"/jobs/{job_id}", "cust-1")) == ["awaiting_payment", "searching"]
    assert await postings(platform, job_id, "payment") == 1


async def test_a_second_payment_intent_reuses_the_pending_one(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    first = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"}
    )
    second = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]})
    assert second["payment_id"] == first["payment_id"]
    assert len(fake.intents) == 1


async def test_an_intent_paid_with_another_amount_is_never_accepted(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given an intent whose amount was changed at the provider before it was paid
    order = await card_order(api, "cust-1")
    start = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]})
    intent_id = intent_of(fake, start["payment_id"])
    fake.intents[intent_id]["amount"] = 1
    fake.pay_intent(intent_id)

    # When the client confirms it, through either path
    error_of(
        await api.call("POST", "/stripe/verify", "cust-1", json={"payment_id": start["payment_id"]}),
        402,
        "PAYMENT_FAILED",
    )
    error_of(
        await api.call(
            "POST",
            f"/orders/{order['id']}/complete-payment",
            "cust-1",
            json={"payment_id": start["payment_id"]},
        ),
        402,
        "PAYMENT_FAILED",
    )
    # or Stripe says so in a signed webhook
    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))
    response = await api.client.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text

    # Then the order is never paid for: it still waits, and the ledger took nothing
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert job["status"] == "awaiting_payment" and job["payment"]["status"] == "unpaid"
    assert await postings(platform, order["id"], "payment") == 0


async def test_a_declined_then_canceled_intent_does_not_pay(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    start = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]})
    intent_id = intent_of(fake, start["payment_id"])

    # A declined card leaves the intent open for another attempt
    fake.fail_intent(intent_id)
    pending = await api.ok("POST", "/stripe/verify", "cust-1", json={"payment_id": start["payment_id"]})
    assert pending["status"] == "pending"

    # A canceled intent is a failed payment
    fake.fail_intent(intent_id, cancel=True)
    error_of(
        await api.call("POST", "/stripe/verify", "cust-1", json={"payment_id": start["payment_id"]}),
        402,
        "PAYMENT_FAILED",
    )
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-1"))["status"] == "awaiting_payment"

    # And the customer is not stuck with the dead intent: the next attempt gets a new one
    retry = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"}
    )
    assert retry["payment_id"] != start["payment_id"]
    fake.pay_intent(intent_of(fake, retry["payment_id"]))
    job = await api.ok(
        "POST", f"/orders/{order['id']}/complete-payment", "cust-1", json={"payment_id": retry["payment_id"]}
    )
    assert job["status"] == "searching"


async def test_the_provider_refusing_the_intent_is_payment_failed(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    fake.fail_next("stripe")
    error_of(
        await api.call("POST", f"/orders/{order['id']}/payment-intent", "cust-1", json={"method": "stripe"}),
        402,
        "PAYMENT_FAILED",
    )
    # Nothing was kept of the refused attempt: the next one starts afresh and works.
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"}
    )
    assert start["client_secret"]


async def test_a_cash_order_and_a_searching_order_take_no_payment_intent(api: Api) -> None:
    cash = await api.order("cust-1")
    response = await api.call(
        "POST", f"/orders/{cash['id']}/payment-intent", "cust-1", json={"method": "stripe"}
    )
    body = error_of(response, 409, "INVALID_TRANSITION")
    assert body["details"]["status"] == "searching"
    response = await api.call(
        "POST", "/stripe/intent", "cust-1", json={"job_id": cash["id"], "purpose": "delivery"}
    )
    error_of(response, 409, "INVALID_TRANSITION")


async def test_a_delivery_is_paid_at_its_price(api: Api) -> None:
    order = await card_order(api, "cust-1")
    response = await api.call(
        "POST",
        "/stripe/intent",
        "cust-1",
        json={"job_id": order["id"], "purpose": "delivery", "amount": {"amount": 1, "currency": "EUR"}},
    )
    error_of(response, 422, "VALIDATION_FAILED")


# --- PayPal -------------------------------------------------------------------------------------


async def test_a_paypal_order_is_created_approved_and_captured(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given an order to be paid with PayPal
    order = await card_order(api, "cust-pp", method="paypal")
    assert order["status"] == "awaiting_payment"

    # When the app creates the PayPal order
    start = await api.ok(
        "POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"], "purpose": "delivery"}
    )
    assert start["provider"] == "paypal" and start["status"] == "pending"
    assert start["order_id"] in fake.orders
    assert start["approve_url"] == f"{fake.url}/checkoutnow?token={start['order_id']}"
    assert start["amount"] == order["price"]

    # Then capturing before the buyer approved is refused, and nothing moves
    response = await api.call("POST", "/paypal/capture", "cust-pp", json={"payment_id": start["payment_id"]})
    error_of(response, 402, "PAYMENT_FAILED")
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-pp"))["status"] == "awaiting_payment"

    # When the buyer approves at the approval link and the app captures
    fake.approve_order(start["order_id"])
    payment = await api.ok("POST", "/paypal/capture", "cust-pp", json={"payment_id": start["payment_id"]})

    # Then the payment succeeded and the order is searching
    assert payment["status"] == "succeeded" and payment["provider"] == "paypal"
    assert payment["provider_ref"] == start["order_id"]
    assert fake.orders[start["order_id"]]["status"] == "COMPLETED"
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-pp")
    assert job["status"] == "searching" and job["payment"] == {"method": "paypal", "status": "paid"}
    assert job["timeline"][-1] == {**job["timeline"][-1], "status": "searching", "actor": "system"}

    # And capturing again is answered without a second capture or posting
    again = await api.ok("POST", "/paypal/capture", "cust-pp", json={"payment_id": start["payment_id"]})
    assert again["status"] == "succeeded"
    assert len(fake.captures) == 1
    assert await postings(platform, order["id"], "payment") == 1


async def test_paypal_through_payment_intent_and_complete_payment(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-pp", method="paypal")
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-pp", 201, json={"method": "paypal"}
    )
    assert start["order_id"] and start["approve_url"] and start["client_secret"] is None
    response = await api.call(
        "POST", f"/orders/{order['id']}/complete-payment", "cust-pp", json={"payment_id": start["payment_id"]}
    )
    error_of(response, 402, "PAYMENT_FAILED")

    # The buyer visits the approval link (the fake serves it on loopback).
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(start["approve_url"])).status_code == 200

    job = await api.ok(
        "POST", f"/orders/{order['id']}/complete-payment", "cust-pp", json={"payment_id": start["payment_id"]}
    )
    assert job["status"] == "searching" and job["payment"]["status"] == "paid"


async def test_a_stripe_payment_is_not_captured_through_paypal(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    start = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]})
    response = await api.call("POST", "/paypal/capture", "cust-1", json={"payment_id": start["payment_id"]})
    error_of(response, 404, "NOT_FOUND")


# --- what the app is told at start -------------------------------------------------------------


async def test_stripe_config_and_init_list_the_configured_providers(api: Api, fake: FakeProviders) -> None:
    config = await api.ok("GET", "/stripe/config", "cust-1")
    assert config == {"publishable_key": STRIPE_PUBLISHABLE_KEY, "currency": "EUR", "country": "DE"}
    init = await api.ok("GET", "/init", "cust-1")
    assert init["payment"]["methods"] == ["cash", "paypal", "stripe"]
    assert init["payment"]["stripe"] == {"publishable_key": STRIPE_PUBLISHABLE_KEY}
    assert init["payment"]["paypal"] == {"client_id": fake.paypal_client_id, "environment": "sandbox"}
    # No secret reaches the app.
    for secret in (fake.stripe_secret_key, fake.stripe_webhook_secret, fake.paypal_client_secret):
        assert secret not in str(init) and secret not in str(config)


@pytest.mark.parametrize("providers_on", [False])
async def test_without_providers_only_cash_is_offered(api: Api, providers_on: bool) -> None:
    error_of(await api.call("GET", "/stripe/config", "cust-1"), 404, "NOT_FOUND")
    init = await api.ok("GET", "/init", "cust-1")
    assert init["payment"]["methods"] == ["cash"]
    assert init["payment"]["stripe"] is None and init["payment"]["paypal"] is None
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    response = await api.call(
        "POST", "/orders", "cust-1", json={"quote_id": quote["id"], "payment_method": "stripe"}
    )
    error_of(response, 422, "VALIDATION_FAILED")
    response = await api.client.post(
        "/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "t=1,v1=x"}
    )
    error_of(response, 404, "NOT_FOUND")


# --- Idempotency-Key ----------------------------------------------------------------------------


async def test_idempotency_key_on_stripe_intent_and_payment_intent(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-1")
    key = {"Idempotency-Key": "pay-1"}
    first = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]}, headers=key)
    again = await api.ok("POST", "/stripe/intent", "cust-1", 201, json={"job_id": order["id"]}, headers=key)
    same = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"}, headers=key
    )
    assert again == first and same == first
    assert len(fake.intents) == 1
    # The same key for another request (PayPal this time) is a conflict.
    response = await api.call("POST", "/paypal/create", "cust-1", json={"job_id": order["id"]}, headers=key)
    error_of(response, 409, "IDEMPOTENCY_CONFLICT")
    response = await api.call(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-1", json={"method": "paypal"}, headers=key
    )
    error_of(response, 409, "IDEMPOTENCY_CONFLICT")
    assert fake.orders == {}


async def test_idempotency_key_on_paypal_create(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-pp", method="paypal")
    key = {"Idempotency-Key": "pp-1"}
    first = await api.ok("POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"]}, headers=key)
    again = await api.ok("POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"]}, headers=key)
    assert again == first and len(fake.orders) == 1
    response = await api.call("POST", "/stripe/intent", "cust-pp", json={"job_id": order["id"]}, headers=key)
    error_of(response, 409, "IDEMPOTENCY_CONFLICT")


async def test_idempotency_key_on_tips(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-tip")
    job = await completed_card_job(api, fake, "cust-1", driver["sub"])
    key = {"Idempotency-Key": "tip-1"}
    body = {"amount": {"amount": 300, "currency": "EUR"}, "method": "stripe"}
    first = await api.ok("POST", f"/orders/{job['id']}/tip", "cust-1", 201, json=body, headers=key)
    again = await api.ok("POST", f"/orders/{job['id']}/tip", "cust-1", 201, json=body, headers=key)
    assert again == first
    tips = [i for i in fake.intents.values() if i["description"].startswith("tip")]
    assert len(tips) == 1
    other = {**body, "amount": {"amount": 500, "currency": "EUR"}}
    response = await api.call("POST", f"/orders/{job['id']}/tip", "cust-1", json=other, headers=key)
    error_of(response, 409, "IDEMPOTENCY_CONFLICT")
    # Without a key, each call is a new tip.
    third = await api.ok("POST", f"/orders/{job['id']}/tip", "cust-1", 201, json=body)
    assert third["payment_id"] != first["payment_id"]


# --- whose payment -----------------------------------------------------------------------------


async def test_another_customers_payment_is_not_found(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-a")
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-a", 201, json={"method": "stripe"}
    )
    fake.pay_intent(intent_of(fake, start["payment_id"]))
    mine = await card_order(api, "cust-b")

    for path in ("/stripe/verify", "/paypal/capture", f"/orders/{mine['id']}/complete-payment"):
        response = await api.call("POST", path, "cust-b", json={"payment_id": start["payment_id"]})
        error_of(response, 404, "NOT_FOUND")
    response = await api.call(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-b", json={"method": "stripe"}
    )
    error_of(response, 404, "NOT_FOUND")
    response = await api.call("POST", "/stripe/intent", "cust-b", json={"job_id": order["id"]})
    error_of(response, 404, "NOT_FOUND")
    # Nobody else's probing paid the order.
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-a"))["status"] == "awaiting_payment"


async def test_a_payment_completes_only_its_own_order(api: Api, fake: FakeProviders) -> None:
    first = await card_order(api, "cust-1")
    second = await card_order(api, "cust-1")
    start = await api.ok(
        "POST", f"/orders/{first['id']}/payment-intent", "cust-1", 201, json={"method": "stripe"}
    )
    fake.pay_intent(intent_of(fake, start["payment_id"]))
    response = await api.call(
        "POST", f"/orders/{second['id']}/complete-payment", "cust-1", json={"payment_id": start["payment_id"]}
    )
    error_of(response, 404, "NOT_FOUND")
    assert (await api.ok("GET", f"/jobs/{second['id']}", "cust-1"))["status"] == "awaiting_payment"


# --- GraphQL --------------------------------------------------------------------------------------

CREATE_PAYMENT_INTENT = """
mutation Pay($jobId: ID!, $method: CardOrWallet!) {
  createPaymentIntent(jobId: $jobId, method: $method) {
    paymentId provider status clientSecret orderId approveUrl amount { amount currency }
  }
}
"""
COMPLETE_PAYMENT = """
mutation Complete($jobId: ID!, $paymentId: ID!) {
  completePayment(jobId: $jobId, paymentId: $paymentId) {
    id status payment { method status } timeline { status actor }
  }
}
"""
VERIFY_STRIPE = """
mutation Verify($paymentId: ID!) {
  verifyStripePayment(paymentId: $paymentId) { id status provider providerRef amount { amount currency } }
}
"""
STRIPE_CONFIG = "query { stripeConfig { publishableKey currency country } }"


async def test_paying_over_graphql(api: Api, gql: GraphQL, fake: FakeProviders) -> None:
    # Given a Stripe order
    order = await card_order(api, "cust-gql")

    # When the app starts the payment over GraphQL
    data = await gql.ok("cust-gql", CREATE_PAYMENT_INTENT, {"jobId": order["id"], "method": "STRIPE"})
    start = data["createPaymentIntent"]
    assert start["provider"] == "STRIPE" and start["status"] == "PENDING"
    assert start["amount"] == order["price"] and start["clientSecret"]

    # Then completing it before the money arrived leaves the order waiting
    waiting = await gql.ok(
        "cust-gql", COMPLETE_PAYMENT, {"jobId": order["id"], "paymentId": start["paymentId"]}
    )
    assert waiting["completePayment"]["status"] == "AWAITING_PAYMENT"

    # When the customer pays and the app completes
    fake.pay_intent(intent_of(fake, start["paymentId"]))
    done = await gql.ok("cust-gql", COMPLETE_PAYMENT, {"jobId": order["id"], "paymentId": start["paymentId"]})

    # Then the order is searching, moved by the system, and REST agrees
    job = done["completePayment"]
    assert job["status"] == "SEARCHING" and job["payment"] == {"method": "STRIPE", "status": "PAID"}
    assert job["timeline"][-1] == {"status": "SEARCHING", "actor": "SYSTEM"}
    verified = await gql.ok("cust-gql", VERIFY_STRIPE, {"paymentId": start["paymentId"]})
    assert verified["verifyStripePayment"]["status"] == "SUCCEEDED"
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-gql"))["status"] == "searching"
    config = await gql.ok("cust-gql", STRIPE_CONFIG)
    assert config["stripeConfig"]["publishableKey"] == STRIPE_PUBLISHABLE_KEY


async def test_graphql_payment_errors_carry_the_codes(api: Api, gql: GraphQL, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-gql", method="paypal")
    start = (await gql.ok("cust-gql", CREATE_PAYMENT_INTENT, {"jobId": order["id"], "method": "PAYPAL"}))[
        "createPaymentIntent"
    ]
    assert start["orderId"] in fake.orders and start["approveUrl"]

    early = await gql.error(
        "cust-gql", COMPLETE_PAYMENT, {"jobId": order["id"], "paymentId": start["paymentId"]}
    )
    assert early["extensions"]["code"] == "PAYMENT_FAILED"
    stranger = await gql.error(
        "cust-other", COMPLETE_PAYMENT, {"jobId": order["id"], "paymentId": start["paymentId"]}
    )
    assert stranger["extensions"]["code"] == "NOT_FOUND"
    idem = {"Idempotency-Key": "gql-pay"}
    await gql.ok("cust-gql", CREATE_PAYMENT_INTENT, {"jobId": order["id"], "method": "PAYPAL"}, headers=idem)
    conflict = await gql.error(
        "cust-gql", CREATE_PAYMENT_INTENT, {"jobId": order["id"], "method": "STRIPE"}, headers=idem
    )
    assert conflict["extensions"]["code"] == "IDEMPOTENCY_CONFLICT"
