"""The platform's commission on cash jobs: the driver keeps the customer's cash, the commission
comes out of the driver's balance (below zero when nothing else is owed), later earnings and
tips pay that debt first, no payout pays it, the history shows it, and ops see who owes what."""

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
DRIVER_BALANCES = """
query Balances($onlyOwing: Boolean!, $limit: Int!, $cursor: String) {
  driverBalances(onlyOwing: $onlyOwing, limit: $limit, cursor: $cursor) {
    items { driverId name balance { amount currency } owed { amount } cashCommission { amount } }
    nextCursor
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


async def test_ops_see_what_every_driver_owes(api: Api, fake: FakeProviders, gql: GraphQL) -> None:
    # Given two drivers who owe commission on cash jobs, and one who is owed its earnings
    owing = [await cash_driver(api, sub) for sub in ("drv-o1", "drv-o2")]
    owed = await cash_driver(api, "drv-o3")
    commissions = [(await completed_cash_job(api, f"cust-{d['sub']}", d["sub"]))[1] for d in owing]
    card = await completed_card_job(api, fake, "cust-o3", "drv-o3")

    # When ops list every balance, one at a time
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        variables = {"onlyOwing": False, "limit": 1, "cursor": cursor}
        page = (await gql.ok("ops-1", DRIVER_BALANCES, variables, roles=["ops"]))["driverBalances"]
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break

    # Then each driver appears once, with its balance, its debt and the commission behind it
    earned = card["driver_earnings"]["amount"]
    assert {item["driverId"]: (item["balance"], item["owed"], item["cashCommission"]) for item in seen} == {
        owing[0]["id"]: (eur(-commissions[0]), {"amount": commissions[0]}, {"amount": commissions[0]}),
        owing[1]["id"]: (eur(-commissions[1]), {"amount": commissions[1]}, {"amount": commissions[1]}),
        owed["id"]: (eur(earned), {"amount": 0}, {"amount": 0}),
    }
    assert len(seen) == 3 and all(item["name"] for item in seen)

    # And only the drivers who owe, when asked
    variables = {"onlyOwing": True, "limit": 100, "cursor": None}
    page = (await gql.ok("ops-1", DRIVER_BALANCES, variables, roles=["ops"]))["driverBalances"]
    assert sorted(item["driverId"] for item in page["items"]) == sorted(d["id"] for d in owing)
    assert page["nextCursor"] is None


async def test_driver_balances_are_for_ops_only(api: Api, gql: GraphQL) -> None:
    await cash_driver(api, "drv-nosy")
    await completed_cash_job(api, "cust-nosy", "drv-nosy")
    variables = {"onlyOwing": False, "limit": 20, "cursor": None}

    for sub, roles in (("drv-nosy", None), ("cust-nosy", None), ("merchant-1", ["merchant"])):
        error = await gql.error(sub, DRIVER_BALANCES, variables, roles=roles)
        assert error["extensions"]["code"] == "FORBIDDEN"
    error = await gql.error(None, DRIVER_BALANCES, variables)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "variables", [{"limit": 0}, {"limit": 101}, {"cursor": "_w"}, {"cursor": "bm8tY3VycmVuY3k"}]
)
async def test_driver_balances_check_the_limit_and_the_cursor(
    api: Api, gql: GraphQL, variables: dict[str, Any]
) -> None:
    error = await gql.error(
        "ops-1",
        DRIVER_BALANCES,
        {"onlyOwing": False, "limit": 20, "cursor": None, **variables},
        roles=["ops"],
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
