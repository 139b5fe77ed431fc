"""Money races, run for real on PostgreSQL: many requests at once through the in-process app,
each in its own session on its own connection.

As in test_concurrency, a test proves the overlap without trusting timing: it holds a row lock
from a connection of its own, starts the race, waits until PostgreSQL shows every racing
request blocked on that lock (all of them inside their transactions at once), then lets go
and checks that the money moved exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from logistics.config import Settings
from tests.conftest import requires_postgres
from tests.factories import Api
from tests.fake_providers import FakeProviders, stripe_signed
from tests.payment_helpers import card_order, completed_card_job, intent_of, with_providers
from tests.test_concurrency import _codes, _race, observer

pytestmark = [requires_postgres, pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")]

observer = observer

IBAN = "DE89370400440532013000"


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders) -> Settings:
    return with_providers(settings, fake_providers)


async def scalar(observer: AsyncEngine, sql: str, **params: Any) -> Any:
    async with observer.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar_one()


async def postings(observer: AsyncEngine, kind: str, job_id: str | None = None) -> int:
    """How many postings of ``kind`` the ledger holds (for one job, when given)."""
    count = await scalar(
        observer,
        "SELECT COUNT(DISTINCT posting_id) FROM ledger_entries "
        "WHERE type = :kind AND (CAST(:job AS VARCHAR) IS NULL OR job_id = :job)",
        kind=kind,
        job=job_id,
    )
    return int(count)


async def earnings_balance(observer: AsyncEngine, driver_id: str) -> int:
    return int(
        await scalar(
            observer,
            "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = 'driver_earnings' AND owner_id = :d",
            d=driver_id,
        )
    )


async def driver_with_balance(api: Api, fake: FakeProviders, sub: str) -> tuple[dict[str, Any], int]:
    driver = await api.register_driver(sub, online=False, at=None)
    await api.ok(
        "POST", "/payout-methods", sub, 201, json={"type": "bank_account", "details": {"iban": IBAN}}
    )
    job = await completed_card_job(api, fake, f"cust-of-{sub}", sub)
    return driver, int(job["driver_earnings"]["amount"])


# --- payouts ---------------------------------------------------------------------------------------


async def test_ten_full_balance_payouts_at_once_pay_out_once(
    api: Api, fake: FakeProviders, observer: AsyncEngine
) -> None:
    # Given a driver with a balance
    driver, earned = await driver_with_balance(api, fake, "drv-race")
    assert earned > 0

    # When it asks ten times at once for the whole balance, all ten waiting at its row lock
    responses = await _race(
        observer,
        [api.call("POST", "/payouts/request", "drv-race") for _ in range(10)],
        lock=("drivers", driver["id"]),
        blocked={"SELECT drivers": 10},
    )

    # Then exactly one payout is made, of the whole balance, and the others are refused
    codes = _codes(responses)
    assert sorted(codes, key=str) == sorted([(201, None)] + [(409, "INSUFFICIENT_BALANCE")] * 9, key=str)
    [won] = [r.json() for r in responses if r.status_code == 201]
    assert won["amount"] == {"amount": earned, "currency": "EUR"}
    # And the balance never went below zero: one debit, nothing left
    assert await earnings_balance(observer, driver["id"]) == 0
    assert await postings(observer, "payout") == 1
    assert await scalar(observer, "SELECT COUNT(*) FROM payouts") == 1
    history = await api.ok("GET", "/payments", "drv-race")
    assert history["totals"]["balance"]["amount"] == 0


async def test_payouts_of_parts_at_once_never_overdraw(api: Api, fake: FakeProviders) -> None:
    # Left to the scheduler: ten requests for a third of the balance each; three fit.
    _, earned = await driver_with_balance(api, fake, "drv-parts")
    third = earned // 3

    responses = await asyncio.gather(
        *(
            api.call(
                "POST", "/payouts/request", "drv-parts", json={"amount": {"amount": third, "currency": "EUR"}}
            )
            for _ in range(10)
        )
    )

    codes = _codes(list(responses))
    assert codes.count((201, None)) == 3, codes
    assert codes.count((409, "INSUFFICIENT_BALANCE")) == 7, codes
    history = await api.ok("GET", "/payments", "drv-parts")
    assert history["totals"]["balance"]["amount"] == earned - 3 * third >= 0


# --- tips ------------------------------------------------------------------------------------------


async def test_completing_a_tip_ten_times_at_once_credits_it_once(
    api: Api, fake: FakeProviders, observer: AsyncEngine
) -> None:
    # Given a paid tip the app has not confirmed yet
    await api.register_driver("drv-tip", online=False, at=None)
    job = await completed_card_job(api, fake, "cust-tip", "drv-tip")
    tip = {"amount": {"amount": 400, "currency": "EUR"}, "method": "stripe"}
    start = await api.ok("POST", f"/orders/{job['id']}/tip", "cust-tip", 201, json=tip)
    fake.pay_intent(intent_of(fake, start["payment_id"]))

    # When the app confirms it ten times at once, all waiting at the payment's row lock
    responses = await _race(
        observer,
        [
            api.call(
                "POST",
                f"/orders/{job['id']}/tip/complete",
                "cust-tip",
                json={"payment_id": start["payment_id"]},
            )
            for _ in range(10)
        ],
        lock=("payments", start["payment_id"]),
        blocked={"SELECT payments": 10},
    )

    # Then every answer says succeeded, and the driver got the tip once
    assert _codes(responses) == [(200, None)] * 10, [r.text for r in responses]
    assert all(r.json() == {"tip": tip["amount"], "status": "succeeded"} for r in responses)
    assert await postings(observer, "tip", job_id=job["id"]) == 1
    history = await api.ok("GET", "/payments", "drv-tip")
    assert history["totals"]["tips"] == tip["amount"]
    assert history["totals"]["balance"]["amount"] == job["driver_earnings"]["amount"] + 400


# --- the webhook and the client ------------------------------------------------------------------


async def test_a_webhook_racing_the_clients_verify_pays_the_order_once(
    api: Api, fake: FakeProviders, observer: AsyncEngine
) -> None:
    # Given an order the customer has paid at Stripe
    order = await card_order(api, "cust-wh")
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-wh", 201, json={"method": "stripe"}
    )
    intent_id = intent_of(fake, start["payment_id"])
    fake.pay_intent(intent_id)
    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))

    # When Stripe's webhook and the app's verify arrive together
    webhook, verify = await _race(
        observer,
        [
            api.client.post("/webhooks/stripe", content=body, headers=headers),
            api.call("POST", "/stripe/verify", "cust-wh", json={"payment_id": start["payment_id"]}),
        ],
        lock=("payments", start["payment_id"]),
        blocked={"SELECT payments": 2},
    )

    # Then both succeed, and the order was paid once and moved to searching once
    assert webhook.status_code == 200, webhook.text
    assert verify.status_code == 200 and verify.json()["status"] == "succeeded", verify.text
    assert await postings(observer, "payment", job_id=order["id"]) == 1
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-wh")
    assert [entry["status"] for entry in job["timeline"]] == ["awaiting_payment", "searching"]
    assert job["payment"]["status"] == "paid"
    prepaid = await scalar(
        observer,
        "SELECT SUM(amount) FROM ledger_entries WHERE account = 'prepaid_jobs' AND owner_id = :job",
        job=order["id"],
    )
    assert prepaid == order["price"]["amount"]


async def test_the_same_webhook_delivered_five_times_at_once_acts_once(api: Api, fake: FakeProviders) -> None:
    order = await card_order(api, "cust-dup")
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", "cust-dup", 201, json={"method": "stripe"}
    )
    intent_id = intent_of(fake, start["payment_id"])
    fake.pay_intent(intent_id)
    body, headers = stripe_signed(fake.stripe_event("payment_intent.succeeded", intent_id))

    responses = await asyncio.gather(
        *(api.client.post("/webhooks/stripe", content=body, headers=headers) for _ in range(5))
    )

    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    outcomes = sorted(r.json()["status"] for r in responses)
    assert outcomes == ["duplicate"] * 4 + ["processed"]
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-dup")
    assert [entry["status"] for entry in job["timeline"]] == ["awaiting_payment", "searching"]


# --- ratings -------------------------------------------------------------------------------------


async def test_five_ratings_of_one_job_at_once_rate_it_once(
    api: Api, fake: FakeProviders, observer: AsyncEngine
) -> None:
    # Given a completed job
    driver = await api.register_driver("drv-rate", online=False, at=None)
    order = await api.order("cust-rate")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", "drv-rate")
    await api.walk_to("drv-rate", order["id"], "complete")

    # When its customer sends five ratings at once, all waiting to insert
    responses = await _race(
        observer,
        [
            api.call("POST", f"/orders/{order['id']}/rate", "cust-rate", json={"stars": stars})
            for stars in (1, 2, 3, 4, 5)
        ],
        lock=("jobs", order["id"]),
        blocked={"INSERT INTO ratings": 5},
    )

    # Then one counts and the others are ALREADY_RATED
    codes = _codes(responses)
    assert sorted(codes, key=str) == sorted([(201, None)] + [(409, "ALREADY_RATED")] * 4, key=str)
    stars = next(r.json()["stars"] for r in responses if r.status_code == 201)
    me = await api.ok("GET", "/me", "drv-rate")
    assert me["rating"] == stars
    assert await scalar(observer, "SELECT rating_count FROM drivers WHERE id = :d", d=driver["id"]) == 1
