"""Helpers the money tests share: provider settings and fixtures, card orders paid or completed, ledger reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from logistics.config import Settings
from logistics.platform import Platform
from tests.factories import Api, quote_body
from tests.fake_providers import FakeProviders

STRIPE_PUBLISHABLE_KEY = "pk_test_fake_providers"


def with_providers(settings: Settings, fake: FakeProviders) -> Settings:
    """The test settings with Stripe and PayPal configured against the fake."""
    return settings.model_copy(
        update={
            "stripe_secret_key": fake.stripe_secret_key,
            "stripe_publishable_key": STRIPE_PUBLISHABLE_KEY,
            "stripe_webhook_secret": fake.stripe_webhook_secret,
            "stripe_api_base": fake.url,
            "paypal_client_id": fake.paypal_client_id,
            "paypal_client_secret": fake.paypal_client_secret,
            "paypal_webhook_id": fake.paypal_webhook_id,
            "paypal_base_url": fake.url,
        }
    )


def error_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


async def card_order(api: Api, customer: str, method: str = "stripe", **quote_extra: Any) -> dict[str, Any]:
    """A new order to be paid through ``method`` (waiting for payment)."""
    quote = await api.ok("POST", "/quote", customer, 201, json=quote_body(**quote_extra))
    order: dict[str, Any] = await api.ok(
        "POST", "/orders", customer, 201, json={"quote_id": quote["id"], "payment_method": method}
    )
    return order


def intent_of(fake: FakeProviders, payment_id: str) -> str:
    """The Stripe PaymentIntent the platform created for ``payment_id``."""
    (intent_id,) = [
        i for i, intent in fake.intents.items() if intent["metadata"] == {"payment_id": payment_id}
    ]
    return intent_id


async def pay_by_stripe(api: Api, fake: FakeProviders, customer: str, job_id: str) -> str:
    """Start, pay (at the fake) and complete the order's Stripe payment; its payment id."""
    start = await api.ok("POST", f"/orders/{job_id}/payment-intent", customer, 201, json={"method": "stripe"})
    fake.pay_intent(intent_of(fake, start["payment_id"]))
    job = await api.ok(
        "POST", f"/orders/{job_id}/complete-payment", customer, json={"payment_id": start["payment_id"]}
    )
    assert job["status"] == "searching", job
    return str(start["payment_id"])


async def paid_order(api: Api, fake: FakeProviders, customer: str) -> dict[str, Any]:
    order = await card_order(api, customer)
    await pay_by_stripe(api, fake, customer, order["id"])
    paid: dict[str, Any] = await api.ok("GET", f"/jobs/{order['id']}", customer)
    return paid


async def completed_card_job(api: Api, fake: FakeProviders, customer: str, driver: str) -> dict[str, Any]:
    """A Stripe-paid order, accepted and walked to ``completed`` by ``driver``."""
    order = await paid_order(api, fake, customer)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    job = await api.walk_to(driver, order["id"], "complete")
    assert job["status"] == "completed", job
    return job


async def db_rows(platform: Platform, sql: str, **params: Any) -> list[Any]:
    async with platform.db.session(write=False) as session:
        return list((await session.execute(text(sql), params)).all())


async def postings(platform: Platform, job_id: str, kind: str) -> int:
    """How many postings of ``kind`` the ledger holds for the job."""
    rows = await db_rows(
        platform,
        "SELECT COUNT(DISTINCT posting_id) FROM ledger_entries WHERE job_id = :job AND type = :kind",
        job=job_id,
        kind=kind,
    )
    return int(rows[0][0])


def statuses(job: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in job["timeline"]]


async def stripe_intent(api: Api, fake: FakeProviders, customer: str) -> tuple[dict[str, Any], str]:
    order = await card_order(api, customer)
    start = await api.ok(
        "POST", f"/orders/{order['id']}/payment-intent", customer, 201, json={"method": "stripe"}
    )
    return order, intent_of(fake, start["payment_id"])


@pytest.fixture
def providers_on() -> bool:
    """Stripe and PayPal are configured; a test parametrizes this to False to turn them off."""
    return True


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders, providers_on: bool) -> Settings:
    return with_providers(settings, fake_providers) if providers_on else settings
