"""The payments sandbox: card orders, tips, refunds and payouts with no provider account.

The sandbox serves the ``stripe`` method. A customer pays by confirming the charge with a test
card; the order moves when the sandbox's signed webhook reaches ``/webhooks/stripe``, which the
sandbox sends itself after the confirm request has answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from logistics.app import build_platform, create_app
from logistics.config import Settings
from logistics.payments.gateway import ManualPayouts
from logistics.payments.providers import build_payment_gateways, build_payout_gateway
from logistics.payments.sandbox_gateway import SIGNATURE_HEADER, SandboxGateway, SandboxPayouts, signature
from logistics.platform import Platform
from tests.factories import REST, Api
from tests.fake_providers import no_network
from tests.payment_helpers import card_order, db_rows, error_of, postings, statuses

# The sandbox never talks to a network: every test here runs behind the socket guard.
no_network = no_network

SUCCEEDS = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
NO_FUNDS = "4000 0000 0000 9995"
IBAN = "DE89370400440532013000"
CONFIRM = "/sandbox/payments/{}/confirm"
# A bound on waiting for the sandbox's webhooks, never a measure of how long they take.
DELIVERY_TIMEOUT_S = 10.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"payments_sandbox": True})


@pytest.fixture
def sandbox(platform: Platform) -> SandboxGateway:
    gateway = platform.gateways["stripe"]
    assert isinstance(gateway, SandboxGateway)
    return gateway


def eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


async def delivered(sandbox: SandboxGateway) -> None:
    """Wait until the webhooks the sandbox has sent so far have been taken by the app."""
    await asyncio.wait_for(sandbox.drain(), DELIVERY_TIMEOUT_S)


async def start_paying(api: Api, customer: str, job_id: str, **kwargs: Any) -> dict[str, Any]:
    start: dict[str, Any] = await api.ok(
        "POST", f"/orders/{job_id}/payment-intent", customer, 201, json={"method": "stripe"}, **kwargs
    )
    return start


async def confirm(api: Api, customer: str, payment_id: str, card: str) -> dict[str, Any]:
    answer: dict[str, Any] = await api.ok(
        "POST", CONFIRM.format(payment_id), customer, json={"card_number": card}
    )
    return answer


async def paid_order(api: Api, sandbox: SandboxGateway, customer: str) -> tuple[dict[str, Any], str]:
    """An order paid with the succeeding test card, its webhook taken; and its payment id."""
    order = await card_order(api, customer)
    start = await start_paying(api, customer, order["id"])
    await confirm(api, customer, start["payment_id"], SUCCEEDS)
    await delivered(sandbox)
    return order, start["payment_id"]


async def payment_status(platform: Platform, payment_id: str) -> str:
    [(status,)] = await db_rows(platform, "SELECT status FROM payments WHERE id = :id", id=payment_id)
    return str(status)


async def test_a_card_order_is_paid_by_the_webhook_delivered_tipped_and_paid_out(
    api: Api, sandbox: SandboxGateway, platform: Platform
) -> None:
    # Given a driver online near the pickup, and a customer told card payments are the sandbox's
    driver = await api.register_driver("drv-sbx")
    init = await api.ok("GET", "/init", "cust-sbx")
    assert init["payment"]["methods"] == ["cash", "stripe"] and init["payment"]["sandbox"] is True

    # When the customer books with the card method and pays with the succeeding test card
    order = await card_order(api, "cust-sbx")
    assert order["status"] == "awaiting_payment"
    start = await start_paying(api, "cust-sbx", order["id"], headers={"Idempotency-Key": "pay-1"})
    assert start["provider"] == "stripe" and start["status"] == "pending" and start["client_secret"]
    assert start["amount"] == order["price"]
    charge = await confirm(api, "cust-sbx", start["payment_id"], SUCCEEDS)
    assert charge["status"] == "succeeded" and charge["card"] == {"brand": "visa", "last4": "4242"}
    await delivered(sandbox)

    # Then the sandbox's webhook paid it (the client never verified): searching, offered to the driver
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-sbx")
    assert job["status"] == "searching" and job["payment"] == {"method": "stripe", "status": "paid"}
    assert job["timeline"][-1]["actor"] == "system"
    [(event_id,)] = await db_rows(platform, "SELECT event_id FROM provider_events WHERE provider = 'stripe'")
    assert event_id.startswith("evt_sbx_")
    offers = await db_rows(
        platform, "SELECT driver_id, status FROM job_offers WHERE job_id = :j", j=order["id"]
    )
    assert offers == [(driver["id"], "pending")]
    assert await postings(platform, order["id"], "payment") == 1

    # When the driver takes the job and delivers it
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    done = await api.walk_to(driver["sub"], order["id"], "complete")
    earnings = done["driver_earnings"]["amount"]
    assert done["status"] == "completed"

    # And the customer tips with a test card
    tip = await api.ok(
        "POST",
        f"/orders/{order['id']}/tip",
        "cust-sbx",
        201,
        json={"amount": eur(300), "method": "stripe"},
        headers={"Idempotency-Key": "tip-1"},
    )
    await confirm(api, "cust-sbx", tip["payment_id"], SUCCEEDS)
    await delivered(sandbox)

    # Then the driver's balance holds the earnings and the whole tip, credited once
    totals = (await api.ok("GET", "/payments", driver["sub"]))["totals"]
    assert totals["balance"] == eur(earnings + 300) and totals["tips"] == eur(300)
    again = await api.ok(
        "POST", f"/orders/{order['id']}/tip/complete", "cust-sbx", json={"payment_id": tip["payment_id"]}
    )
    assert again == {"tip": eur(300), "status": "succeeded"}
    assert await postings(platform, order["id"], "tip") == 1

    # When the driver asks for a payout to a bank account
    await api.ok(
        "POST",
        "/payout-methods",
        driver["sub"],
        201,
        json={"type": "bank_account", "details": {"iban": IBAN}},
    )
    payout = await api.ok(
        "POST", "/payouts/request", driver["sub"], 201, json={}, headers={"Idempotency-Key": "po-1"}
    )

    # Then the sandbox pays it out at once, with no ops step
    assert payout["status"] == "paid" and payout["paid_at"] and payout["amount"] == eur(earnings + 300)
    totals = (await api.ok("GET", "/payments", driver["sub"]))["totals"]
    assert totals["balance"] == eur(0) and totals["paid_out"] == eur(earnings + 300)
    [(provider, ref)] = await db_rows(platform, "SELECT provider, provider_ref FROM payouts")
    assert provider == "sandbox" and ref == f"sbx_po_{payout['id']}"


async def test_cancelling_a_paid_order_refunds_it_through_the_sandbox(
    api: Api, sandbox: SandboxGateway, platform: Platform
) -> None:
    # Given an order paid through the sandbox
    order, payment_id = await paid_order(api, sandbox, "cust-refund")

    # When the customer cancels it while dispatch still looks for a driver
    job = await api.ok(
        "PUT", f"/orders/{order['id']}/cancel", "cust-refund", json={"reason": "plans changed"}
    )

    # Then the whole price goes back through the sandbox, which records the refund
    assert job["status"] == "cancelled" and job["payment"]["status"] == "refunded"
    assert job["cancellation"]["fee"] == eur(0) and job["cancellation"]["refund"] == order["price"]
    payment = await api.ok("POST", "/stripe/verify", "cust-refund", json={"payment_id": payment_id})
    assert payment["status"] == "refunded"
    charge = sandbox.charges[payment["provider_ref"]]
    assert charge.status == "refunded" and charge.refunded == order["price"]["amount"]
    assert await postings(platform, order["id"], "cancellation") == 1
    [(held,)] = await db_rows(
        platform,
        "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = 'prepaid_jobs' AND owner_id = :j",
        j=order["id"],
    )
    assert held == 0

    # And cancelling again is a retried request: no second refund
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-refund", json={})
    assert len(sandbox.charges[payment["provider_ref"]].refunds) == 1


@pytest.mark.parametrize(
    ("card", "decline_code"), [(DECLINED, "generic_decline"), (NO_FUNDS, "insufficient_funds")]
)
async def test_a_declined_card_leaves_the_order_awaiting_payment(
    api: Api, sandbox: SandboxGateway, platform: Platform, card: str, decline_code: str
) -> None:
    # Given a card order whose customer confirms with a card that is declined
    order = await card_order(api, "cust-declined")
    start = await start_paying(api, "cust-declined", order["id"])
    answer = await confirm(api, "cust-declined", start["payment_id"], card)
    assert answer["status"] == "failed" and answer["decline_code"] == decline_code and answer["message"]
    await delivered(sandbox)

    # Then the webhook marked the payment failed, and completing it is PAYMENT_FAILED
    assert await payment_status(platform, start["payment_id"]) == "failed"
    complete = await api.call(
        "POST",
        f"/orders/{order['id']}/complete-payment",
        "cust-declined",
        json={"payment_id": start["payment_id"]},
    )
    error_of(complete, 402, "PAYMENT_FAILED")
    verify = await api.call(
        "POST", "/stripe/verify", "cust-declined", json={"payment_id": start["payment_id"]}
    )
    error_of(verify, 402, "PAYMENT_FAILED")
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-declined")
    assert job["status"] == "awaiting_payment" and job["payment"]["status"] == "unpaid"
    assert await postings(platform, order["id"], "payment") == 0

    # When the customer tries the same payment again with a card that works
    retry = await confirm(api, "cust-declined", start["payment_id"], SUCCEEDS)
    assert retry["status"] == "succeeded" and retry["decline_code"] is None
    await delivered(sandbox)

    # Then the order is paid and searching
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-declined")
    assert job["status"] == "searching" and statuses(job) == ["awaiting_payment", "searching"]
    assert await postings(platform, order["id"], "payment") == 1


async def test_confirming_twice_gives_the_same_outcome_and_pays_once(
    api: Api, sandbox: SandboxGateway, platform: Platform
) -> None:
    order = await card_order(api, "cust-twice")
    start = await start_paying(api, "cust-twice", order["id"])

    first = await confirm(api, "cust-twice", start["payment_id"], SUCCEEDS)
    # A second confirm, even with a declined card, answers what was recorded
    second = await confirm(api, "cust-twice", start["payment_id"], DECLINED)
    await delivered(sandbox)

    assert second == first and first["status"] == "succeeded"
    # Both confirms delivered the one event; the platform acted on it once
    assert await db_rows(platform, "SELECT COUNT(*) FROM provider_events") == [(1,)]
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-twice")
    assert statuses(job) == ["awaiting_payment", "searching"]
    assert await postings(platform, order["id"], "payment") == 1


async def test_the_clients_own_confirm_reports_what_the_sandbox_recorded(
    api: Api, sandbox: SandboxGateway, platform: Platform
) -> None:
    # Given a payment started but not yet confirmed with a card
    order = await card_order(api, "cust-verify")
    start = await start_paying(api, "cust-verify", order["id"])
    early = await api.ok("POST", "/stripe/verify", "cust-verify", json={"payment_id": start["payment_id"]})
    assert early["status"] == "pending" and early["provider_ref"].startswith("sbx_pi_")

    # When the card is confirmed and the client completes the payment itself
    await confirm(api, "cust-verify", start["payment_id"], SUCCEEDS)
    job = await api.ok(
        "POST",
        f"/orders/{order['id']}/complete-payment",
        "cust-verify",
        json={"payment_id": start["payment_id"]},
    )
    await delivered(sandbox)

    # Then the order is searching, however the webhook and the client met: paid once
    assert job["status"] == "searching"
    assert await payment_status(platform, start["payment_id"]) == "succeeded"
    assert await postings(platform, order["id"], "payment") == 1


async def test_only_the_charges_customer_confirms_it_and_only_with_a_test_card(
    api: Api, sandbox: SandboxGateway
) -> None:
    order = await card_order(api, "cust-own")
    start = await start_paying(api, "cust-own", order["id"])
    path = CONFIRM.format(start["payment_id"])

    error_of(await api.call("POST", path, "someone-else", json={"card_number": SUCCEEDS}), 404, "NOT_FOUND")
    missing = CONFIRM.format("no-such-payment")
    error_of(await api.call("POST", missing, "cust-own", json={"card_number": SUCCEEDS}), 404, "NOT_FOUND")
    real = await api.call("POST", path, "cust-own", json={"card_number": "4111 1111 1111 1111"})
    assert "card_number" in error_of(real, 422, "VALIDATION_FAILED")["details"]["fields"]
    error_of(await api.call("POST", path, None, json={"card_number": SUCCEEDS}), 401, "UNAUTHENTICATED")

    # Nothing was recorded, and no event sent
    [charge] = sandbox.charges.values()
    assert charge.status == "pending" and charge.event is None


@pytest.mark.parametrize("forgery", ["another secret", "tampered body", "no signature", "an old signature"])
async def test_a_forged_sandbox_webhook_is_refused(
    api: Api, sandbox: SandboxGateway, platform: Platform, settings: Settings, forgery: str
) -> None:
    # Given a charge the sandbox recorded as paid, whose event it has not sent yet
    order = await card_order(api, "cust-forged")
    start = await start_paying(api, "cust-forged", order["id"])
    [ref] = sandbox.charges
    event = sandbox.pay(ref, SUCCEEDS).event
    body = json.dumps(event, separators=(",", ":")).encode()
    secret, now = settings.payments_sandbox_webhook_secret, int(time.time())
    headers = {SIGNATURE_HEADER: signature(body, secret, now)}
    if forgery == "another secret":
        headers[SIGNATURE_HEADER] = signature(body, "whsec_someone_else", now)
    elif forgery == "tampered body":
        body = body.replace(b'"amount_received":', b'"amount_received":1')
    elif forgery == "no signature":
        del headers[SIGNATURE_HEADER]
    else:
        headers[SIGNATURE_HEADER] = signature(body, secret, now - 3600)

    # When someone posts it to the webhook
    response = await api.client.post("/webhooks/stripe", content=body, headers=headers)

    # Then it is refused, and the order still waits
    error_of(response, 401, "UNAUTHENTICATED")
    job = await api.ok("GET", f"/jobs/{order['id']}", "cust-forged")
    assert job["status"] == "awaiting_payment" and job["payment"]["status"] == "unpaid"
    assert await postings(platform, order["id"], "payment") == 0

    # And the sandbox's own delivery of the event, signed, still pays the order
    sandbox.announce(ref)
    await delivered(sandbox)
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-forged"))["status"] == "searching"
    assert await payment_status(platform, start["payment_id"]) == "succeeded"


@pytest.mark.parametrize("setting", [{"payments_sandbox": True}, {"payout_provider": "sandbox"}])
def test_production_refuses_to_start_with_the_sandbox(tmp_path: Path, setting: dict[str, Any]) -> None:
    production = Settings(
        _env_file=None,
        env="production",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
        jwt_secret="p" * 40,
        encryption_key=Fernet.generate_key().decode(),
    )
    production.check_production()
    with pytest.raises(RuntimeError, match="LOGISTICS_PAYMENTS_SANDBOX"):
        build_platform(production.model_copy(update=setting))


def test_payouts_are_the_sandboxs_while_it_is_on_unless_another_provider_is_set() -> None:
    base = Settings(_env_file=None, env="test")
    assert isinstance(build_payout_gateway(base), ManualPayouts)
    on = base.model_copy(update={"payments_sandbox": True})
    assert isinstance(build_payout_gateway(on), SandboxPayouts)
    assert isinstance(
        build_payout_gateway(on.model_copy(update={"payout_provider": "manual"})), ManualPayouts
    )
    # The sandbox stands in for Stripe: with a Stripe key as well, it is refused, not guessed
    with pytest.raises(RuntimeError, match="stands in for Stripe"):
        build_payment_gateways(on.model_copy(update={"stripe_secret_key": "sk_test_123"}))


async def test_the_confirm_path_is_documented_and_mounted_only_with_the_sandbox(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    path = REST + CONFIRM.format("{payment_id}")
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][path]["post"]
    assert {"200", "401", "402", "404", "422"} <= set(operation["responses"])
    assert "4242 4242 4242 4242" in operation["description"]

    off = create_app(settings.model_copy(update={"payments_sandbox": False}))
    try:
        transport = httpx.ASGITransport(app=off)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as plain:
            assert path not in (await plain.get("/openapi.json")).json()["paths"]
    finally:
        await off.state.platform.db.dispose()
