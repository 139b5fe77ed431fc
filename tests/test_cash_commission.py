"""The platform's commission on cash jobs: the driver keeps the customer's cash, the commission
comes out of the driver's balance (below zero when nothing else is owed), later earnings and
tips pay that debt first, no payout pays it, and the history shows it."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.config import Settings
from tests.factories import Api
from tests.fake_providers import FakeProviders, no_network
from tests.graphql_helpers import GraphQL
from tests.payment_helpers import completed_card_job, error_of, with_providers

no_network = no_network

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

IBAN = "DE89370400440532013000"
PAYMENTS = """
query {
  payments {
    items { jobId type amount { amount } paidInCash }
    totals {
      earned { amount } balance { amount currency } cashCollected { amount } cashCommission { amount }
    }
  }
}
"""


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders) -> Settings:
    return with_providers(settings, fake_providers)


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def cash_driver(api: Api, sub: str) -> dict[str, Any]:
    """An approved driver with a bank account (offline: any driver may take any job)."""
    driver: dict[str, Any] = await api.register_driver(sub, online=False, at=None)
    await api.ok(
        "POST", "/payout-methods", sub, 201, json={"type": "bank_account", "details": {"iban": IBAN}}
    )
    return driver


async def completed_cash_job(api: Api, customer: str, driver: str) -> tuple[dict[str, Any], int]:
    """A cash order walked to ``completed`` by ``driver``; the job and the commission on it."""
    order = await api.order(customer)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    job = await api.walk_to(driver, order["id"], "complete")
    commission = job["price"]["amount"] - job["driver_earnings"]["amount"]
    assert commission > 0
    return job, commission


async def history(api: Api, driver: str, path: str = "/payments") -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", path, driver)
    return result


async def test_a_cash_job_leaves_the_driver_owing_the_commission(api: Api) -> None:
    # Given a driver with nothing owed
    await cash_driver(api, "drv-owe")

    # When it completes a cash job
    job, commission = await completed_cash_job(api, "cust-owe", "drv-owe")

    # Then it holds the customer's cash and owes the commission on it: the balance is below zero
    result = await history(api, "drv-owe")
    assert result["totals"] == {
        "earned": job["driver_earnings"],
        "tips": eur(0),
        "paid_out": eur(0),
        "balance": eur(-commission),
        "cash_collected": job["price"],
        "cash_commission": eur(commission),
    }
    assert [(line["type"], line["amount"], line["paid_in_cash"]) for line in result["items"]] == [
        ("commission", eur(-commission), False),
        ("earning", job["price"], True),
    ]
    # And the job's own lines say the same
    lines = await history(api, "drv-owe", f"/payments/{job['id']}")
    assert lines["items"] == result["items"] and lines["totals"] == result["totals"]


async def test_a_later_card_jobs_earnings_pay_the_debt_first(api: Api, fake: FakeProviders) -> None:
    # Given a driver who owes the commission of a cash job
    await cash_driver(api, "drv-net")
    cash, commission = await completed_cash_job(api, "cust-net-1", "drv-net")

    # When it completes a card-paid job
    card = await completed_card_job(api, fake, "cust-net-2", "drv-net")
    earned = card["driver_earnings"]["amount"]

    # Then its earnings pay the debt first; only the rest is payable
    totals = (await history(api, "drv-net"))["totals"]
    assert totals["balance"] == eur(earned - commission) and earned > commission
    assert totals["earned"] == eur(earned + cash["driver_earnings"]["amount"])
    assert totals["cash_commission"] == eur(commission) and totals["cash_collected"] == cash["price"]
    over = await api.call("POST", "/payouts/request", "drv-net", json={"amount": eur(earned)})
    assert error_of(over, 409, "INSUFFICIENT_BALANCE")["details"]["balance"] == eur(earned - commission)
    payout = await api.ok("POST", "/payouts/request", "drv-net", 201)
    assert payout["amount"] == eur(earned - commission)
    assert (await history(api, "drv-net"))["totals"]["balance"] == eur(0)


async def test_a_payout_with_a_negative_balance_is_refused(api: Api, fake: FakeProviders) -> None:
    # Given a driver whose debt is larger than what it has earned since
    await cash_driver(api, "drv-neg")
    _, first = await completed_cash_job(api, "cust-neg-1", "drv-neg")
    _, second = await completed_cash_job(api, "cust-neg-2", "drv-neg")
    balance = -(first + second)

    # Then no payout goes out, of the whole balance or of any amount
    for body in (None, {"amount": eur(1)}, {"amount": eur(first)}):
        response = await api.call("POST", "/payouts/request", "drv-neg", json=body)
        assert error_of(response, 409, "INSUFFICIENT_BALANCE")["details"]["balance"] == eur(balance)
    assert (await api.ok("GET", "/payouts", "drv-neg"))["items"] == []
    assert (await history(api, "drv-neg"))["totals"]["balance"] == eur(balance)


async def test_payments_over_graphql_show_the_cash_and_the_commission(api: Api, gql: GraphQL) -> None:
    await cash_driver(api, "drv-gq")
    job, commission = await completed_cash_job(api, "cust-gq", "drv-gq")

    payments = (await gql.ok("drv-gq", PAYMENTS))["payments"]

    assert payments["totals"] == {
        "earned": {"amount": job["driver_earnings"]["amount"]},
        "balance": eur(-commission),
        "cashCollected": {"amount": job["price"]["amount"]},
        "cashCommission": {"amount": commission},
    }
    assert payments["items"] == [
        {"jobId": job["id"], "type": "COMMISSION", "amount": {"amount": -commission}, "paidInCash": False},
        {
            "jobId": job["id"],
            "type": "EARNING",
            "amount": {"amount": job["price"]["amount"]},
            "paidInCash": True,
        },
    ]
