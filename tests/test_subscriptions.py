"""Live events as a client meets them, twice over: through ``schema.subscribe`` in the test's
loop, and through a real graphql-transport-ws websocket (Starlette's TestClient).

Every job subscription is for the job's customer and driver only; anyone else gets the same
``NOT_FOUND`` error as for a made-up id, and no events. Events go out after the commit only,
so a refused step or a rolled-back GraphQL operation is never heard of. The feed follows jobs
entering (ordered nearby, for a vehicle the driver has) and leaving (accepted, cancelled).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from strawberry.types.execution import ExecutionResult

from logistics.auth import mint_token
from logistics.config import Settings
from logistics.platform import Platform
from logistics.pubsub import (
    FEED_CHANNEL,
    issues_channel,
    job_channel,
    location_channel,
    messages_channel,
    offers_channel,
)
from logistics.schema import build_schema
from logistics.schema.context import GraphQLContext
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api
from tests.realtime_helpers import (
    DirectSubscription,
    Live,
    WsSession,
    accepted_job,
    codes,
    direct_subscription,
    graphql,
    live_app,
    rendered,
    token,
    wait_subscribed,
)

MISSING_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
MAX_CONNECTIONS = 2
MAX_SUBSCRIPTIONS = 3

JOB_UPDATED = """
subscription Updates($jobId: ID!) {
  jobUpdated(jobId: $jobId) { jobId status previous at driverId eta { seconds dropoffAt } }
}
"""
DRIVER_LOCATION = """
subscription Where($jobId: ID!) {
  driverLocation(jobId: $jobId) { jobId point { lat lng } headingDeg speedMps recordedAt etaSeconds }
}
"""
MESSAGE_RECEIVED = """
subscription Chat($jobId: ID!) { messageReceived(jobId: $jobId) { id jobId senderRole body readAt } }
"""
ISSUE_REPORTED = """
subscription Issues($jobId: ID!) {
  issueReported(jobId: $jobId) { id jobId type description status reportedBy imageIds }
}
"""
AVAILABLE_JOBS = """
subscription Feed($lat: Float!, $lng: Float!, $radiusM: Int!) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) {
    jobId change distanceM vehicleType pickup { lat lng } driverEarnings { amount currency }
  }
}
"""
JOB_OFFERS = """
subscription Offers {
  jobOffers { offerId jobId expiresAt distanceM pickup { lat lng } driverEarnings { amount currency } }
}
"""
JOB_SUBSCRIPTIONS = {
    "jobUpdated": (JOB_UPDATED, job_channel),
    "driverLocation": (DRIVER_LOCATION, location_channel),
    "messageReceived": (MESSAGE_RECEIVED, messages_channel),
    "issueReported": (ISSUE_REPORTED, issues_channel),
}
ROLLED_BACK_STEPS = """
mutation TwoSteps($jobId: ID!) {
  first: startPickup(jobId: $jobId, input: {point: {lat: 52.52, lng: 13.405}}) { id status }
  second: completeJob(jobId: $jobId) { id status }
}
"""
ROLLED_BACK_MESSAGES = """
mutation TwoMessages($jobId: ID!) {
  first: sendMessage(jobId: $jobId, body: "never heard") { id }
  second: sendMessage(jobId: $jobId, body: "") { id }
}
"""
SEND = """
mutation Send($jobId: ID!, $body: String!) { sendMessage(jobId: $jobId, body: $body) { id } }
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "ws_max_connections_per_user": MAX_CONNECTIONS,
            "ws_max_subscriptions_per_connection": MAX_SUBSCRIPTIONS,
        }
    )


@pytest.fixture
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)


@pytest.fixture
def live(platform: Platform) -> Iterator[Live]:
    with live_app(platform) as served:
        yield served


def point(where: dict[str, float]) -> dict[str, Any]:
    return {"point": where}


def offer_event(clock: Clock, job_id: str, offer_id: str = "offer-1") -> dict[str, Any]:
    """An offer as dispatch publishes it (dispatch itself is tested elsewhere)."""
    return {
        "offer_id": offer_id,
        "job_id": job_id,
        "expires_at": (clock.now + timedelta(seconds=30)).isoformat(),
        "pickup": ALEXANDERPLATZ,
        "distance_m": 420,
        "driver_earnings": {"amount": 740, "currency": "EUR"},
    }


def location(clock: Clock, where: dict[str, float], **extra: Any) -> dict[str, Any]:
    # Device time moves on with every report; a report no newer than the stored one is ignored.
    clock.advance(seconds=5)
    return {**where, "recorded_at": clock.now.isoformat(), **extra}


async def next_feed_change(feed: DirectSubscription, job_ids: set[str]) -> dict[str, Any]:
    """The next change about one of this test's jobs (a shared Redis carries others' too)."""
    while True:
        change = await feed.data("availableJobs")
        if change["jobId"] in job_ids:
            return change


def ws_feed_change(ws: WsSession, op_id: str, job_ids: set[str]) -> dict[str, Any]:
    while True:
        change = ws.data(op_id, "availableJobs")
        if change["jobId"] in job_ids:
            return change


# === (a) through schema.subscribe =============================================================


async def test_job_updated_follows_each_status_change_with_its_eta(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given an accepted job, watched by its customer and by its driver
    driver, job = await accepted_job(api, "cust-1")
    channel = job_channel(job["id"])
    async with (
        direct_subscription(
            schema, platform, settings, "cust-1", JOB_UPDATED, channel=channel, jobId=job["id"]
        ) as mine,
        direct_subscription(
            schema, platform, settings, driver["sub"], JOB_UPDATED, jobId=job["id"]
        ) as drivers,
    ):
        await wait_subscribed(platform.pubsub, channel)

        # when the driver starts the pickup
        await api.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))

        # then both hear of it, with the previous status, the driver and a new ETA
        update = await mine.data("jobUpdated")
        assert update["jobId"] == job["id"]
        assert (update["previous"], update["status"]) == ("ACCEPTED", "PICKUP_STARTED")
        assert update["driverId"] == driver["id"]
        assert update["eta"]["seconds"] > 0
        assert await drivers.data("jobUpdated") == update

        # when a step is refused, and a step is retried (no change), and the next one is taken
        refused = await api.call("PUT", f"/jobs/{job['id']}/complete", driver["sub"], json={})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "INVALID_TRANSITION"
        await api.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))
        await api.ok("PUT", f"/jobs/{job['id']}/arrive-pickup", driver["sub"], json=point(ALEXANDERPLATZ))

        # then the next event is that step: neither the refused nor the retried one was published
        update = await mine.data("jobUpdated")
        assert (update["previous"], update["status"]) == ("PICKUP_STARTED", "PICKUP_ARRIVED")
        assert mine.pending() == 0


async def test_a_rolled_back_graphql_mutation_publishes_nothing(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given an accepted job whose customer watches it
    driver, job = await accepted_job(api, "cust-1")
    async with direct_subscription(
        schema, platform, settings, "cust-1", JOB_UPDATED, channel=job_channel(job["id"]), jobId=job["id"]
    ) as updates:
        # when one GraphQL operation starts the pickup and then fails on an illegal step
        body = await graphql(api, driver["sub"], ROLLED_BACK_STEPS, jobId=job["id"])
        assert codes(body) == ["INVALID_TRANSITION"]

        # then the operation was rolled back: the job is still accepted
        assert (await api.ok("GET", f"/jobs/{job['id']}", driver["sub"]))["status"] == "accepted"
        # and the first event anyone hears is the real start of the pickup, from accepted
        await api.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))
        update = await updates.data("jobUpdated")
        assert (update["previous"], update["status"]) == ("ACCEPTED", "PICKUP_STARTED")


async def test_job_updated_tells_the_customer_of_a_cancellation(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given an order still searching, watched by its customer
    order = await api.order("cust-1")
    async with direct_subscription(
        schema, platform, settings, "cust-1", JOB_UPDATED, channel=job_channel(order["id"]), jobId=order["id"]
    ) as updates:
        # when it is cancelled
        await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "not needed"})

        # then the customer hears it
        update = await updates.data("jobUpdated")
        assert (update["previous"], update["status"]) == ("SEARCHING", "CANCELLED")


async def test_driver_location_streams_the_assigned_drivers_position(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema, clock: Clock
) -> None:
    # given an accepted job whose customer watches the driver
    driver, job = await accepted_job(api, "cust-1")
    async with direct_subscription(
        schema,
        platform,
        settings,
        "cust-1",
        DRIVER_LOCATION,
        channel=location_channel(job["id"]),
        jobId=job["id"],
    ) as positions:
        # when the driver's app reports where it is
        report = location(clock, ALEXANDERPLATZ, heading_deg=90, speed_mps=6.5)
        await api.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=report)

        # then the customer sees that position, with heading, speed and the ETA
        seen = await positions.data("driverLocation")
        assert seen["jobId"] == job["id"]
        assert seen["point"] == ALEXANDERPLATZ
        assert (seen["headingDeg"], seen["speedMps"]) == (90, 6.5)
        assert seen["etaSeconds"] > 0


async def test_a_slow_location_subscriber_gets_the_latest_position(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema, clock: Clock
) -> None:
    # given a customer's subscription that reads one position and then stops reading, and a
    # second subscription on the same job that reads everything (it shows when all arrived)
    driver, job = await accepted_job(api, "cust-1")
    channel = location_channel(job["id"])
    context = GraphQLContext(
        platform, authorization=f"Bearer {token(settings, 'cust-1')}", idempotency_key=None
    )
    slow = await schema.subscribe(
        DRIVER_LOCATION, variable_values={"jobId": job["id"]}, context_value=context
    )
    try:
        first = asyncio.ensure_future(next_point(slow))
        async with direct_subscription(
            schema, platform, settings, "cust-1", DRIVER_LOCATION, channel=channel, jobId=job["id"]
        ) as eager:
            await wait_subscribed(platform.pubsub, channel)
            await api.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=location(clock, MITTE))
            assert await asyncio.wait_for(first, 10) == MITTE

            # when three more positions arrive while the slow one is not reading
            trail = [ALEXANDERPLATZ, KREUZBERG, {"lat": 52.51, "lng": 13.41}]
            for where in trail:
                await api.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=location(clock, where))
            while (await eager.data("driverLocation"))["point"] != trail[-1]:
                pass

            # then the slow subscriber's next position is the newest; those in between are gone
            assert await asyncio.wait_for(next_point(slow), 10) == trail[-1]
    finally:
        await slow.aclose()


async def next_point(results: Any) -> dict[str, float]:
    result = await anext(results)
    assert isinstance(result, ExecutionResult) and result.data is not None, result
    where: dict[str, float] = result.data["driverLocation"]["point"]
    return where


async def test_message_received_hears_committed_messages_only(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given an accepted job whose driver watches the chat
    driver, job = await accepted_job(api, "cust-1")
    async with direct_subscription(
        schema,
        platform,
        settings,
        driver["sub"],
        MESSAGE_RECEIVED,
        channel=messages_channel(job["id"]),
        jobId=job["id"],
    ) as chat:
        # when the customer writes over REST
        sent = await api.ok("POST", f"/jobs/{job['id']}/messages", "cust-1", 201, json={"body": "Ring twice"})

        # then the driver receives it
        message = await chat.data("messageReceived")
        assert message == {
            "id": sent["id"],
            "jobId": job["id"],
            "senderRole": "CUSTOMER",
            "body": "Ring twice",
            "readAt": None,
        }

        # when a GraphQL operation sends a message and then fails, and a message is then sent
        assert codes(await graphql(api, "cust-1", ROLLED_BACK_MESSAGES, jobId=job["id"])) == [
            "VALIDATION_FAILED"
        ]
        assert codes(await graphql(api, "cust-1", SEND, jobId=job["id"], body="Third floor")) == []

        # then the rolled-back message was never heard of
        assert (await chat.data("messageReceived"))["body"] == "Third floor"


async def test_issue_reported_tells_the_other_side(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given an accepted job whose customer watches for issues
    driver, job = await accepted_job(api, "cust-1")
    async with direct_subscription(
        schema,
        platform,
        settings,
        "cust-1",
        ISSUE_REPORTED,
        channel=issues_channel(job["id"]),
        jobId=job["id"],
    ) as issues:
        # when a refused report (unknown photo) and then a good one are made
        refused = await api.call(
            "POST",
            f"/jobs/{job['id']}/issues",
            driver["sub"],
            json={"type": "other", "description": "x", "image_ids": [MISSING_ID]},
        )
        assert refused.status_code == 422
        reported = await api.ok(
            "POST",
            f"/jobs/{job['id']}/issues",
            driver["sub"],
            201,
            json={"type": "pickup_closed", "description": "Shop closed early"},
        )

        # then the customer hears of the good one only
        issue = await issues.data("issueReported")
        assert issue == {
            "id": reported["id"],
            "jobId": job["id"],
            "type": "PICKUP_CLOSED",
            "description": "Shop closed early",
            "status": "OPEN",
            "reportedBy": "DRIVER",
            "imageIds": [],
        }


async def test_available_jobs_follows_jobs_entering_and_leaving_the_feed_nearby(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    # given a cyclist watching the feed within 1.5 km of Alexanderplatz, and a car driver
    cyclist = await api.register_driver(vehicle="bicycle", at=ALEXANDERPLATZ, online=False)
    car = await api.register_driver(vehicle="car", at=MITTE)
    async with direct_subscription(
        schema,
        platform,
        settings,
        cyclist["sub"],
        AVAILABLE_JOBS,
        channel=FEED_CHANNEL,
        lat=ALEXANDERPLATZ["lat"],
        lng=ALEXANDERPLATZ["lng"],
        radiusM=1_500,
    ) as feed:
        # when orders are placed: one picked up 2.7 km away, one needing a van, one nearby
        far = await api.order("cust-1", pickup=KREUZBERG, dropoff=ALEXANDERPLATZ)
        for_a_van = await api.order("cust-2", vehicle_type="van")
        near = await api.order("cust-3")
        mine = {far["id"], for_a_van["id"], near["id"]}

        # then the cyclist hears of the nearby one only
        entered = await next_feed_change(feed, mine)
        assert entered["jobId"] == near["id"]
        assert entered["change"] == "ENTERED"
        assert entered["distanceM"] < 100
        assert entered["pickup"] == ALEXANDERPLATZ
        assert entered["driverEarnings"]["amount"] == near["driver_earnings"]["amount"]

        # when the car driver accepts it, then it leaves the feed
        await api.ok("PUT", f"/jobs/{near['id']}/accept", car["sub"])
        left = await next_feed_change(feed, mine)
        assert (left["jobId"], left["change"]) == (near["id"], "LEFT")

        # when another nearby order comes and is cancelled, then it enters and leaves
        other = await api.order("cust-4")
        mine.add(other["id"])
        assert (await next_feed_change(feed, mine))["jobId"] == other["id"]
        await api.ok("PUT", f"/orders/{other['id']}/cancel", "cust-4", json={})
        change = await next_feed_change(feed, mine)
        assert (change["jobId"], change["change"]) == (other["id"], "LEFT")


async def test_available_jobs_is_for_approved_drivers_with_a_sane_radius(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    driver = await api.register_driver(online=False)
    lat, lng = ALEXANDERPLATZ["lat"], ALEXANDERPLATZ["lng"]
    for sub, radius, code in (("cust-1", 1000, "FORBIDDEN"), (driver["sub"], 0, "VALIDATION_FAILED")):
        async with direct_subscription(
            schema, platform, settings, sub, AVAILABLE_JOBS, lat=lat, lng=lng, radiusM=radius
        ) as feed:
            refused = await feed.next()
            assert [error["extensions"]["code"] for error in rendered(refused)] == [code]
            assert await feed.ended() == []


async def test_job_offers_deliver_what_dispatch_publishes_for_this_driver(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema, clock: Clock
) -> None:
    # given two approved drivers; one of them watches its offers
    driver = await api.register_driver(online=False)
    other = await api.register_driver(online=False)
    order = await api.order("cust-1")
    async with direct_subscription(
        schema, platform, settings, driver["sub"], JOB_OFFERS, channel=offers_channel(driver["id"])
    ) as offers:
        # when offers are published to the other driver and then to this one
        await platform.pubsub.publish(
            offers_channel(other["id"]), offer_event(clock, order["id"], "not-yours")
        )
        await platform.pubsub.publish(offers_channel(driver["id"]), offer_event(clock, order["id"]))

        # then this driver gets its own offer, with its expiry
        offer = await offers.data("jobOffers")
        assert offer["offerId"] == "offer-1"
        assert offer["jobId"] == order["id"]
        assert offer["distanceM"] == 420
        assert offer["driverEarnings"] == {"amount": 740, "currency": "EUR"}
        assert offer["pickup"] == ALEXANDERPLATZ
        assert offer["expiresAt"].startswith((clock.now + timedelta(seconds=30)).isoformat()[:19])


async def test_job_offers_need_an_approved_driver(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema
) -> None:
    async with direct_subscription(schema, platform, settings, "cust-1", JOB_OFFERS) as offers:
        refused = await offers.next()
        assert [error["extensions"]["code"] for error in rendered(refused)] == ["FORBIDDEN"]
        assert await offers.ended() == []


@pytest.mark.parametrize("field", list(JOB_SUBSCRIPTIONS))
async def test_another_users_job_is_not_found_and_sends_nothing(
    api: Api, platform: Platform, settings: Settings, schema: strawberry.Schema, field: str
) -> None:
    # given an accepted job, another customer and another approved driver
    _, job = await accepted_job(api, "cust-1")
    stranger = await api.register_driver(online=False)
    query, _channel = JOB_SUBSCRIPTIONS[field]

    for outsider in ("bob", stranger["sub"]):
        # when an outsider subscribes to the job, and to a made-up id
        async with (
            direct_subscription(schema, platform, settings, outsider, query, jobId=job["id"]) as theirs,
            direct_subscription(schema, platform, settings, outsider, query, jobId=MISSING_ID) as missing,
        ):
            # then both get the same NOT_FOUND error, and their streams end without events
            refused, unknown = await theirs.next(), await missing.next()
            assert refused.data is None
            assert [e["extensions"]["code"] for e in rendered(refused)] == ["NOT_FOUND"]
            assert rendered(refused) == rendered(unknown)
            assert await theirs.ended() == []
            assert await missing.ended() == []


# === (b) through a graphql-transport-ws websocket ==============================================


def test_a_connection_without_a_valid_token_is_closed_with_4401(live: Live) -> None:
    foreign = mint_token(
        live.settings.model_copy(update={"jwt_secret": "another-secret-" + "y" * 32}), "cust-1"
    )
    for payload in ({}, {"token": "not-a-jwt"}, {"Authorization": "Basic abc"}, {"token": foreign}):
        with live.ws(init=payload) as ws:
            assert ws.close_code() == 4401, payload

    # and subscribing before connection_init is refused the same way
    with live.ws() as ws:
        ws.subscribe("1", JOB_UPDATED, jobId=MISSING_ID)
        assert ws.close_code() == 4401


def test_the_token_may_come_as_an_authorization_header_in_the_payload(live: Live) -> None:
    with live.ws(init={"Authorization": f"Bearer {live.token('cust-1')}"}) as ws:
        assert ws.receive() == {"type": "connection_ack"}


def test_a_user_over_the_connection_limit_is_closed_with_4429(live: Live) -> None:
    with ExitStack() as stack:
        # given a user holding the most connections allowed
        for _ in range(MAX_CONNECTIONS):
            stack.enter_context(live.ws(sub="carol"))

        # when the user opens one more, then it is closed with 4429
        with live.ws(init={"token": live.token("carol")}) as extra:
            assert extra.close_code() == 4429
        # and another user is not affected
        with live.ws(sub="dave"):
            pass

    # when the user's connections are closed, then a new one is accepted again
    with live.ws(sub="carol") as again:
        again.send({"type": "ping"})
        assert again.receive() == {"type": "pong"}


def test_more_subscriptions_than_allowed_on_one_connection_get_an_error(live: Live) -> None:
    # given an accepted job and a connection holding the most subscriptions allowed
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as ws:
        for n in range(MAX_SUBSCRIPTIONS):
            ws.subscribe(f"s{n}", JOB_UPDATED, jobId=job["id"])
        live.wait_subscribed(job_channel(job["id"]))

        # when one more is asked for, then it gets an error with a code
        ws.subscribe("extra", JOB_UPDATED, jobId=job["id"])
        refused = ws.next_for("extra")
        assert refused["type"] == "error"
        assert [error["extensions"]["code"] for error in refused["payload"]] == ["RATE_LIMITED"]

        # and the others still work
        live.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))
        for n in range(MAX_SUBSCRIPTIONS):
            assert ws.data(f"s{n}", "jobUpdated")["status"] == "PICKUP_STARTED"

        # when one completes, then a new one fits again
        ws.complete("s0")
        ws.subscribe("again", JOB_UPDATED, jobId=job["id"])
        live.ok("PUT", f"/jobs/{job['id']}/arrive-pickup", driver["sub"], json=point(ALEXANDERPLATZ))
        assert ws.data("again", "jobUpdated")["status"] == "PICKUP_ARRIVED"


def test_job_updated_over_the_websocket(live: Live) -> None:
    # given an accepted job whose customer subscribes over a websocket
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("job", JOB_UPDATED, jobId=job["id"])
        live.wait_subscribed(job_channel(job["id"]))

        # when the driver starts the pickup, then the customer hears it
        live.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))
        update = ws.data("job", "jobUpdated")
        assert (update["jobId"], update["previous"], update["status"]) == (
            job["id"],
            "ACCEPTED",
            "PICKUP_STARTED",
        )
        assert update["eta"]["seconds"] > 0

        # when a step is refused and a GraphQL operation is rolled back, then neither is heard
        refused = live.call("PUT", f"/jobs/{job['id']}/complete", driver["sub"], json={})
        assert refused.json()["error"]["code"] == "INVALID_TRANSITION"
        rolled_back = live.graphql(
            driver["sub"],
            """mutation Two($jobId: ID!) {
                 first: arrivePickup(jobId: $jobId, input: {point: {lat: 52.52, lng: 13.405}}) { id }
                 second: completeJob(jobId: $jobId) { id }
               }""",
            jobId=job["id"],
        )
        assert codes(rolled_back) == ["INVALID_TRANSITION"]
        live.ok("PUT", f"/jobs/{job['id']}/arrive-pickup", driver["sub"], json=point(ALEXANDERPLATZ))
        update = ws.data("job", "jobUpdated")
        assert (update["previous"], update["status"]) == ("PICKUP_STARTED", "PICKUP_ARRIVED")

        # when the client completes the subscription, then the server stops listening
        ws.complete("job")
        live.ok("PUT", f"/jobs/{job['id']}/complete-pickup", driver["sub"], json=point(ALEXANDERPLATZ))
        ws.send({"type": "ping"})
        assert ws.receive() == {"type": "pong"}


def test_driver_location_over_the_websocket(live: Live, clock: Clock) -> None:
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("where", DRIVER_LOCATION, jobId=job["id"])
        live.wait_subscribed(location_channel(job["id"]))

        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=location(clock, ALEXANDERPLATZ))
        assert ws.data("where", "driverLocation")["point"] == ALEXANDERPLATZ
        batch = {"points": [location(clock, MITTE), location(clock, KREUZBERG)]}
        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=batch)
        assert ws.data("where", "driverLocation")["point"] == KREUZBERG


def test_chat_and_issues_over_one_websocket(live: Live) -> None:
    # given an accepted job whose driver watches the chat and the issues on one connection
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub=driver["sub"]) as ws:
        ws.subscribe("chat", MESSAGE_RECEIVED, jobId=job["id"])
        ws.subscribe("issues", ISSUE_REPORTED, jobId=job["id"])
        live.wait_subscribed(messages_channel(job["id"]))
        live.wait_subscribed(issues_channel(job["id"]))

        # when the customer writes (one rolled-back GraphQL message first) and reports an issue
        assert codes(live.graphql("cust-1", ROLLED_BACK_MESSAGES, jobId=job["id"])) == ["VALIDATION_FAILED"]
        live.ok("POST", f"/jobs/{job['id']}/messages", "cust-1", 201, json={"body": "I'm downstairs"})
        live.ok(
            "POST",
            f"/jobs/{job['id']}/issues",
            "cust-1",
            201,
            json={"type": "wrong_address", "description": "Use the back door"},
        )

        # then the driver receives the committed message and the issue
        message = ws.data("chat", "messageReceived")
        assert (message["body"], message["senderRole"]) == ("I'm downstairs", "CUSTOMER")
        issue = ws.data("issues", "issueReported")
        assert (issue["type"], issue["reportedBy"]) == ("WRONG_ADDRESS", "CUSTOMER")


def test_available_jobs_over_the_websocket(live: Live) -> None:
    # given a cyclist watching the feed near Alexanderplatz, and a car driver
    cyclist = live.run(live.api.register_driver, vehicle="bicycle", at=ALEXANDERPLATZ, online=False)
    car = live.run(live.api.register_driver, vehicle="car", at=MITTE)
    with live.ws(sub=cyclist["sub"]) as ws:
        ws.subscribe(
            "feed", AVAILABLE_JOBS, lat=ALEXANDERPLATZ["lat"], lng=ALEXANDERPLATZ["lng"], radiusM=1_500
        )
        live.wait_subscribed(FEED_CHANNEL)

        # when a far order, a van order and a nearby order are placed
        far = live.run(live.api.order, "cust-1", pickup=KREUZBERG, dropoff=ALEXANDERPLATZ)
        for_a_van = live.run(live.api.order, "cust-2", vehicle_type="van")
        near = live.run(live.api.order, "cust-3")
        mine = {far["id"], for_a_van["id"], near["id"]}

        # then only the nearby one enters this cyclist's feed, and it leaves when accepted
        entered = ws_feed_change(ws, "feed", mine)
        assert (entered["jobId"], entered["change"], entered["vehicleType"]) == (
            near["id"],
            "ENTERED",
            "BICYCLE",
        )
        live.ok("PUT", f"/jobs/{near['id']}/accept", car["sub"])
        left = ws_feed_change(ws, "feed", mine)
        assert (left["jobId"], left["change"]) == (near["id"], "LEFT")

        # and a cancelled order leaves it too
        other = live.run(live.api.order, "cust-4")
        mine.add(other["id"])
        assert ws_feed_change(ws, "feed", mine)["change"] == "ENTERED"
        live.ok("PUT", f"/orders/{other['id']}/cancel", "cust-4", json={})
        change = ws_feed_change(ws, "feed", mine)
        assert (change["jobId"], change["change"]) == (other["id"], "LEFT")


def test_job_offers_over_the_websocket(live: Live, clock: Clock) -> None:
    # given an approved driver watching its offers
    driver = live.run(live.api.register_driver, online=False)
    order = live.run(live.api.order, "cust-1")
    with live.ws(sub=driver["sub"]) as ws:
        ws.subscribe("offers", JOB_OFFERS)
        live.wait_subscribed(offers_channel(driver["id"]))

        # when dispatch publishes an offer for it
        live.run(live.platform.pubsub.publish, offers_channel(driver["id"]), offer_event(clock, order["id"]))

        # then the driver receives it
        offer = ws.data("offers", "jobOffers")
        assert (offer["offerId"], offer["jobId"], offer["distanceM"]) == ("offer-1", order["id"], 420)

    # and a customer who is no driver is refused
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("offers", JOB_OFFERS)
        refused = ws.next_for("offers")
        assert refused["type"] == "error"
        assert [error["extensions"]["code"] for error in refused["payload"]] == ["FORBIDDEN"]


def test_another_users_job_gets_the_not_found_of_a_made_up_id_over_the_websocket(live: Live) -> None:
    # given cust-1's accepted job, and bob with an order of his own
    driver, job = live.run(accepted_job, live.api, "cust-1")
    own = live.run(live.api.order, "bob")

    with live.ws(sub="bob") as ws:
        # when bob subscribes to each of cust-1's job streams, and to a made-up id
        errors: dict[str, list[dict[str, Any]]] = {}
        for field, (query, _channel) in JOB_SUBSCRIPTIONS.items():
            ws.subscribe(f"theirs-{field}", query, jobId=job["id"])
            ws.subscribe(f"missing-{field}", query, jobId=MISSING_ID)
            for op_id in (f"theirs-{field}", f"missing-{field}"):
                message = ws.next_for(op_id)
                assert message["type"] == "error", message
                errors[op_id] = message["payload"]

            # then each is NOT_FOUND, word for word the same as for a made-up id
            assert [e["extensions"]["code"] for e in errors[f"theirs-{field}"]] == ["NOT_FOUND"]
            assert errors[f"theirs-{field}"] == errors[f"missing-{field}"]

        # when cust-1's job moves on and then bob's own order changes
        ws.subscribe("own", JOB_UPDATED, jobId=own["id"])
        live.wait_subscribed(job_channel(own["id"]))
        live.ok("PUT", f"/jobs/{job['id']}/start-pickup", driver["sub"], json=point(MITTE))
        live.ok("POST", f"/jobs/{job['id']}/messages", "cust-1", 201, json={"body": "secret"})
        live.ok("PUT", f"/orders/{own['id']}/cancel", "bob", json={})

        # then the only thing bob receives is news of his own order
        assert ws.data("own", "jobUpdated")["status"] == "CANCELLED"
        assert ws.backlog == []


def test_a_lost_event_stream_ends_the_subscription_with_an_error(live: Live) -> None:
    # given a live subscription
    _, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("job", JOB_UPDATED, jobId=job["id"])
        live.wait_subscribed(job_channel(job["id"]))

        # when the server's event stream goes away
        live.run(live.platform.pubsub.disconnect)

        # then the client is told (it resubscribes later), and the connection stays usable
        message = ws.next_for("job")
        assert message["type"] == "error"
        assert [error["extensions"]["code"] for error in message["payload"]] == ["UNAVAILABLE"]
        ws.send({"type": "ping"})
        assert ws.receive() == {"type": "pong"}
