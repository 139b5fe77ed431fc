"""Subscriptions through ``schema.subscribe`` in the test's loop: who hears what, and only after the commit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from strawberry.types.execution import ExecutionResult

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
from logistics.schema.context import GraphQLContext
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api
from tests.realtime_helpers import (
    DirectSubscription,
    accepted_job,
    codes,
    direct_subscription,
    graphql,
    rendered,
    token,
    wait_subscribed,
)
from tests.subscription_helpers import (
    AVAILABLE_JOBS,
    DRIVER_LOCATION,
    ISSUE_REPORTED,
    JOB_OFFERS,
    JOB_SUBSCRIPTIONS,
    JOB_UPDATED,
    MESSAGE_RECEIVED,
    MISSING_ID,
    ROLLED_BACK_MESSAGES,
    location,
    offer_event,
    point,
)

ROLLED_BACK_STEPS = """
mutation TwoSteps($jobId: ID!) {
  first: startPickup(jobId: $jobId, input: {point: {lat: 52.52, lng: 13.405}}) { id status }
  second: completeJob(jobId: $jobId) { id status }
}
"""
SEND = """
mutation Send($jobId: ID!, $body: String!) { sendMessage(jobId: $jobId, body: $body) { id } }
"""


async def next_feed_change(feed: DirectSubscription, job_ids: set[str]) -> dict[str, Any]:
    """The next change about one of this test's jobs (a shared Redis carries others' too)."""
    while True:
        change = await feed.data("availableJobs")
        if change["jobId"] in job_ids:
            return change


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
