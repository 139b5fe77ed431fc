"""Rating the driver and tipping it after the delivery: once, by the job's customer only, and
the whole tip in the driver's balance exactly once however often the app confirms it."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.config import Settings
from logistics.platform import Platform
from tests.factories import Api
from tests.fake_providers import FakeProviders, no_network, stripe_signed
from tests.graphql_helpers import GraphQL
from tests.payment_helpers import completed_card_job, error_of, intent_of, postings, with_providers

no_network = no_network

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders) -> Settings:
    return with_providers(settings, fake_providers)


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def completed_cash_job(api: Api, customer: str, driver: str) -> dict[str, Any]:
    order = await api.order(customer)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    job: dict[str, Any] = await api.walk_to(driver, order["id"], "complete")
    return job


async def accepted_job(api: Api, customer: str, driver: str) -> dict[str, Any]:
    order = await api.order(customer)
    job: dict[str, Any] = await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    return job


async def balance(api: Api, driver: str) -> int:
    history = await api.ok("GET", "/payments", driver)
    return int(history["totals"]["balance"]["amount"])


# --- ratings -----------------------------------------------------------------------------------


async def test_a_completed_job_is_rated_once(api: Api) -> None:
    # Given a completed job
    driver = await api.register_driver("drv-r")
    job = await completed_cash_job(api, "cust-r", driver["sub"])

    # When its customer rates it
    rating = await api.ok(
        "POST", f"/orders/{job['id']}/rate", "cust-r", 201, json={"stars": 4, "comment": "Quick and careful"}
    )

    # Then the rating is kept, and a second one is refused
    assert rating["job_id"] == job["id"] and rating["stars"] == 4
    assert rating["comment"] == "Quick and careful" and rating["created_at"]
    again = await api.call("POST", f"/orders/{job['id']}/rate", "cust-r", json={"stars": 1})
    error_of(again, 409, "ALREADY_RATED")
    me = await api.ok("GET", "/me", driver["sub"])
    assert me["rating"] == 4


async def test_the_drivers_rating_is_the_average_of_its_ratings(api: Api) -> None:
    driver = await api.register_driver("drv-avg")
    assert (await api.ok("GET", "/me", driver["sub"]))["rating"] is None
    for customer, stars in (("cust-a", 5), ("cust-b", 2), ("cust-c", 4)):
        job = await completed_cash_job(api, customer, driver["sub"])
        await api.ok("POST", f"/orders/{job['id']}/rate", customer, 201, json={"stars": stars})

    me = await api.ok("GET", "/me", driver["sub"])
    assert me["rating"] == pytest.approx(11 / 3, abs=0.01)
    # The customer sees the same figure on the next job's driver.
    job = await accepted_job(api, "cust-d", driver["sub"])
    seen = await api.ok("GET", f"/jobs/{job['id']}", "cust-d")
    assert seen["driver"]["rating"] == pytest.approx(11 / 3, abs=0.01)


@pytest.mark.parametrize(
    ("last_step", "allowed"),
    [
        (None, ["pickup_started", "cancelled"]),
        ("arrive-pickup", ["pickup_completed", "cancelled"]),
        ("complete-dropoff", ["completed"]),
    ],
)
async def test_a_job_is_rated_only_once_completed(
    api: Api, last_step: str | None, allowed: list[str]
) -> None:
    driver = await api.register_driver("drv-early")
    job = await accepted_job(api, "cust-e", driver["sub"])
    if last_step is not None:
        job = await api.walk_to(driver["sub"], job["id"], last_step)

    response = await api.call("POST", f"/orders/{job['id']}/rate", "cust-e", json={"stars": 5})

    body = error_of(response, 409, "INVALID_TRANSITION")
    # The refusal says what the job can become next, so a client knows rating will work
    # once the job is completed.
    assert body["details"] == {"status": job["status"], "allowed": allowed}
    assert (await api.ok("GET", "/me", driver["sub"]))["rating"] is None


async def test_a_searching_or_cancelled_job_cannot_be_rated(api: Api) -> None:
    order = await api.order("cust-s")
    error_of(
        await api.call("POST", f"/orders/{order['id']}/rate", "cust-s", json={"stars": 3}),
        409,
        "INVALID_TRANSITION",
    )
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-s", json={})
    error_of(
        await api.call("POST", f"/orders/{order['id']}/rate", "cust-s", json={"stars": 3}),
        409,
        "INVALID_TRANSITION",
    )


@pytest.mark.parametrize(
    "body", [{"stars": 0}, {"stars": 6}, {"stars": -1}, {"stars": "five"}, {}, {"stars": 2.5}]
)
async def test_stars_are_one_to_five(api: Api, body: dict[str, Any]) -> None:
    driver = await api.register_driver("drv-v")
    job = await completed_cash_job(api, "cust-v", driver["sub"])

    response = await api.call("POST", f"/orders/{job['id']}/rate", "cust-v", json=body)

    details = error_of(response, 422, "VALIDATION_FAILED")["details"]
    assert any("stars" in name for name in details["fields"]), details
    # Nothing was kept: a valid rating still goes through.
    await api.ok("POST", f"/orders/{job['id']}/rate", "cust-v", 201, json={"stars": 5})


async def test_a_comment_is_at_most_1000_characters(api: Api) -> None:
    driver = await api.register_driver("drv-c")
    job = await completed_cash_job(api, "cust-c", driver["sub"])
    response = await api.call(
        "POST", f"/orders/{job['id']}/rate", "cust-c", json={"stars": 5, "comment": "x" * 1001}
    )
    error_of(response, 422, "VALIDATION_FAILED")


async def test_only_the_jobs_customer_rates_it(api: Api) -> None:
    driver = await api.register_driver("drv-o")
    job = await completed_cash_job(api, "cust-owner", driver["sub"])

    for stranger in ("cust-stranger", driver["sub"]):
        response = await api.call("POST", f"/orders/{job['id']}/rate", stranger, json={"stars": 1})
        error_of(response, 404, "NOT_FOUND")
    error_of(
        await api.call("POST", "/orders/no-such-job/rate", "cust-owner", json={"stars": 1}), 404, "NOT_FOUND"
    )

    assert (await api.ok("GET", "/me", driver["sub"]))["rating"] is None
    await api.ok("POST", f"/orders/{job['id']}/rate", "cust-owner", 201, json={"stars": 5})


# --- tips ---------------------------------------------------------------------------------------


async def test_a_stripe_tip_goes_wholly_to_the_driver(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given a completed card-paid job, whose earnings are in the driver's balance
    driver = await api.register_driver("drv-t")
    job = await completed_card_job(api, fake, "cust-t", driver["sub"])
    earnings = job["driver_earnings"]["amount"]
    assert await balance(api, driver["sub"]) == earnings

    # When the customer tips through Stripe
    start = await api.ok(
        "POST", f"/orders/{job['id']}/tip", "cust-t", 201, json={"amount": eur(350), "method": "stripe"}
    )

    # Then the app gets a payment to complete for exactly the tip
    assert start["provider"] == "stripe" and start["status"] == "pending"
    assert start["amount"] == eur(350) and start["client_secret"]
    intent_id = intent_of(fake, start["payment_id"])
    assert fake.intents[intent_id]["amount"] == 350

    # And before the money arrives, completing it credits nothing
    early = await api.ok(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-t", json={"payment_id": start["payment_id"]}
    )
    assert early == {"tip": eur(350), "status": "pending"}
    assert await balance(api, driver["sub"]) == earnings

    # When the customer pays and the app completes the tip
    fake.pay_intent(intent_id)
    done = await api.ok(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-t", json={"payment_id": start["payment_id"]}
    )

    # Then the driver has the whole tip
    assert done == {"tip": eur(350), "status": "succeeded"}
    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["tips"] == eur(350)
    assert history["totals"]["earned"] == eur(earnings)
    assert history["totals"]["balance"] == eur(earnings + 350)
    tip_lines = [line for line in history["items"] if line["type"] == "tip"]
    assert [(line["job_id"], line["amount"]) for line in tip_lines] == [(job["id"], eur(350))]
    lines = await api.ok("GET", f"/payments/{job['id']}", driver["sub"])
    assert sorted(line["type"] for line in lines["items"]) == ["earning", "tip"]
    assert await postings(platform, job["id"], "tip") == 1


async def test_completing_a_tip_five_times_credits_it_once(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    driver = await api.register_driver("drv-5")
    job = await completed_card_job(api, fake, "cust-5", driver["sub"])
    start = await api.ok(
        "POST", f"/orders/{job['id']}/tip", "cust-5", 201, json={"amount": eur(200), "method": "stripe"}
    )
    fake.pay_intent(intent_of(fake, start["payment_id"]))

    answers = [
        await api.ok(
            "POST", f"/orders/{job['id']}/tip/complete", "cust-5", json={"payment_id": start["payment_id"]}
        )
        for _ in range(5)
    ]

    assert answers == [{"tip": eur(200), "status": "succeeded"}] * 5
    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["tips"] == eur(200)
    assert history["totals"]["balance"] == eur(job["driver_earnings"]["amount"] + 200)
    assert await postings(platform, job["id"], "tip") == 1


async def test_a_tip_webhook_and_the_app_credit_it_once(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    driver = await api.register_driver("drv-wh")
    job = await completed_card_job(api, fake, "cust-wh", driver["sub"])
    start = await api.ok(
        "POST", f"/orders/{job['id']}/tip", "cust-wh", 201, json={"amount": eur(150), "method": "stripe"}
    )
    intent_id = intent_of(fake, start["payment_id"])
    fake.pay_intent(intent_id)

    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))
    assert (await api.client.post("/webhooks/stripe", content=body, headers=headers)).status_code == 200
    done = await api.ok(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-wh", json={"payment_id": start["payment_id"]}
    )

    assert done["status"] == "succeeded"
    assert (await api.ok("GET", "/payments", driver["sub"]))["totals"]["tips"] == eur(150)
    assert await postings(platform, job["id"], "tip") == 1


async def test_a_paypal_tip(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-pp")
    job = await completed_card_job(api, fake, "cust-pp", driver["sub"])
    start = await api.ok(
        "POST", f"/orders/{job['id']}/tip", "cust-pp", 201, json={"amount": eur(500), "method": "paypal"}
    )
    assert start["order_id"] in fake.orders and start["approve_url"]

    early = await api.call(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-pp", json={"payment_id": start["payment_id"]}
    )
    error_of(early, 402, "PAYMENT_FAILED")

    fake.approve_order(start["order_id"])
    done = await api.ok(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-pp", json={"payment_id": start["payment_id"]}
    )
    assert done == {"tip": eur(500), "status": "succeeded"}
    assert (await api.ok("GET", "/payments", driver["sub"]))["totals"]["tips"] == eur(500)


async def test_a_cash_job_is_tipped_into_the_balance(api: Api, fake: FakeProviders) -> None:
    # Cash stays in the driver's hand and the commission on it is owed; a card tip is owed to
    # the driver, and pays that debt first.
    driver = await api.register_driver("drv-cash")
    job = await completed_cash_job(api, "cust-cash", driver["sub"])
    commission = job["price"]["amount"] - job["driver_earnings"]["amount"]
    assert await balance(api, driver["sub"]) == -commission

    start = await api.ok(
        "POST", f"/orders/{job['id']}/tip", "cust-cash", 201, json={"amount": eur(100), "method": "stripe"}
    )
    fake.pay_intent(intent_of(fake, start["payment_id"]))
    await api.ok(
        "POST", f"/orders/{job['id']}/tip/complete", "cust-cash", json={"payment_id": start["payment_id"]}
    )

    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["balance"] == eur(100 - commission)
    assert history["totals"]["tips"] == eur(100)
    earning = [line for line in history["items"] if line["type"] == "earning"]
    assert [line["paid_in_cash"] for line in earning] == [True]


async def test_a_customer_cannot_tip_a_job_that_is_not_theirs(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-n")
    job = await completed_card_job(api, fake, "cust-owner", driver["sub"])
    tip = {"amount": eur(100), "method": "stripe"}

    error_of(await api.call("POST", f"/orders/{job['id']}/tip", "cust-stranger", json=tip), 404, "NOT_FOUND")
    error_of(
        await api.call(
            "POST",
            "/stripe/intent",
            "cust-stranger",
            json={"job_id": job["id"], "purpose": "tip", "amount": eur(100)},
        ),
        404,
        "NOT_FOUND",
    )

    # Nor complete the owner's tip through its own job.
    start = await api.ok("POST", f"/orders/{job['id']}/tip", "cust-owner", 201, json=tip)
    fake.pay_intent(intent_of(fake, start["payment_id"]))
    other = await completed_card_job(api, fake, "cust-stranger", driver["sub"])
    for job_id in (job["id"], other["id"]):
        response = await api.call(
            "POST",
            f"/orders/{job_id}/tip/complete",
            "cust-stranger",
            json={"payment_id": start["payment_id"]},
        )
        error_of(response, 404, "NOT_FOUND")
    assert (await api.ok("GET", "/payments", driver["sub"]))["totals"]["tips"] == eur(0)


async def test_a_tip_payment_does_not_complete_another_jobs_tip(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-x")
    first = await completed_card_job(api, fake, "cust-x", driver["sub"])
    second = await completed_card_job(api, fake, "cust-x", driver["sub"])
    start = await api.ok(
        "POST", f"/orders/{first['id']}/tip", "cust-x", 201, json={"amount": eur(100), "method": "stripe"}
    )
    fake.pay_intent(intent_of(fake, start["payment_id"]))

    response = await api.call(
        "POST", f"/orders/{second['id']}/tip/complete", "cust-x", json={"payment_id": start["payment_id"]}
    )
    error_of(response, 404, "NOT_FOUND")
    # A delivery payment is not a tip either.
    delivery = [
        i["metadata"]["payment_id"] for i in fake.intents.values() if i["description"].startswith("delivery")
    ]
    response = await api.call(
        "POST", f"/orders/{first['id']}/tip/complete", "cust-x", json={"payment_id": delivery[0]}
    )
    error_of(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("amount", "field"),
    [
        ({"amount": 100, "currency": "USD"}, "amount.currency"),
        ({"amount": 0, "currency": "EUR"}, "amount.amount"),
        ({"amount": -100, "currency": "EUR"}, "amount.amount"),
        ({"amount": 10_000_000, "currency": "EUR"}, "amount.amount"),
        ({"amount": 1.5, "currency": "EUR"}, "amount.amount"),
    ],
)
async def test_a_tip_in_another_currency_or_out_of_range_is_refused(
    api: Api, fake: FakeProviders, amount: dict[str, Any], field: str
) -> None:
    driver = await api.register_driver("drv-cur")
    job = await completed_card_job(api, fake, "cust-cur", driver["sub"])
    intents_before = len(fake.intents)

    response = await api.call(
        "POST", f"/orders/{job['id']}/tip", "cust-cur", json={"amount": amount, "method": "stripe"}
    )

    details = error_of(response, 422, "VALIDATION_FAILED")["details"]
    assert field in details["fields"], details
    assert len(fake.intents) == intents_before


async def test_a_tip_needs_a_delivered_job(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-d")
    job = await accepted_job(api, "cust-d", driver["sub"])
    tip = {"amount": eur(100), "method": "stripe"}
    error_of(
        await api.call("POST", f"/orders/{job['id']}/tip", "cust-d", json=tip), 409, "INVALID_TRANSITION"
    )
    # Once the dropoff is done the driver can be tipped, before the job is closed.
    await api.walk_to(driver["sub"], job["id"], "complete-dropoff")
    await api.ok("POST", f"/orders/{job['id']}/tip", "cust-d", 201, json=tip)


async def test_a_tip_method_must_be_a_provider(api: Api, fake: FakeProviders) -> None:
    driver = await api.register_driver("drv-m")
    job = await completed_cash_job(api, "cust-m", driver["sub"])
    response = await api.call(
        "POST", f"/orders/{job['id']}/tip", "cust-m", json={"amount": eur(100), "method": "cash"}
    )
    error_of(response, 422, "VALIDATION_FAILED")


# --- GraphQL ------------------------------------------------------------------------------------

TIP_ORDER = """
mutation Tip($jobId: ID!, $amount: MoneyInput!, $method: CardOrWallet!) {
  tipOrder(jobId: $jobId, amount: $amount, method: $method) { paymentId status amount { amount currency } }
}
"""
COMPLETE_TIP = """
mutation CompleteTip($jobId: ID!, $paymentId: ID!) {
  completeTip(jobId: $jobId, paymentId: $paymentId) { tip { amount currency } status }
}
"""
RATE_ORDER = """
mutation Rate($jobId: ID!, $input: RateInput!) {
  rateOrder(jobId: $jobId, input: $input) { jobId stars comment }
}
"""


async def test_tipping_and_rating_over_graphql(api: Api, fake: FakeProviders) -> None:
    gql = GraphQL(api)
    driver = await api.register_driver("drv-gql")
    job = await completed_card_job(api, fake, "cust-gql", driver["sub"])

    start = (
        await gql.ok("cust-gql", TIP_ORDER, {"jobId": job["id"], "amount": eur(250), "method": "STRIPE"})
    )["tipOrder"]
    fake.pay_intent(intent_of(fake, start["paymentId"]))
    for _ in range(2):
        done = await gql.ok("cust-gql", COMPLETE_TIP, {"jobId": job["id"], "paymentId": start["paymentId"]})
        assert done["completeTip"] == {"tip": eur(250), "status": "SUCCEEDED"}
    assert (await api.ok("GET", "/payments", driver["sub"]))["totals"]["tips"] == eur(250)

    rated = await gql.ok("cust-gql", RATE_ORDER, {"jobId": job["id"], "input": {"stars": 5}})
    assert rated["rateOrder"] == {"jobId": job["id"], "stars": 5, "comment": None}
    again = await gql.error("cust-gql", RATE_ORDER, {"jobId": job["id"], "input": {"stars": 4}})
    assert again["extensions"]["code"] == "ALREADY_RATED"
    stranger = await gql.error(
        "cust-other", TIP_ORDER, {"jobId": job["id"], "amount": eur(1), "method": "STRIPE"}
    )
    assert stranger["extensions"]["code"] == "NOT_FOUND"
    bad = await gql.error("cust-gql", RATE_ORDER, {"jobId": job["id"], "input": {"stars": 9}})
    assert bad["extensions"]["code"] == "VALIDATION_FAILED"
