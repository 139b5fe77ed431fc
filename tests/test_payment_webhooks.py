"""Stripe and PayPal webhooks: verified events pay the order once, forgeries change nothing."""

from __future__ import annotations

import pytest

from logistics.platform import Platform
from tests import payment_helpers
from tests.factories import Api
from tests.fake_providers import FakeProviders, no_network, stripe_signed
from tests.payment_helpers import card_order, db_rows, error_of, intent_of, postings, statuses, stripe_intent

# No connection leaves the machine: only the loopback fake (and the test database) answer.
no_network = no_network
# Stripe and PayPal configured against the fake, as fixtures of this module.
providers_on = payment_helpers.providers_on
settings = payment_helpers.settings

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


async def test_a_signed_stripe_webhook_pays_the_order_without_the_client(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given an intent the customer paid, and an app that never came back
    order, intent_id = await stripe_intent(api, fake, "cust-wh")
    fake.pay_intent(intent_id)

    # When Stripe sends payment_intent.succeeded, signed with the endpoint's secret
    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))
    response = await api.client.post("/webhooks/stripe", content=body, headers=headers)

    # Then the order is paid and searching
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "processed"}
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-wh")
    assert job["status"] == "searching" and job["payment"]["status"] == "paid"
    assert job["timeline"][-1]["actor"] == "system"
    assert await postings(platform, order["id"], "payment") == 1

    # And the client's late verify finds it settled, and settles nothing more
    [payment_id] = [intent["metadata"]["payment_id"] for intent in fake.intents.values()]
    late = await api.ok("POST", "/stripe/verify", "cust-wh", json={"payment_id": payment_id})
    assert late["status"] == "succeeded"
    assert await postings(platform, order["id"], "payment") == 1


@pytest.mark.parametrize("forgery", ["other secret", "tampered body", "no signature"])
async def test_a_stripe_webhook_that_does_not_verify_changes_nothing(
    api: Api, fake: FakeProviders, platform: Platform, forgery: str
) -> None:
    order, intent_id = await stripe_intent(api, fake, "cust-wh")
    fake.pay_intent(intent_id)
    event = fake.stripe_event("payment_intent.succeeded", intent_id)
    if forgery == "other secret":
        body, headers = stripe_signed(event, "whsec_someone_else")
    elif forgery == "tampered body":
        body, headers = stripe_signed(event)
        body = body.replace(intent_id.encode(), intent_id[:-1].encode() + b"x")
    else:
        body, headers = stripe_signed(event)
        del headers["Stripe-Signature"]

    response = await api.client.post("/webhooks/stripe", content=body, headers=headers)

    error_of(response, 401, "UNAUTHENTICATED")
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-wh")
    assert job["status"] == "awaiting_payment" and job["payment"]["status"] == "unpaid"
    assert await postings(platform, order["id"], "payment") == 0
    # An event refused is not remembered: the genuine delivery of it still acts.
    body, headers = stripe_signed(event)
    assert (await api.client.post("/webhooks/stripe", content=body, headers=headers)).json() == {
        "status": "processed"
    }


async def test_the_same_stripe_event_delivered_twice_acts_once(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    order, intent_id = await stripe_intent(api, fake, "cust-wh")
    fake.pay_intent(intent_id)
    event = fake.stripe_event("payment_intent.succeeded", intent_id)

    body, headers = stripe_signed(event)
    first = await api.client.post("/webhooks/stripe", content=body, headers=headers)
    body, headers = stripe_signed(event)  # a retry is signed anew, with the same event id
    second = await api.client.post("/webhooks/stripe", content=body, headers=headers)

    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert (second.status_code, second.json()) == (200, {"status": "duplicate"})
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-wh")
    assert statuses(job) == ["awaiting_payment", "searching"]
    assert await postings(platform, order["id"], "payment") == 1
    events = await db_rows(
        platform, "SELECT COUNT(*) FROM provider_events WHERE event_id = :id", id=event["id"]
    )
    assert events[0][0] == 1


async def test_a_failed_payment_webhook_marks_the_payment_failed(api: Api, fake: FakeProviders) -> None:
    # Given an intent whose card was declined, reported by Stripe's webhook
    order, intent_id = await stripe_intent(api, fake, "cust-wh")
    fake.fail_intent(intent_id)
    body, headers = stripe_signed(fake.stripe_event("payment_intent.payment_failed", intent_id))
    assert (await api.client.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200

    # Then the payment failed, the order still waits, and the next attempt gets a fresh intent
    [payment_id] = [intent["metadata"]["payment_id"] for intent in fake.intents.values()]
    verify = await api.call("POST", "/stripe/verify", "cust-wh", json={"payment_id": payment_id})
    error_of(verify, 402, "PAYMENT_FAILED")
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-wh"))["status"] == "awaiting_payment"
    retry = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-wh", 201, json={"method": "stripe"}
    )
    assert intent_of(fake, retry["payment_id"]) != intent_id
    fake.pay_intent(intent_of(fake, retry["payment_id"]))
    job = await api.ok(
        "POST", f"/orders/{order['id']}/complete-payment", "cust-wh", json={"payment_id": retry["payment_id"]}
    )
    assert job["status"] == "searching"


@pytest.mark.parametrize("then", ["webhook", "verify"])
async def test_a_declined_card_paid_on_retry_pays_the_order(
    api: Api, fake: FakeProviders, platform: Platform, then: str
) -> None:
    # Given an intent whose first card was declined, as Stripe's webhook reported
    order, intent_id = await stripe_intent(api, fake, "cust-retry")
    fake.fail_intent(intent_id)
    body, headers = stripe_signed(fake.stripe_event("payment_intent.payment_failed", intent_id))
    assert (await api.client.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200

    # When the customer tries another card on the same intent (Stripe allows it) and it pays
    fake.pay_intent(intent_id)
    [payment_id] = [intent["metadata"]["payment_id"] for intent in fake.intents.values()]
    if then == "webhook":
        body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))
        response = await api.client.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 200, response.text
    else:
        payment = await api.ok("POST", "/stripe/verify", "cust-retry", json={"payment_id": payment_id})
        assert payment["status"] == "succeeded"

    # Then the money taken pays for the order
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-retry")
    assert job["status"] == "searching" and job["payment"]["status"] == "paid"
    assert await postings(platform, order["id"], "payment") == 1


async def test_a_webhook_about_an_unknown_intent_is_acknowledged(api: Api, fake: FakeProviders) -> None:
    _, intent_id = await stripe_intent(api, fake, "cust-wh")
    event = fake.stripe_event("payment_intent.succeeded", intent_id)
    event["data"]["object"]["id"] = "pi_not_ours"
    body, headers = stripe_signed(event)
    response = await api.client.post("/webhooks/stripe", content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"status": "unknown payment"})


async def test_a_verified_paypal_webhook_pays_the_order(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given a PayPal order the buyer approved and PayPal captured
    order = await card_order(api, "cust-pp", method="paypal")
    start = await api.ok("POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"]})
    fake.approve_order(start["order_id"])

    # When PayPal reports the completed capture, with transmission headers that verify
    event = fake.paypal_event("PAYMENT.CAPTURE.COMPLETED", start["order_id"])
    body, headers = fake.paypal_signed(event)
    response = await api.client.post("/webhooks/paypal", content=body, headers=headers)

    # Then the order is paid and searching
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-pp")
    assert job["status"] == "searching" and job["payment"] == {"method": "paypal", "status": "paid"}
    assert await postings(platform, order["id"], "payment") == 1
    # And the same event again acts no more
    body, headers = fake.paypal_signed(event)
    assert (await api.client.post("/webhooks/paypal", content=body, headers=headers)).json() == {
        "status": "duplicate"
    }
    assert await postings(platform, order["id"], "payment") == 1


@pytest.mark.parametrize("forgery", ["bad signature", "other webhook id", "missing headers"])
async def test_a_forged_paypal_webhook_changes_nothing(
    api: Api, fake: FakeProviders, platform: Platform, forgery: str
) -> None:
    order = await card_order(api, "cust-pp", method="paypal")
    start = await api.ok("POST", "/paypal/create", "cust-pp", 201, json={"job_id": order["id"]})
    fake.approve_order(start["order_id"])
    event = fake.paypal_event("PAYMENT.CAPTURE.COMPLETED", start["order_id"])
    if forgery == "other webhook id":
        body, headers = fake.paypal_signed(event, webhook_id="WH-SOMEONE-ELSE")
    else:
        body, headers = fake.paypal_signed(event)
        if forgery == "bad signature":
            headers["PAYPAL-TRANSMISSION-SIG"] = "Zm9yZ2Vk"
        else:
            del headers["PAYPAL-TRANSMISSION-SIG"]

    response = await api.client.post("/webhooks/paypal", content=body, headers=headers)

    error_of(response, 401, "UNAUTHENTICATED")
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-pp")
    assert job["status"] == "awaiting_payment" and job["payment"]["status"] == "unpaid"
    assert await postings(platform, order["id"], "payment") == 0
