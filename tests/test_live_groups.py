"""Subscriptions served by groups over real websockets: shared bytes, private access, streams
that end with their job, closes with reasons, and operations that do not share a transaction."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

import pytest

from logistics.auth import Principal, mint_token
from logistics.config import Settings
from logistics.job.events import announce_status
from logistics.models import Driver, Job
from logistics.platform import Ctx, Platform
from logistics.pubsub import FEED_CHANNEL, job_channel, location_channel
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE
from tests.realtime_helpers import Live, WsSession, accepted_job, live_app
from tests.subscription_helpers import (
    AVAILABLE_JOBS,
    DRIVER_LOCATION,
    JOB_SUBSCRIPTIONS,
    JOB_UPDATED,
    location,
)

FEED_VARIABLES = {"lat": ALEXANDERPLATZ["lat"], "lng": ALEXANDERPLATZ["lng"], "radiusM": 3_000}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A token stops counting the moment it expires: the expiry test needs no leeway.
    return settings.model_copy(update={"jwt_leeway_s": 0, "ws_max_connections_per_user": 4})


@pytest.fixture
def live(platform: Platform) -> Iterator[Live]:
    with live_app(platform) as served:
        yield served


def next_text(ws: WsSession, op_id: str) -> str:
    """The raw text of the next frame for ``op_id`` (others go to the backlog)."""
    while True:
        message = ws.raw()
        assert message["type"] == "websocket.send", message
        if json.loads(message["text"])["id"] == op_id:
            text: str = message["text"]
            return text
        ws.backlog.append(json.loads(message["text"]))


def payload_of(text: str) -> str:
    return text[text.index('"payload":') :]


def test_identical_subscriptions_share_one_execution_and_the_same_bytes(live: Live, clock: Clock) -> None:
    # given the customer watching the driver on two sockets, with the same document
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as phone, live.ws(sub="cust-1") as laptop:
        phone.subscribe("p", DRIVER_LOCATION, jobId=job["id"])
        laptop.subscribe("l", DRIVER_LOCATION, jobId=job["id"])
        live.wait_members(2)
        assert live.platform.hub.groups == 1

        # when the driver reports a point
        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=location(clock, ALEXANDERPLATZ))

        # then both get the same payload, each under its own operation id
        on_phone, on_laptop = next_text(phone, "p"), next_text(laptop, "l")
        assert json.loads(on_phone)["id"] == "p" and json.loads(on_laptop)["id"] == "l"
        assert payload_of(on_phone) == payload_of(on_laptop)
        assert json.loads(on_phone)["payload"]["data"]["driverLocation"]["point"] == ALEXANDERPLATZ


def test_drivers_in_one_feed_group_each_hear_only_what_the_rule_opens_to_them(live: Live) -> None:
    # given a cyclist and a car driver watching the same area with the same document
    cyclist = live.run(live.api.register_driver, vehicle="bicycle", at=ALEXANDERPLATZ, online=False)
    car = live.run(live.api.register_driver, vehicle="car", at=ALEXANDERPLATZ, online=False)
    with live.ws(sub=cyclist["sub"]) as on_bike, live.ws(sub=car["sub"]) as in_car:
        on_bike.subscribe("feed", AVAILABLE_JOBS, **FEED_VARIABLES)
        in_car.subscribe("feed", AVAILABLE_JOBS, **FEED_VARIABLES)
        live.wait_subscribed(FEED_CHANNEL)
        live.wait_members(2)
        # one group: one execution per event for both of them
        assert live.platform.hub.groups == 1

        # when a job only a car can carry is booked, then a job a bicycle can carry
        for_a_car = live.run(live.api.order, "cust-1", vehicle_type="car")
        for_a_bike = live.run(live.api.order, "cust-2", vehicle_type="bicycle")

        # then the car driver hears both, and the cyclist only the one it may take
        assert [in_car.data("feed", "availableJobs")["jobId"] for _ in range(2)] == [
            for_a_car["id"],
            for_a_bike["id"],
        ]
        assert on_bike.data("feed", "availableJobs")["jobId"] == for_a_bike["id"]
        live.ok("PUT", f"/orders/{for_a_car['id']}/cancel", "cust-1", json={})
        live.ok("PUT", f"/orders/{for_a_bike['id']}/cancel", "cust-2", json={})
        left = on_bike.data("feed", "availableJobs")
        assert (left["jobId"], left["change"]) == (for_a_bike["id"], "LEFT")
        assert on_bike.backlog == []


async def reassign(platform: Platform, job_id: str, driver_id: str) -> None:
    """Hand an active job to another driver, telling its listeners as every status change
    does. (No endpoint does this yet; ops tooling will. The hub must already honour it.)"""
    async with platform.db.unit_of_work() as uow:
        ctx = Ctx(uow, principal=Principal("ops", roles=frozenset({"ops"})), platform=platform)
        job = await uow.session.get(Job, job_id)
        driver = await uow.session.get(Driver, driver_id)
        assert job is not None and driver is not None
        job.driver_id = driver.id
        await announce_status(ctx, job, job.status)


def test_a_driver_who_loses_the_job_loses_its_streams_and_the_customer_keeps_them(
    live: Live, clock: Clock
) -> None:
    # given the customer and the driver watching the same job with the same documents
    driver, job = live.run(accepted_job, live.api, "cust-1")
    other = live.run(live.api.register_driver, online=False)
    with live.ws(sub="cust-1") as customer, live.ws(sub=driver["sub"]) as first:
        for ws in (customer, first):
            ws.subscribe("job", JOB_UPDATED, jobId=job["id"])
            ws.subscribe("where", DRIVER_LOCATION, jobId=job["id"])
        live.wait_members(4)

        # when the job is handed to another driver
        live.run(reassign, live.platform, job["id"], other["id"])

        # then the first driver's subscriptions end with NOT_FOUND
        for op_id in ("job", "where"):
            message = first.next_for(op_id)
            assert message["type"] == "error", message
            assert [e["extensions"]["code"] for e in message["payload"]] == ["NOT_FOUND"]
        # while the customer heard the change and still follows the job
        assert customer.data("job", "jobUpdated")["driverId"] == other["id"]
        live.wait_members(2)
        point = location(clock, MITTE)
        live.ok("PUT", f"/jobs/{job['id']}/tracking", other["sub"], json=point)
        assert customer.data("where", "driverLocation")["point"] == MITTE


def test_a_point_older_than_the_drivers_position_is_stored_but_not_streamed(live: Live, clock: Clock) -> None:
    # given the customer watching the driver, who reported a point
    driver, job = live.run(accepted_job, live.api, "cust-1")
    older, newer = location(clock, MITTE), location(clock, ALEXANDERPLATZ)
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("where", DRIVER_LOCATION, jobId=job["id"])
        live.wait_subscribed(location_channel(job["id"]))
        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=newer)
        assert ws.data("where", "driverLocation")["point"] == ALEXANDERPLATZ

        # when a point recorded earlier arrives after it (two requests overtook each other)
        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=older)
        # and then a new one
        latest = location(clock, MITTE)
        live.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=latest)

        # then the stream moves on to the new one, without repeating the one it had
        seen = ws.data("where", "driverLocation")
        assert (seen["point"], seen["recordedAt"][:19]) == (MITTE, latest["recorded_at"][:19])


def test_positions_published_out_of_order_by_two_processes_only_move_forward(live: Live) -> None:
    # given the customer watching the driver
    _, job = live.run(accepted_job, live.api, "cust-1")

    def position(second: int, where: dict[str, float]) -> dict[str, Any]:
        # as tracking publishes it; two workers may publish two of them in either order
        return {"job_id": job["id"], "point": where, "recorded_at": f"2026-12-06T10:00:{second:02d}+00:00"}

    with live.ws(sub="cust-1") as ws:
        ws.subscribe("where", DRIVER_LOCATION, jobId=job["id"])
        live.wait_subscribed(location_channel(job["id"]))

        # when a newer position is published before an older one, and then a newest
        for event in (position(20, ALEXANDERPLATZ), position(10, MITTE), position(30, KREUZBERG)):
            live.run(live.platform.pubsub.publish, location_channel(job["id"]), event)

        # then the stream never goes back in time
        assert ws.data("where", "driverLocation")["point"] == ALEXANDERPLATZ
        assert ws.data("where", "driverLocation")["point"] == KREUZBERG


def test_a_finished_job_completes_its_streams_after_the_last_event(live: Live) -> None:
    # given the customer following every stream of an accepted job
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub="cust-1") as ws:
        for field, (query, _) in JOB_SUBSCRIPTIONS.items():
            ws.subscribe(field, query, jobId=job["id"])
        live.wait_members(len(JOB_SUBSCRIPTIONS))

        # when the driver walks the job to its end
        live.run(live.api.walk_to, driver["sub"], job["id"], "complete")

        # then jobUpdated tells every step, the last one COMPLETED, and then completes
        statuses = []
        while (message := ws.next_for("jobUpdated"))["type"] == "next":
            statuses.append(message["payload"]["data"]["jobUpdated"]["status"])
        assert message == {"id": "jobUpdated", "type": "complete"}
        assert statuses[-1] == "COMPLETED" and "DROPOFF_COMPLETED" in statuses
        # and the other streams complete too
        for field in ("driverLocation", "messageReceived", "issueReported"):
            while (message := ws.next_for(field))["type"] == "next":
                pass
            assert message == {"id": field, "type": "complete"}
        live.wait_members(0)

        # and subscribing to the finished job completes at once
        ws.subscribe("late", JOB_UPDATED, jobId=job["id"])
        assert ws.next_for("late") == {"id": "late", "type": "complete"}


def test_a_cancelled_order_tells_its_customer_then_completes(live: Live) -> None:
    order = live.run(live.api.order, "cust-1")
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("job", JOB_UPDATED, jobId=order["id"])
        live.wait_subscribed(job_channel(order["id"]))
        live.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})
        assert ws.data("job", "jobUpdated")["status"] == "CANCELLED"
        assert ws.next_for("job") == {"id": "job", "type": "complete"}


def test_a_subscription_ends_when_its_token_expires(live: Live) -> None:
    _, job = live.run(accepted_job, live.api, "cust-1")
    short = mint_token(live.settings, "cust-1", ttl=timedelta(seconds=2))
    with live.ws(init={"token": short}) as ws:
        assert ws.receive() == {"type": "connection_ack"}
        ws.subscribe("where", DRIVER_LOCATION, jobId=job["id"])
        live.wait_subscribed(location_channel(job["id"]))
        message = ws.next_for("where", timeout=15)
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["UNAUTHENTICATED"]
        assert time.time() >= json_exp(short)


def json_exp(token: str) -> int:
    import jwt

    exp: int = jwt.decode(token, options={"verify_signature": False})["exp"]
    return exp


def test_refused_connections_are_closed_with_a_reason(live: Live) -> None:
    with live.ws(init={"token": "not-a-jwt"}) as ws:
        closed = ws.raw()
        assert (closed["code"], closed["reason"]) == (4401, "Unauthorized: malformed token")
    with ExitStack() as held:
        for _ in range(4):
            held.enter_context(live.ws(sub="carol"))
        with live.ws(init={"token": live.token("carol")}) as extra:
            closed = extra.raw()
            assert (closed["code"], closed["reason"]) == (4429, "Too many connections: at most 4 per user")


GOOD = 'mutation Good($jobId: ID!) { sendMessage(jobId: $jobId, body: "kept") { id body } }'
BAD = """
mutation Bad($jobId: ID!) {
  first: sendMessage(jobId: $jobId, body: "rolled back") { id }
  second: sendMessage(jobId: $jobId, body: "") { id }
}
"""


def test_operations_on_one_socket_each_commit_or_roll_back_alone(live: Live) -> None:
    # given a driver's socket
    driver, job = live.run(accepted_job, live.api, "cust-1")
    with live.ws(sub=driver["sub"]) as ws:
        # when a failing mutation and a good one are in flight together, several times over
        for n in range(5):
            ws.send(
                {
                    "id": f"bad{n}",
                    "type": "subscribe",
                    "payload": {"query": BAD, "variables": {"jobId": job["id"]}},
                }
            )
            ws.send(
                {
                    "id": f"good{n}",
                    "type": "subscribe",
                    "payload": {"query": GOOD, "variables": {"jobId": job["id"]}},
                }
            )
        good = [ws.next_for(f"good{n}") for n in range(5)]
        bad = [ws.next_for(f"bad{n}") for n in range(5)]
        for n in range(5):
            assert ws.next_for(f"good{n}") == {"id": f"good{n}", "type": "complete"}

    # then every good one was committed and no part of a bad one was
    for message in good:
        assert message["type"] == "next" and message["payload"]["data"]["sendMessage"]["body"] == "kept"
    for message in bad:
        # a non-null field failed: no data, the protocol's error message
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["VALIDATION_FAILED"]
    messages = live.ok("GET", f"/jobs/{job['id']}/messages", "cust-1")
    bodies = [message["body"] for message in messages["items"]]
    assert sorted(bodies) == ["kept"] * 5
