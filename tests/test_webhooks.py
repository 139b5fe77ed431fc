"""Outbound webhooks, end to end against a real local receiver: what a merchant registers, what
it receives along a whole delivery, signed as the README says, in order, exactly once as a
success; retries, giving up, disabling, rotation, replay and rollbacks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from logistics.auth import Principal
from logistics.job.lifecycle import Step, record_transition
from logistics.job.status import JobStatus
from logistics.models import Job, WebhookDelivery, WebhookEvent
from logistics.platform import Ctx, Platform
from tests.conftest import Clock
from tests.factories import Api
from tests.graphql_helpers import GraphQL
from tests.webhook_helpers import (
    CREATE_ENDPOINT,
    MERCHANT,
    deliveries,
    drain,
    merchant_order,
    receiver,
    register,
    worker_for,
)

README = Path(__file__).resolve().parents[1] / "README.md"
STEPS = ["start-pickup", "arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]
STEPS += ["complete-dropoff", "complete"]


def attempts_counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value("logistics_webhook_attempts_total", {"outcome": outcome})
    return value or 0.0


def readme_verify() -> Any:
    """The verification recipe exactly as the README gives it (section "Webhooks")."""
    text = README.read_text()
    [recipe] = re.findall(r"<!-- webhook-verify -->\n```python\n(.*?)```", text, re.S)
    scope: dict[str, Any] = {}
    exec(recipe, scope)  # noqa: S102  (our own README's code)
    return scope["verify"]


async def test_a_merchant_hears_a_whole_delivery_in_order_signed_as_documented(
    api: Api, gql: GraphQL, platform: Platform
) -> None:
    with receiver() as hooks:
        # Given a merchant's endpoint for every event
        endpoint_id, secret = await register(gql, hooks.url)
        assert secret.startswith("whsec_")

        # When the merchant orders and a driver takes the job through to the end
        driver = await api.register_driver()
        order = await merchant_order(api)
        await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
        await api.walk_to(driver["sub"], order["id"], "complete")
        await drain(worker_for(platform))

        # Then every step arrived once, in the order it happened
        assert hooks.types() == [
            "job.created",
            "job.status_changed",
            "job.driver_assigned",
            *["job.status_changed"] * 5,
            "job.status_changed",
            "job.delivered",
            "job.status_changed",
        ]
        events = hooks.delivered()
        statuses = [e["data"]["status"] for e in events if e["type"] == "job.status_changed"]
        assert statuses == [
            "accepted",
            *("pickup_started", "pickup_arrived", "pickup_completed"),
            *("dropoff_started", "dropoff_arrived", "dropoff_completed"),
            "completed",
        ]
        assert events[0]["data"]["job"]["id"] == order["id"]
        assert events[0]["data"]["job"]["tracking_url"].startswith("http")
        assigned = next(e for e in events if e["type"] == "job.driver_assigned")
        assert assigned["data"]["driver"]["id"] == driver["id"]
        delivered = next(e for e in events if e["type"] == "job.delivered")
        assert len(delivered["data"]["proof"]["photo_ids"]) == 1
        # each with its own id, repeated in a header, and a signature the README's recipe accepts
        assert len({e["id"] for e in events}) == len(events)
        verify = readme_verify()
        for request in hooks.received:
            assert request.headers["Logistics-Event-Id"] == request.event["id"]
            assert verify(secret, request.headers["Logistics-Signature"], request.body)
            assert not verify("whsec_another", request.headers["Logistics-Signature"], request.body)
            assert not verify(secret, request.headers["Logistics-Signature"], request.body + b" ")
        # and the endpoint's log shows each delivered at the first attempt
        log = await deliveries(gql, endpoint_id)
        assert {(d["status"], d["attempts"]) for d in log} == {("DELIVERED", 1)}


async def test_a_receiver_failing_twice_gets_the_event_once_with_three_attempts_logged(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    with receiver() as hooks:
        hooks.statuses = [500, 503]
        failed_before = attempts_counted("failed")
        endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED"])
        await merchant_order(api)
        worker = worker_for(platform)

        # The first try fails; nothing more is due until the backoff has passed
        assert await drain(worker) == 1
        assert await drain(worker) == 0
        [pending] = await deliveries(gql, endpoint_id)
        assert pending["status"] == "PENDING" and pending["lastStatusCode"] == 500

        # Past each backoff (at most the base, then twice it) the next try goes out
        clock.advance(seconds=platform.settings.webhook_retry_base_s)
        assert await drain(worker) == 1
        clock.advance(seconds=2 * platform.settings.webhook_retry_base_s)
        assert await drain(worker) == 1

        assert [r.status for r in hooks.received] == [500, 503, 200]
        assert len(hooks.delivered()) == 1
        assert len({r.event["id"] for r in hooks.received}) == 1
        [done] = await deliveries(gql, endpoint_id)
        assert done["status"] == "DELIVERED" and done["attempts"] == 3
        assert [a["statusCode"] for a in done["attemptLog"]] == [500, 503, 200]
        assert [r.headers["Logistics-Delivery-Attempt"] for r in hooks.received] == ["1", "2", "3"]
        # and /metrics counts the two failures
        assert attempts_counted("failed") == failed_before + 2


async def test_a_change_that_is_rolled_back_sends_nothing(api: Api, gql: GraphQL, platform: Platform) -> None:
    with receiver() as hooks:
        await register(gql, hooks.url)
        order = await merchant_order(api)
        await drain(worker_for(platform))
        assert hooks.types() == ["job.created"]

        # When a transition is made and its transaction then fails
        with pytest.raises(RuntimeError):
            async with platform.db.unit_of_work() as uow:
                ctx = Ctx(uow=uow, principal=Principal(sub=MERCHANT), platform=platform)
                job = await uow.session.get(Job, order["id"])
                assert job is not None
                await record_transition(ctx, job, JobStatus.CANCELLED, Step("customer"))
                raise RuntimeError("the rest of the change failed")
        # And a request the job core refuses
        await api.ok("PUT", f"/jobs/{order['id']}/start-pickup", (await api.register_driver())["sub"], 404)

        # Then no event was stored and nothing more was sent
        await drain(worker_for(platform))
        assert hooks.types() == ["job.created"]
        async with platform.db.session(write=False) as session:
            assert (await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one() == 1


async def test_a_jobs_later_events_wait_behind_one_being_retried(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    with receiver() as hooks:
        hooks.statuses = [500]
        await register(gql, hooks.url, ["JOB_CREATED", "JOB_CANCELLED"])
        first = await merchant_order(api)
        worker = worker_for(platform)
        await drain(worker)  # first job's creation fails once
        await api.ok("PUT", f"/orders/{first['id']}/cancel", MERCHANT, json={})
        second = await merchant_order(api)

        # The second job's creation goes out; the first job's cancellation waits for its creation
        await drain(worker)
        assert [(e["type"], e["data"]["job"]["id"]) for e in hooks.delivered()] == [
            ("job.created", second["id"])
        ]

        clock.advance(seconds=platform.settings.webhook_retry_base_s)
        await drain(worker)
        await drain(worker)
        assert [(e["type"], e["data"]["job"]["id"]) for e in hooks.delivered()][1:] == [
            ("job.created", first["id"]),
            ("job.cancelled", first["id"]),
        ]
        cancelled = hooks.delivered()[-1]["data"]
        assert cancelled["cancellation"]["fee"] == {"amount": 0, "currency": "EUR"}


async def test_an_endpoint_failing_again_and_again_is_disabled_and_given_up_after_the_horizon(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    settings = platform.settings
    settings.webhook_disable_after = 3
    with receiver() as hooks:
        hooks.statuses = [500] * 10
        endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED"])
        await merchant_order(api)
        worker = worker_for(platform)
        for _ in range(3):
            await drain(worker)
            clock.advance(seconds=settings.webhook_retry_max_s)
        [endpoint] = (await gql.ok(MERCHANT, ENDPOINTS, roles=["merchant"]))["webhookEndpoints"]["items"]
        assert endpoint["enabled"] is False and endpoint["disabledReason"] == "failures"
        assert endpoint["consecutiveFailures"] == 3
        # Disabled, it is sent nothing
        await drain(worker)
        assert len(hooks.received) == 3

        # Re-enabled after the retry horizon, the old delivery is given up without a try
        clock.advance(seconds=settings.webhook_retry_horizon_s)
        await gql.ok(MERCHANT, ENABLE, {"id": endpoint_id}, roles=["merchant"])
        worker = worker_for(platform)
        await drain(worker)
        assert len(hooks.received) == 3
        [given_up] = await deliveries(gql, endpoint_id)
        assert given_up["status"] == "FAILED"


ENDPOINTS = "{ webhookEndpoints { items { id enabled disabledReason consecutiveFailures } } }"
ENABLE = "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) { enabled } }"
ROTATE = "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { previousSecretExpiresAt } } }"
REPLAY = "mutation($id: ID!) { replayWebhookDelivery(deliveryId: $id) { id status replay eventId } }"
DELETE = "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }"


async def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    verify = readme_verify()
    with receiver() as hooks:
        endpoint_id, old = await register(gql, hooks.url, ["JOB_CREATED"])
        rotated = (await gql.ok(MERCHANT, ROTATE, {"id": endpoint_id}, roles=["merchant"]))[
            "rotateWebhookSecret"
        ]
        new = rotated["secret"]
        assert new != old and rotated["endpoint"]["previousSecretExpiresAt"]
        await merchant_order(api)
        await drain(worker_for(platform))
        clock.advance(seconds=platform.settings.webhook_secret_overlap_s + 1)
        await merchant_order(api)
        await drain(worker_for(platform))

        during, after = hooks.received
        assert verify(old, during.headers["Logistics-Signature"], during.body)
        assert verify(new, during.headers["Logistics-Signature"], during.body)
        assert verify(new, after.headers["Logistics-Signature"], after.body)
        assert not verify(old, after.headers["Logistics-Signature"], after.body)


async def test_ops_and_the_owner_replay_an_event_with_its_id_and_nobody_else_can(
    api: Api, gql: GraphQL, platform: Platform
) -> None:
    with receiver() as hooks:
        endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED"])
        await merchant_order(api)
        await drain(worker_for(platform))
        [delivery] = await deliveries(gql, endpoint_id)

        copy = (await gql.ok("ops-1", REPLAY, {"id": delivery["id"]}, roles=["ops"]))["replayWebhookDelivery"]
        assert (
            copy["replay"] is True and copy["status"] == "PENDING" and copy["eventId"] == delivery["eventId"]
        )
        await gql.ok(MERCHANT, REPLAY, {"id": delivery["id"]}, roles=["merchant"])
        error = await gql.error("merchant-2", REPLAY, {"id": delivery["id"]}, roles=["merchant"])
        assert error["extensions"]["code"] == "NOT_FOUND"
        await drain(worker_for(platform))

        assert [e["id"] for e in hooks.delivered()] == [delivery["eventId"]] * 3
        assert hooks.received[1].body == hooks.received[0].body


async def test_endpoints_belong_to_their_owner(api: Api, gql: GraphQL) -> None:
    # Plain customers and drivers may not register endpoints
    error = await gql.error(
        "cust-1", CREATE_ENDPOINT, {"input": {"url": "https://x.test/h", "eventTypes": ["JOB_CREATED"]}}
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    endpoint_id, _ = await register(gql, "https://merchant.test/hooks", ["JOB_CREATED"])

    # Another merchant sees none of them and cannot touch them
    assert (await gql.ok("merchant-2", ENDPOINTS, roles=["merchant"]))["webhookEndpoints"]["items"] == []
    for document in (ROTATE, DELETE, ENABLE):
        error = await gql.error("merchant-2", document, {"id": endpoint_id}, roles=["merchant"])
        assert error["extensions"]["code"] == "NOT_FOUND"

    # Ops oversee every endpoint, with its owner
    everyone = await gql.ok("ops-1", "{ webhookEndpoints { items { id ownerId ownerRole } } }", roles=["ops"])
    assert {"id": endpoint_id, "ownerId": MERCHANT, "ownerRole": "merchant"} in everyone["webhookEndpoints"][
        "items"
    ]

    # The secret is never listed; deleting removes it from the list
    listed = await gql.ok(MERCHANT, "{ webhookEndpoints { items { id url } } }", roles=["merchant"])
    assert listed["webhookEndpoints"]["items"] == [{"id": endpoint_id, "url": "https://merchant.test/hooks"}]
    assert (await gql.ok(MERCHANT, DELETE, {"id": endpoint_id}, roles=["merchant"]))["deleteWebhookEndpoint"]
    assert (await gql.ok(MERCHANT, ENDPOINTS, roles=["merchant"]))["webhookEndpoints"]["items"] == []


async def test_a_retried_registration_answers_the_same_endpoint_and_secret(api: Api, gql: GraphQL) -> None:
    variables = {"input": {"url": "https://merchant.test/hooks", "eventTypes": ["JOB_CREATED"]}}
    headers = {"Idempotency-Key": "endpoint-1"}
    first = await gql.ok(MERCHANT, CREATE_ENDPOINT, variables, roles=["merchant"], headers=headers)
    again = await gql.ok(MERCHANT, CREATE_ENDPOINT, variables, roles=["merchant"], headers=headers)
    assert again == first
    listed = (await gql.ok(MERCHANT, ENDPOINTS, roles=["merchant"]))["webhookEndpoints"]["items"]
    assert len(listed) == 1


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("ftp://merchant.test/hooks", "url"),
        ("https://user:pass@merchant.test/hooks", "url"),
        ("not a url at all", "url"),
    ],
)
async def test_bad_endpoint_urls_are_refused_with_the_field(gql: GraphQL, url: str, field: str) -> None:
    error = await gql.error(
        MERCHANT, CREATE_ENDPOINT, {"input": {"url": url, "eventTypes": ["JOB_CREATED"]}}, roles=["merchant"]
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert field in error["extensions"]["details"]["fields"]


async def test_private_addresses_are_refused_where_they_are_not_allowed(
    gql: GraphQL, platform: Platform
) -> None:
    platform.settings.webhook_allow_private = False
    for url in ("http://127.0.0.1:9/h", "http://10.1.2.3/h", "http://localhost/h"):
        error = await gql.error(
            MERCHANT,
            CREATE_ENDPOINT,
            {"input": {"url": url, "eventTypes": ["JOB_CREATED"]}},
            roles=["merchant"],
        )
        assert error["extensions"]["code"] == "VALIDATION_FAILED"


async def test_deleting_an_endpoint_cancels_what_it_was_owed(
    api: Api, gql: GraphQL, platform: Platform
) -> None:
    with receiver() as hooks:
        endpoint_id, _ = await register(gql, hooks.url, ["JOB_CREATED"])
        await merchant_order(api)
        await gql.ok(MERCHANT, DELETE, {"id": endpoint_id}, roles=["merchant"])
        await drain(worker_for(platform))
        assert hooks.received == []
        async with platform.db.session(write=False) as session:
            statuses = (await session.execute(select(WebhookDelivery.status))).scalars().all()
        assert statuses == ["cancelled"]


async def test_ops_endpoints_hear_every_merchants_jobs_and_merchants_only_theirs(
    api: Api, gql: GraphQL, platform: Platform
) -> None:
    with receiver() as ops_hooks, receiver() as mine, receiver() as theirs:
        await register(gql, ops_hooks.url, ["JOB_CREATED"], sub="ops-1", role="ops")
        await register(gql, mine.url, ["JOB_CREATED"])
        await register(gql, theirs.url, ["JOB_CREATED"], sub="merchant-2")
        order = await merchant_order(api)
        await api.order("cust-9")
        await drain(worker_for(platform))
        assert [e["data"]["job"]["id"] for e in mine.delivered()] == [order["id"]]
        assert theirs.received == []
        assert len(ops_hooks.delivered()) == 2


async def test_an_eta_that_moves_is_reported_once(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    from logistics.job.eta_watch import check_etas

    with receiver() as hooks:
        await register(gql, hooks.url, ["JOB_ETA_CHANGED"])
        driver = await api.register_driver()
        order = await merchant_order(api)
        await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
        await platform.positions.flush()
        assert await check_etas(platform) == 0  # as reported when the driver was assigned

        # When the driver turns up 20 km away
        clock.advance(seconds=5)
        await api.ok("PUT", "/location", driver["sub"], 204, json={"lat": 52.70, "lng": 13.40})
        await platform.positions.flush()
        assert await check_etas(platform) == 1
        assert await check_etas(platform) == 0
        await drain(worker_for(platform))
        [event] = hooks.delivered()
        assert event["type"] == "job.eta_changed"
        assert event["data"]["eta"]["dropoff_at"] > event["data"]["previous_dropoff_at"]


async def test_events_nobody_listens_to_are_not_stored(api: Api, platform: Platform) -> None:
    await merchant_order(api)
    async with platform.db.session(write=False) as session:
        assert (await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one() == 0
