"""Webhooks under failure and concurrency: a worker killed mid-delivery and a restarted one
still deliver (the at-least-once case), two workers on PostgreSQL never both send one event,
and the money events (a refund with a cancellation's fee, a tip) and issues reach merchants."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from logistics.app import build_platform
from logistics.config import Settings
from logistics.platform import Platform
from logistics.webhooks.worker import WebhookWorker
from tests.conftest import requires_postgres
from tests.factories import Api
from tests.fake_providers import FakeProviders
from tests.graphql_helpers import GraphQL
from tests.payment_helpers import completed_card_job, intent_of, paid_order, with_providers
from tests.process_helpers import Server, child_env, rest
from tests.webhook_helpers import MERCHANT, deliveries, drain, receiver, register

WAIT_S = 30.0


async def until(check: Any, what: str) -> Any:
    """Poll ``check`` (async) until it answers something true."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        answer = await check()
        if answer:
            return answer
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.1)


async def test_a_worker_killed_mid_delivery_is_followed_by_one_that_delivers(
    migrated_database: str, tmp_path: Path
) -> None:
    settings = Settings(
        env="test", database_url=migrated_database, jwt_secret="multiprocess-secret-" + "z" * 32
    )
    env = child_env(
        settings.model_copy(update={"storage_dir": tmp_path / "storage"}),
        broadcast_url="memory://",
        webhook_lease_s="2",
        webhook_poll_s="0.2",
        dispatch_loop="false",
    )
    with receiver() as hooks:
        hooks.hold.set()
        first = Server("first", env, tmp_path)
        try:
            await first.wait_ready()
            async with rest(first, settings) as api:
                gql = GraphQL(api)
                endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED"])
                order = await api.order(MERCHANT)
            # When the worker is killed while the receiver is still answering its request
            await asyncio.to_thread(hooks.arrived.wait, WAIT_S)
            assert hooks.arrived.is_set()
        finally:
            first.kill()
        hooks.hold.clear()
        hooks.released.set()

        # Then a new process, past the dead worker's lease, sends the event again and it lands
        second = Server("second", env, tmp_path)
        try:
            await second.wait_ready()
            async with rest(second, settings) as api:
                gql = GraphQL(api)

                async def delivered() -> Any:
                    [delivery] = await deliveries(gql, endpoint_id)
                    return delivery if delivery["status"] == "DELIVERED" else None

                delivery = await until(delivered, "the restarted worker did not deliver")
        finally:
            second.stop()
    ids = [request.event["id"] for request in hooks.received]
    assert ids == [delivery["eventId"]] * 2  # the same event, with its id, twice: at least once
    assert hooks.received[-1].event["data"]["job"]["id"] == order["id"]
    # Two attempts were made; the killed one never got to log its outcome
    assert delivery["attempts"] == 2
    assert [a["statusCode"] for a in delivery["attemptLog"]] == [200]


@requires_postgres
async def test_two_workers_on_postgres_never_both_send_one_event(
    api: Api, gql: GraphQL, platform: Platform, settings: Settings
) -> None:
    with receiver() as hooks:
        endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED", "JOB_CANCELLED"])
        for _ in range(15):
            order = await api.order(MERCHANT)
            await api.ok("PUT", f"/orders/{order['id']}/cancel", MERCHANT, json={})
        other = build_platform(settings)
        other.clock = platform.clock
        workers = [WebhookWorker(platform, batch=3), WebhookWorker(other, batch=3)]
        try:
            # Both claim from the same table at once, each on its own connections
            sent = await asyncio.gather(*(drain(worker, rounds=100) for worker in workers))
        finally:
            await other.db.dispose()
        assert all(count > 0 for count in sent), sent  # both really took part
        ids = [request.event["id"] for request in hooks.received]
        assert len(ids) == 30 and len(set(ids)) == 30
        # and each job's creation still came before its cancellation
        order_of = {}
        for position, event in enumerate(hooks.delivered()):
            order_of[(event["data"]["job"]["id"], event["type"])] = position
        for (job_id, kind), position in order_of.items():
            if kind == "job.cancelled":
                assert order_of[(job_id, "job.created")] < position
        assert {(d["status"], d["attempts"]) for d in await deliveries(gql, endpoint_id)} == {
            ("DELIVERED", 1)
        }


@pytest.fixture
def settings(settings: Settings, fake_providers: FakeProviders) -> Settings:
    return with_providers(settings, fake_providers)


async def test_refunds_tips_and_issues_reach_the_merchant(
    api: Api, gql: GraphQL, platform: Platform, fake: FakeProviders
) -> None:
    with receiver() as hooks:
        await register(
            gql, hooks.url, ["JOB_CANCELLED", "PAYMENT_REFUNDED", "TIP_RECEIVED", "JOB_ISSUE_REPORTED"]
        )
        driver = await api.register_driver()

        # A paid order, accepted and then cancelled: the fee is kept and the rest refunded
        order = await paid_order(api, fake, MERCHANT)
        await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
        await api.ok(
            "POST",
            f"/jobs/{order['id']}/issues",
            driver["sub"],
            201,
            json={"type": "other", "description": "Gate locked"},
        )
        cancelled = await api.ok("PUT", f"/orders/{order['id']}/cancel", MERCHANT, json={})
        fee = cancelled["cancellation"]["fee"]

        # A delivered order, tipped
        job = await completed_card_job(api, fake, MERCHANT, driver["sub"])
        start = await api.ok(
            "POST",
            f"/orders/{job['id']}/tip",
            MERCHANT,
            201,
            json={"amount": {"amount": 300, "currency": "EUR"}, "method": "stripe"},
        )
        fake.pay_intent(intent_of(fake, start["payment_id"]))
        await api.ok(
            "POST", f"/orders/{job['id']}/tip/complete", MERCHANT, json={"payment_id": start["payment_id"]}
        )
        await drain(WebhookWorker(platform))

    events = {event["type"]: event["data"] for event in hooks.delivered()}
    assert sorted(events) == ["job.cancelled", "job.issue_reported", "payment.refunded", "tip.received"]
    # The cancelled job's events came in the order they happened (other jobs' may come between)
    first_job = [
        e["type"]
        for e in hooks.delivered()
        if e["data"].get("job_id", e["data"].get("job", {}).get("id")) == order["id"]
    ]
    assert first_job == ["job.issue_reported", "payment.refunded", "job.cancelled"]
    assert events["job.issue_reported"]["issue"]["description"] == "Gate locked"
    assert events["payment.refunded"]["refund"]["amount"] == order["price"]["amount"] - fee["amount"]
    assert events["job.cancelled"]["cancellation"]["fee"] == fee and fee["amount"] > 0
    assert events["tip.received"] == {
        "job_id": job["id"],
        "driver_id": driver["id"],
        "tip": {"amount": 300, "currency": "EUR"},
    }


async def test_a_receiver_that_hangs_holds_up_nobody_else(api: Api, gql: GraphQL, platform: Platform) -> None:
    # Longer than this test waits: an attempt that blocked the others would fail it.
    platform.settings.webhook_timeout_s = 2 * WAIT_S
    with receiver() as slow, receiver() as fast:
        slow.hold.set()
        await register(gql, slow.url, ["JOB_CREATED"], sub="merchant-slow")
        await register(gql, fast.url, ["JOB_CREATED"])
        worker = WebhookWorker(platform)
        worker.start()
        try:
            await api.order("merchant-slow")
            await asyncio.to_thread(slow.arrived.wait, WAIT_S)
            # While the slow receiver holds its request, the others' events keep flowing
            for _ in range(3):
                await api.order(MERCHANT)

            async def all_three() -> bool:
                return len(fast.delivered()) == 3

            await until(all_three, "the fast receiver waited behind the slow one")
            assert slow.received == []
            slow.released.set()

            async def slow_done() -> bool:
                return len(slow.delivered()) == 1

            await until(slow_done, "the slow receiver's event was not recorded")
        finally:
            await worker.stop()
