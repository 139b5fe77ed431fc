"""Where drivers are paid (payout methods, checked and encrypted at rest) and the payouts
themselves: the balance comes from the ledger, a payout debits it when requested, a failed one
credits it back, and the history shows every line."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet

from logistics.config import Settings
from logistics.platform import Platform
from logistics.secrets_box import fernet_for
from tests.factories import Api
from tests.fake_providers import FakeProviders, no_network
from tests.graphql_helpers import GraphQL
from tests.payment_helpers import completed_card_job, db_rows, error_of, with_providers

no_network = no_network

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

IBAN = "DE89370400440532013000"
IBAN_SPACED = "de89 3704 0044 0532 0130 00"
BAD_IBAN = "DE89370400440532013001"
US_ACCOUNT = "000123456789"
ROUTING = "011000015"
BAD_ROUTING = "011000016"
CARD_TOKEN = "tok_1QxDebitCardFromProvider"
PAYPAL_EMAIL = "driver.payouts@example.com"


@pytest.fixture
def payout_provider() -> str:
    return "manual"


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders, payout_provider: str) -> Settings:
    return with_providers(settings, fake_providers).model_copy(update={"payout_provider": payout_provider})


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def iban_method(label: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "bank_account", "details": {"iban": IBAN}}
    if label is not None:
        body["label"] = label
    return body


async def add_method(api: Api, driver: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    method: dict[str, Any] = await api.ok("POST", "/payout-methods", driver, 201, json=body, **kwargs)
    return method


async def methods(api: Api, driver: str) -> list[dict[str, Any]]:
    page = await api.ok("GET", "/payout-methods", driver)
    items: list[dict[str, Any]] = page["items"]
    return items


async def history(api: Api, driver: str, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = await api.ok("GET", "/payments", driver, params=params)
    return result


async def earning_driver(
    api: Api, fake: FakeProviders, sub: str, jobs: int = 1
) -> tuple[dict[str, Any], int]:
    """An approved driver with a bank account and ``jobs`` completed card-paid jobs; its balance."""
    # Offline: dispatch offers no job exclusively to anyone, so any driver may take any job.
    driver = await api.register_driver(sub, online=False, at=None)
    await add_method(api, sub, iban_method())
    earned = 0
    for n in range(jobs):
        job = await completed_card_job(api, fake, f"cust-of-{sub}-{n}", sub)
        earned += job["driver_earnings"]["amount"]
    return driver, earned


MARK_PAID = """
mutation Paid($id: ID!) { markPayoutPaid(payoutId: $id) { id status paidAt failureReason amount { amount currency } } }
"""
MARK_FAILED = """
mutation Failed($id: ID!, $reason: String!) {
  markPayoutFailed(payoutId: $id, reason: $reason) { id status paidAt failureReason amount { amount currency } }
}
"""
REQUEST_PAYOUT = """
mutation Request($input: PayoutRequestInput) {
  requestPayout(input: $input) { id status methodId amount { amount currency } }
}
"""
PAYMENTS = """
query { payments { items { type amount { amount } paidInCash } totals { balance { amount } paidOut { amount } } } }
"""


# --- payout methods -----------------------------------------------------------------------------


async def test_a_bank_account_by_iban(api: Api, platform: Platform, settings: Settings) -> None:
    driver = await api.register_driver("drv-iban")

    response = await api.call(
        "POST", "/payout-methods", "drv-iban", json={"type": "bank_account", "details": {"iban": IBAN_SPACED}}
    )

    assert response.status_code == 201, response.text
    method = response.json()
    assert method["type"] == "bank_account" and method["last4"] == "3000"
    assert method["label"] == "Bank account DE ****3000"
    assert method["currency"] == "EUR" and method["is_default"] is True
    assert IBAN not in response.text and "370400440532013000" not in response.text
    listed = await api.call("GET", "/payout-methods", "drv-iban")
    assert IBAN not in listed.text and "0532013000" not in listed.text

    # At rest the details are ciphertext that only the platform's key opens.
    [(stored,)] = await db_rows(
        platform, "SELECT details_encrypted FROM payout_methods WHERE driver_id = :d", d=driver["id"]
    )
    assert IBAN not in stored and "0532013000" not in stored
    assert '"iban"' in fernet_for(settings).decrypt(stored.encode()).decode()
    with pytest.raises(Exception):  # noqa: B017 - any key but the platform's fails
        Fernet(Fernet.generate_key()).decrypt(stored.encode())


@pytest.mark.parametrize(
    ("details", "field"),
    [
        ({"iban": BAD_IBAN}, "details.iban"),
        ({"iban": "DE8937040044053201300"}, "details.iban"),  # one digit short
        ({"iban": "not an iban"}, "details.iban"),
        ({"account_number": US_ACCOUNT, "routing_number": BAD_ROUTING}, "details.routing_number"),
        ({"account_number": "12ab", "routing_number": ROUTING}, "details.account_number"),
        ({"account_number": US_ACCOUNT}, "details.iban"),
        ({}, "details.iban"),
    ],
)
async def test_bank_details_are_checked(api: Api, details: dict[str, str], field: str) -> None:
    await api.register_driver("drv-bad")

    response = await api.call(
        "POST", "/payout-methods", "drv-bad", json={"type": "bank_account", "details": details}
    )

    body = error_of(response, 422, "VALIDATION_FAILED")
    assert field in body["details"]["fields"], body
    assert await methods(api, "drv-bad") == []


async def test_a_us_bank_account(api: Api, platform: Platform) -> None:
    await api.register_driver("drv-us")
    response = await api.call(
        "POST",
        "/payout-methods",
        "drv-us",
        json={"type": "bank_account", "details": {"account_number": US_ACCOUNT, "routing_number": ROUTING}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["last4"] == "6789" and response.json()["label"] == "Bank account ****6789"
    assert US_ACCOUNT not in response.text and ROUTING not in response.text
    [(stored,)] = await db_rows(platform, "SELECT details_encrypted FROM payout_methods")
    assert US_ACCOUNT not in stored and ROUTING not in stored


async def test_a_debit_card_is_a_provider_token_never_a_number(api: Api, platform: Platform) -> None:
    await api.register_driver("drv-card")

    for details in (
        {},
        {"token": "4242 4242 4242 4242"},
        {"token": "4000056655665556"},
        {"token": CARD_TOKEN, "number": "4242424242424242"},
    ):
        response = await api.call(
            "POST", "/payout-methods", "drv-card", json={"type": "debit_card", "details": details}
        )
        error_of(response, 422, "VALIDATION_FAILED")
        assert "4242424242424242" not in response.text

    response = await api.call(
        "POST",
        "/payout-methods",
        "drv-card",
        json={"type": "debit_card", "details": {"token": CARD_TOKEN, "last4": "4242"}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["last4"] == "4242" and response.json()["label"] == "Debit card ****4242"
    assert CARD_TOKEN not in response.text
    assert CARD_TOKEN not in (await api.call("GET", "/payout-methods", "drv-card")).text
    [(stored,)] = await db_rows(platform, "SELECT details_encrypted FROM payout_methods")
    assert CARD_TOKEN not in stored


async def test_a_paypal_payout_method_shows_a_masked_email(api: Api, platform: Platform) -> None:
    await api.register_driver("drv-pp")
    response = await api.call(
        "POST", "/payout-methods", "drv-pp", json={"type": "paypal", "details": {"email": PAYPAL_EMAIL}}
    )
    assert response.status_code == 201, response.text
    method = response.json()
    assert method["last4"] is None
    assert method["label"] == "PayPal d***@example.com"
    assert PAYPAL_EMAIL not in response.text
    [(stored,)] = await db_rows(platform, "SELECT details_encrypted FROM payout_methods")
    assert PAYPAL_EMAIL not in stored
    bad = await api.call(
        "POST", "/payout-methods", "drv-pp", json={"type": "paypal", "details": {"email": "nobody"}}
    )
    error_of(bad, 422, "VALIDATION_FAILED")


async def test_the_first_method_is_the_default_until_another_is_chosen(api: Api) -> None:
    await api.register_driver("drv-def")
    first = await add_method(api, "drv-def", iban_method("Main account"))
    second = await add_method(api, "drv-def", {"type": "paypal", "details": {"email": PAYPAL_EMAIL}})
    assert first["is_default"] is True and first["label"] == "Main account"
    assert second["is_default"] is False

    chosen = await api.ok("PUT", f"/payout-methods/{second['id']}/default", "drv-def")

    assert chosen["id"] == second["id"] and chosen["is_default"] is True
    assert {m["id"]: m["is_default"] for m in await methods(api, "drv-def")} == {
        first["id"]: False,
        second["id"]: True,
    }


async def test_renaming_a_method(api: Api) -> None:
    await api.register_driver("drv-name")
    method = await add_method(api, "drv-name", iban_method())
    renamed = await api.ok("PUT", f"/payout-methods/{method['id']}", "drv-name", json={"label": "Savings"})
    assert renamed["label"] == "Savings" and renamed["last4"] == "3000"
    assert [m["label"] for m in await methods(api, "drv-name")] == ["Savings"]
    error_of(
        await api.call("PUT", f"/payout-methods/{method['id']}", "drv-name", json={"label": ""}),
        422,
        "VALIDATION_FAILED",
    )


async def test_deleting_a_method(api: Api) -> None:
    await api.register_driver("drv-del")
    first = await add_method(api, "drv-del", iban_method())
    second = await add_method(api, "drv-del", {"type": "paypal", "details": {"email": PAYPAL_EMAIL}})

    response = await api.call("DELETE", f"/payout-methods/{first['id']}", "drv-del")

    assert response.status_code == 204 and response.content == b""
    remaining = await methods(api, "drv-del")
    # The default went away: the remaining method takes its place.
    assert [(m["id"], m["is_default"]) for m in remaining] == [(second["id"], True)]
    error_of(await api.call("DELETE", f"/payout-methods/{first['id']}", "drv-del"), 404, "NOT_FOUND")
    error_of(await api.call("PUT", f"/payout-methods/{first['id']}/default", "drv-del"), 404, "NOT_FOUND")


async def test_a_method_with_a_pending_payout_is_kept_until_the_payout_settles(
    api: Api, fake: FakeProviders, gql: GraphQL
) -> None:
    _, _ = await earning_driver(api, fake, "drv-pend")
    [method] = await methods(api, "drv-pend")
    payout = await api.ok("POST", "/payouts/request", "drv-pend", 201)

    response = await api.call("DELETE", f"/payout-methods/{method['id']}", "drv-pend")

    body = error_of(response, 409, "INVALID_TRANSITION")
    assert body["details"]["allowed"] == []
    assert [m["id"] for m in await methods(api, "drv-pend")] == [method["id"]]
    await gql.ok("ops-1", MARK_PAID, {"id": payout["id"]}, roles=["ops"])
    assert (await api.call("DELETE", f"/payout-methods/{method['id']}", "drv-pend")).status_code == 204


async def test_another_drivers_method_is_not_found(api: Api, fake: FakeProviders) -> None:
    await api.register_driver("drv-owner", online=False, at=None)
    await earning_driver(api, fake, "drv-other")
    method = await add_method(api, "drv-owner", iban_method())

    for verb, path, body in (
        ("PUT", f"/payout-methods/{method['id']}", {"label": "Mine now"}),
        ("PUT", f"/payout-methods/{method['id']}/default", None),
        ("DELETE", f"/payout-methods/{method['id']}", None),
        ("POST", "/payouts/request", {"method_id": method["id"]}),
    ):
        error_of(await api.call(verb, path, "drv-other", json=body), 404, "NOT_FOUND")
    assert [m["label"] for m in await methods(api, "drv-owner")] == [method["label"]]
    assert (await api.ok("GET", "/payouts", "drv-owner"))["items"] == []


async def test_payout_methods_are_for_drivers(api: Api) -> None:
    error_of(await api.call("GET", "/payout-methods", "cust-1"), 403, "FORBIDDEN")
    error_of(await api.call("POST", "/payout-methods", "cust-1", json=iban_method()), 403, "FORBIDDEN")
    error_of(await api.call("POST", "/payouts/request", "cust-1"), 403, "FORBIDDEN")
    error_of(await api.call("GET", "/payments", "cust-1"), 403, "FORBIDDEN")
    error_of(await api.call("GET", "/payout-methods", None), 401, "UNAUTHENTICATED")


async def test_idempotency_key_on_payout_methods(api: Api, platform: Platform) -> None:
    await api.register_driver("drv-idem")
    key = {"Idempotency-Key": "method-1"}
    first = await add_method(api, "drv-idem", iban_method(), headers=key)
    again = await add_method(api, "drv-idem", iban_method(), headers=key)
    assert again == first
    assert len(await methods(api, "drv-idem")) == 1
    other = {"type": "bank_account", "details": {"account_number": US_ACCOUNT, "routing_number": ROUTING}}
    error_of(
        await api.call("POST", "/payout-methods", "drv-idem", json=other, headers=key),
        409,
        "IDEMPOTENCY_CONFLICT",
    )
    # The key's record does not hold the details in clear either.
    rows = await db_rows(platform, "SELECT fingerprint, resource_id FROM idempotency_keys")
    assert all(IBAN not in str(row) for row in rows)


# --- payouts -------------------------------------------------------------------------------------


async def test_a_payout_takes_the_whole_balance_by_default(
    api: Api, fake: FakeProviders, platform: Platform
) -> None:
    # Given a driver whose card-paid jobs earned it a balance
    _, earned = await earning_driver(api, fake, "drv-pay", jobs=2)
    [method] = await methods(api, "drv-pay")
    assert (await history(api, "drv-pay"))["totals"]["balance"] == eur(earned)

    # When it asks for a payout without saying how much
    payout = await api.ok("POST", "/payouts/request", "drv-pay", 201)

    # Then the whole balance goes to the default method, pending
    assert payout["amount"] == eur(earned)
    assert payout["status"] == "pending" and payout["method_id"] == method["id"]
    assert payout["paid_at"] is None and payout["requested_at"]
    after = await history(api, "drv-pay")
    assert after["totals"]["balance"] == eur(0)
    assert after["totals"]["earned"] == eur(earned) and after["totals"]["paid_out"] == eur(0)
    assert after["items"][0]["type"] == "payout" and after["items"][0]["amount"] == eur(-earned)
    assert (await api.ok("GET", "/payouts", "drv-pay"))["items"] == [payout]

    # And nothing is left to pay out
    body = error_of(await api.call("POST", "/payouts/request", "drv-pay"), 409, "INSUFFICIENT_BALANCE")
    assert body["details"]["balance"] == eur(0)


async def test_a_cash_job_leaves_the_commission_owed(api: Api) -> None:
    await api.register_driver("drv-cash")
    await add_method(api, "drv-cash", iban_method())
    order = await api.order("cust-cash")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", "drv-cash")
    job = await api.walk_to("drv-cash", order["id"], "complete")
    commission = job["price"]["amount"] - job["driver_earnings"]["amount"]

    result = await history(api, "drv-cash")

    # Earned, but in cash: the driver holds the whole price and owes the commission on it.
    assert result["totals"]["balance"] == eur(-commission)
    assert result["totals"]["earned"] == job["driver_earnings"]
    assert [(line["type"], line["paid_in_cash"]) for line in result["items"]] == [
        ("commission", False),
        ("earning", True),
    ]
    body = error_of(await api.call("POST", "/payouts/request", "drv-cash"), 409, "INSUFFICIENT_BALANCE")
    assert body["details"]["balance"] == eur(-commission)


async def test_a_partial_payout_and_one_beyond_the_balance(api: Api, fake: FakeProviders) -> None:
    _, earned = await earning_driver(api, fake, "drv-part")

    part = await api.ok("POST", "/payouts/request", "drv-part", 201, json={"amount": eur(100)})
    assert part["amount"] == eur(100)
    assert (await history(api, "drv-part"))["totals"]["balance"] == eur(earned - 100)

    body = error_of(
        await api.call("POST", "/payouts/request", "drv-part", json={"amount": eur(earned)}),
        409,
        "INSUFFICIENT_BALANCE",
    )
    assert body["details"]["balance"] == eur(earned - 100)
    for amount in (eur(0), eur(-5)):
        error_of(
            await api.call("POST", "/payouts/request", "drv-part", json={"amount": amount}),
            422,
            "VALIDATION_FAILED",
        )
    usd = await api.call(
        "POST", "/payouts/request", "drv-part", json={"amount": {"amount": 10, "currency": "USD"}}
    )
    error_of(usd, 422, "VALIDATION_FAILED")
    assert (await history(api, "drv-part"))["totals"]["balance"] == eur(earned - 100)
    assert len((await api.ok("GET", "/payouts", "drv-part"))["items"]) == 1


async def test_a_payout_needs_a_method(api: Api, fake: FakeProviders) -> None:
    await api.register_driver("drv-nomethod")
    await completed_card_job(api, fake, "cust-nm", "drv-nomethod")
    body = error_of(await api.call("POST", "/payouts/request", "drv-nomethod"), 422, "VALIDATION_FAILED")
    assert "method_id" in body["details"]["fields"]


async def test_a_payout_to_a_chosen_method(api: Api, fake: FakeProviders) -> None:
    _, earned = await earning_driver(api, fake, "drv-choose")
    paypal = await add_method(api, "drv-choose", {"type": "paypal", "details": {"email": PAYPAL_EMAIL}})
    payout = await api.ok("POST", "/payouts/request", "drv-choose", 201, json={"method_id": paypal["id"]})
    assert payout["method_id"] == paypal["id"] and payout["amount"] == eur(earned)


async def test_a_failed_payout_returns_the_money_through_a_reversing_entry(
    api: Api, fake: FakeProviders, gql: GraphQL, platform: Platform
) -> None:
    # Given a pending payout of the whole balance
    _, earned = await earning_driver(api, fake, "drv-fail")
    payout = await api.ok("POST", "/payouts/request", "drv-fail", 201)

    # When ops mark it failed
    data = await gql.ok("ops-1", MARK_FAILED, {"id": payout["id"], "reason": "account closed"}, roles=["ops"])

    # Then it is failed with its reason, and the money is back in the balance
    marked = data["markPayoutFailed"]
    assert marked["status"] == "FAILED" and marked["failureReason"] == "account closed"
    assert marked["paidAt"] is None
    result = await history(api, "drv-fail")
    assert result["totals"]["balance"] == eur(earned)
    assert result["totals"]["paid_out"] == eur(0)
    assert [(line["type"], line["amount"]) for line in result["items"][:2]] == [
        ("adjustment", eur(earned)),
        ("payout", eur(-earned)),
    ]
    [listed] = (await api.ok("GET", "/payouts", "drv-fail"))["items"]
    assert listed["status"] == "failed" and listed["failure_reason"] == "account closed"
    # The original debit stays; a reversing posting undoes it.
    rows = await db_rows(
        platform,
        "SELECT type, COUNT(DISTINCT posting_id) FROM ledger_entries WHERE type LIKE 'payout%' GROUP BY type",
    )
    assert dict(rows) == {"payout": 1, "payout_reversal": 1}

    # And the money can be paid out again
    again = await api.ok("POST", "/payouts/request", "drv-fail", 201)
    assert again["amount"] == eur(earned)
    # A settled payout is not settled again.
    repeat = await gql.error("ops-1", MARK_PAID, {"id": payout["id"]}, roles=["ops"])
    assert repeat["extensions"]["code"] == "INVALID_TRANSITION"


async def test_a_paid_payout(api: Api, fake: FakeProviders, gql: GraphQL) -> None:
    _, earned = await earning_driver(api, fake, "drv-paid")
    payout = await api.ok("POST", "/payouts/request", "drv-paid", 201)

    data = await gql.ok("ops-1", MARK_PAID, {"id": payout["id"]}, roles=["ops"])

    assert data["markPayoutPaid"]["status"] == "PAID" and data["markPayoutPaid"]["paidAt"]
    [listed] = (await api.ok("GET", "/payouts", "drv-paid"))["items"]
    assert listed["status"] == "paid" and listed["paid_at"]
    totals = (await history(api, "drv-paid"))["totals"]
    assert totals["paid_out"] == eur(earned) and totals["balance"] == eur(0)
    again = await gql.error("ops-1", MARK_FAILED, {"id": payout["id"], "reason": "late"}, roles=["ops"])
    assert again["extensions"]["code"] == "INVALID_TRANSITION"
    assert (await history(api, "drv-paid"))["totals"]["balance"] == eur(0)


async def test_only_ops_settle_payouts(api: Api, fake: FakeProviders, gql: GraphQL) -> None:
    await earning_driver(api, fake, "drv-ops")
    payout = await api.ok("POST", "/payouts/request", "drv-ops", 201)

    for sub, roles in (("drv-ops", None), ("cust-1", None), ("merchant-1", ["merchant"])):
        paid = await gql.error(sub, MARK_PAID, {"id": payout["id"]}, roles=roles)
        failed = await gql.error(sub, MARK_FAILED, {"id": payout["id"], "reason": "x"}, roles=roles)
        assert paid["extensions"]["code"] == failed["extensions"]["code"] == "FORBIDDEN"

    [listed] = (await api.ok("GET", "/payouts", "drv-ops"))["items"]
    assert listed["status"] == "pending"
    missing = await gql.error("ops-1", MARK_PAID, {"id": "no-such-payout"}, roles=["ops"])
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_payouts_over_graphql(api: Api, fake: FakeProviders, gql: GraphQL) -> None:
    _, earned = await earning_driver(api, fake, "drv-g")
    data = await gql.ok("drv-g", REQUEST_PAYOUT, {"input": {"amount": eur(50)}})
    assert data["requestPayout"]["amount"] == eur(50) and data["requestPayout"]["status"] == "PENDING"
    whole = await gql.ok("drv-g", REQUEST_PAYOUT)
    assert whole["requestPayout"]["amount"] == eur(earned - 50)
    over = await gql.error("drv-g", REQUEST_PAYOUT, {"input": {"amount": eur(1)}})
    assert over["extensions"]["code"] == "INSUFFICIENT_BALANCE"
    payments = (await gql.ok("drv-g", PAYMENTS))["payments"]
    assert payments["totals"]["balance"] == {"amount": 0}
    assert [line["type"] for line in payments["items"]][:2] == ["PAYOUT", "PAYOUT"]


async def test_idempotency_key_on_payout_requests(api: Api, fake: FakeProviders) -> None:
    _, earned = await earning_driver(api, fake, "drv-ik")
    key = {"Idempotency-Key": "payout-1"}
    first = await api.ok("POST", "/payouts/request", "drv-ik", 201, json={"amount": eur(100)}, headers=key)
    again = await api.ok("POST", "/payouts/request", "drv-ik", 201, json={"amount": eur(100)}, headers=key)
    assert again == first
    assert (await history(api, "drv-ik"))["totals"]["balance"] == eur(earned - 100)
    conflict = await api.call("POST", "/payouts/request", "drv-ik", json={"amount": eur(200)}, headers=key)
    error_of(conflict, 409, "IDEMPOTENCY_CONFLICT")
    assert len((await api.ok("GET", "/payouts", "drv-ik"))["items"]) == 1


# --- Stripe Connect payouts -----------------------------------------------------------------------


@pytest.mark.parametrize("payout_provider", ["stripe"])
async def test_a_stripe_connect_payout_is_paid_at_once(
    api: Api, fake: FakeProviders, payout_provider: str
) -> None:
    await api.register_driver("drv-connect")
    await add_method(
        api,
        "drv-connect",
        {"type": "debit_card", "details": {"token": CARD_TOKEN, "stripe_account": "acct_1Driver"}},
    )
    job = await completed_card_job(api, fake, "cust-connect", "drv-connect")
    earned = job["driver_earnings"]["amount"]

    payout = await api.ok("POST", "/payouts/request", "drv-connect", 201)

    assert payout["status"] == "paid" and payout["paid_at"]
    [transfer] = fake.transfers.values()
    assert (transfer["destination"], transfer["amount"], transfer["currency"]) == (
        "acct_1Driver",
        earned,
        "eur",
    )
    totals = (await history(api, "drv-connect"))["totals"]
    assert totals["paid_out"] == eur(earned) and totals["balance"] == eur(0)


@pytest.mark.parametrize("payout_provider", ["stripe"])
async def test_a_refused_stripe_connect_payout_returns_the_money(
    api: Api, fake: FakeProviders, payout_provider: str
) -> None:
    # A bank account is no Connect account: Stripe refuses, and the balance is whole again.
    _, earned = await earning_driver(api, fake, "drv-refused")

    payout = await api.ok("POST", "/payouts/request", "drv-refused", 201)

    assert payout["status"] == "failed" and payout["failure_reason"]
    assert fake.transfers == {}
    result = await history(api, "drv-refused")
    assert result["totals"]["balance"] == eur(earned)
    assert [line["type"] for line in result["items"][:2]] == ["adjustment", "payout"]


# --- history -------------------------------------------------------------------------------------


async def test_the_history_pages_and_one_jobs_lines(api: Api, fake: FakeProviders) -> None:
    # Given three completed card-paid jobs and a payout
    await earning_driver(api, fake, "drv-hist", jobs=3)
    await api.ok("POST", "/payouts/request", "drv-hist", 201, json={"amount": eur(10)})
    await api.ok("POST", "/payouts/request", "drv-hist", 201, json={"amount": eur(20)})
    full = await history(api, "drv-hist", limit=100)
    assert [line["type"] for line in full["items"]] == ["payout", "payout", "earning", "earning", "earning"]

    # When it reads two lines at a time
    seen: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = await history(api, "drv-hist", limit=2, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += page["items"]
        assert page["totals"] == full["totals"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # Then the pages hold every line once, newest first
    assert pages == 3 and seen == full["items"]

    # And one job's lines are that job's only
    job_id = full["items"][-1]["job_id"]
    lines = await api.ok("GET", f"/payments/{job_id}", "drv-hist", params={"limit": 1})
    assert [line["job_id"] for line in lines["items"]] == [job_id]
    assert lines["next_cursor"] is None
    assert lines["totals"]["earned"] == full["items"][-1]["amount"]

    # And payouts page the same way
    first = await api.ok("GET", "/payouts", "drv-hist", params={"limit": 1})
    assert first["items"][0]["amount"] == eur(20) and first["next_cursor"]
    rest = await api.ok("GET", "/payouts", "drv-hist", params={"limit": 1, "cursor": first["next_cursor"]})
    assert rest["items"][0]["amount"] == eur(10) and rest["next_cursor"] is None

    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "_w"}):
        error_of(await api.call("GET", "/payments", "drv-hist", params=bad), 422, "VALIDATION_FAILED")
        error_of(await api.call("GET", "/payouts", "drv-hist", params=bad), 422, "VALIDATION_FAILED")


async def test_another_drivers_job_payments_are_not_found(api: Api, fake: FakeProviders) -> None:
    await api.register_driver("drv-mine", online=False, at=None)
    await api.register_driver("drv-theirs", online=False, at=None)
    job = await completed_card_job(api, fake, "cust-j", "drv-theirs")

    error_of(await api.call("GET", f"/payments/{job['id']}", "drv-mine"), 404, "NOT_FOUND")
    error_of(await api.call("GET", f"/payments/{job['id']}", "cust-j"), 403, "FORBIDDEN")
    error_of(await api.call("GET", "/payments/no-such-job", "drv-theirs"), 404, "NOT_FOUND")
    mine = await history(api, "drv-mine")
    assert mine["items"] == [] and mine["totals"]["balance"] == eur(0)


async def test_the_history_over_graphql_matches_rest(api: Api, fake: FakeProviders, gql: GraphQL) -> None:
    _, earned = await earning_driver(api, fake, "drv-gh")
    payments = (await gql.ok("drv-gh", PAYMENTS))["payments"]
    assert payments["totals"]["balance"] == {"amount": earned}
    assert payments["items"] == [{"type": "EARNING", "amount": {"amount": earned}, "paidInCash": False}]
    rest = await history(api, "drv-gh")
    assert rest["totals"]["balance"]["amount"] == payments["totals"]["balance"]["amount"]
    assert [line["type"].upper() for line in rest["items"]] == [line["type"] for line in payments["items"]]
