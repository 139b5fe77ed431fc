"""Subscriptions over a real graphql-transport-ws websocket: authentication, the limits, every stream."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

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
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE
from tests.realtime_helpers import Live, WsSession, accepted_job, codes, live_app
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

MAX_CONNECTIONS = 2
MAX_SUBSCRIPTIONS = 3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "ws_max_connections_per_user": MAX_CONNECTIONS,
            "ws_max_subscriptions_per_connection": MAX_SUBSCRIPTIONS,
        }
    )


@pytest.fixture
def live(platform: Platform) -> Iterator[Live]:
    with live_app(platform) as served:
        yield served


def ws_feed_change(ws: WsSession, op_id: str, job_ids: set[str]) -> dict[str, Any]:
    while True:
        change = ws.data(op_id, "availableJobs")
        if change["jobId"] in job_ids:
            return change


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
