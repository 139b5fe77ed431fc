"""Dispatch as drivers, customers and ops meet it: a new order is offered to the nearest
eligible driver alone, for ``offer_ttl_s``; a rejection or an expiry moves it to the next
nearest; after ``dispatch_max_offers`` it waits in the open feed for everyone. The loop is run
by hand (``run_once``) and time moves on the test clock only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import strawberry
from sqlalchemy import select
from sqlmodel import col

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.models import Job
from logistics.platform import Platform
from logistics.pubsub import job_channel, offers_channel
from logistics.schema import build_schema
from tests.conftest import Clock
from tests.dispatch_helpers import (
    OPS,
    PICKUP,
    another_platform,
    at,
    feed,
    live_offers,
    north_of,
    offer_log,
    offer_log_codes,
    outcomes,
)
from tests.factories import KREUZBERG, Api, quote_body
from tests.realtime_helpers import direct_subscription, graphql, live_app

EXPIRED = "no answer before the offer expired"
WARDROBE = [{"description": "Wardrobe", "quantity": 1, "weight_kg": 60, "size": "xlarge"}]

JOB_UPDATED = """
subscription Updates($jobId: ID!) {
  jobUpdated(jobId: $jobId) { jobId status previous driverId dispatch { state offers } }
}
"""
JOB_OFFERS = """
subscription Offers { jobOffers { offerId jobId expiresAt distanceM pickup { lat lng } driverEarnings { amount } } }
"""
APPROVE_DRIVER = """
mutation Approve($driverId: ID!) { approveDriver(driverId: $driverId) { id status } }
"""


@pytest.fixture
def driver_auto_approve() -> bool:
    return True


@pytest.fixture
def settings(settings: Settings, driver_auto_approve: bool) -> Settings:
    return settings.model_copy(update={"driver_auto_approve": driver_auto_approve})


@pytest.fixture
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)


async def three_drivers(api: Api) -> dict[str, dict[str, Any]]:
    """Online drivers 300 m, 1 km and 3 km north of the pickup (registered farthest first)."""
    far = await api.register_driver("far", at=north_of(PICKUP, 3000))
    mid = await api.register_driver("mid", at=north_of(PICKUP, 1000))
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    return {"near": near, "mid": mid, "far": far}


async def report_positions(api: Api, drivers: list[dict[str, Any]]) -> None:
    """Each driver's app reports its (unchanged) position again, as it does every few seconds."""
    for driver in drivers:
        await api.ok("PUT", "/location", driver["sub"], 204, json=driver["at"])


async def expire_and_run(clock: Clock, settings: Settings, platform: Platform) -> tuple[int, int]:
    clock.advance(seconds=settings.offer_ttl_s + 1)
    return await run_once(platform)


async def job_row(platform: Platform, job_id: str) -> Job:
    async with platform.db.session(write=False) as session:
        job: Job = (await session.execute(select(Job).where(col(Job.id) == job_id))).scalar_one()
        return job


async def pending_holder(api: Api, job_id: str) -> str | None:
    pending = [entry["driverId"] for entry in await offer_log(api, job_id) if entry["status"] == "PENDING"]
    assert len(pending) <= 1, pending
    return pending[0] if pending else None


# --- nearest first ------------------------------------------------------------------------------


async def test_a_new_order_is_offered_to_the_nearest_driver_alone(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given three online drivers at 300 m, 1 km and 3 km from the pickup
    drivers = await three_drivers(api)

    # when a customer orders a delivery from there
    order = await api.order("cust-1", pickup=PICKUP)

    # then the nearest driver sees it in its feed under an offer that expires after the TTL
    assert order["status"] == "searching"
    mine = (await feed(api, drivers["near"]))[order["id"]]
    assert mine["offer"] is not None
    assert at(mine["offer"]["expires_at"]) == clock.now + timedelta(seconds=settings.offer_ttl_s)
    # and the others do not see it while that offer is live
    assert order["id"] not in await feed(api, drivers["mid"])
    assert order["id"] not in await feed(api, drivers["far"])
    # and ops sees one pending offer, to the nearest driver, with its distance
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "PENDING")]
    assert 250 <= log[0]["distanceM"] <= 350
    assert at(log[0]["offeredAt"]) == clock.now


# --- reject, expiry, max offers --------------------------------------------------------------


async def test_a_rejection_offers_the_job_to_the_next_nearest(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given an order offered to the nearest of three drivers
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when that driver rejects it
    clock.advance(seconds=5)
    rejected = await api.ok("PUT", f"/jobs/{order['id']}/reject", "near", json={"reason": "too_far"})

    # then the next nearest gets the offer, with a full TTL from now
    assert rejected == {"job_id": order["id"], "rejected": True, "reason": "too_far"}
    offer = (await feed(api, drivers["mid"]))[order["id"]]["offer"]
    assert at(offer["expires_at"]) == clock.now + timedelta(seconds=settings.offer_ttl_s)
    # and the job has left the rejecting driver's feed, and is still hidden from the farthest
    assert order["id"] not in await feed(api, drivers["near"])
    assert order["id"] not in await feed(api, drivers["far"])
    # and ops sees who passed, when and why
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "REJECTED"), ("mid", "PENDING")]
    assert log[0]["reason"] == "too_far"
    assert at(log[0]["respondedAt"]) == clock.now


async def test_an_unanswered_offer_expires_to_the_next_nearest(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given an order offered to the nearest of three drivers
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when the loop runs just before the offer's expiry, nothing moves
    clock.advance(seconds=settings.offer_ttl_s - 1)
    assert await run_once(platform) == (0, 0)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "PENDING")]

    # when it runs once the offer has expired
    clock.advance(seconds=2)
    assert await run_once(platform) == (1, 0)

    # then the next nearest has the offer, and the first driver no longer sees the job
    offer = (await feed(api, drivers["mid"]))[order["id"]]["offer"]
    assert at(offer["expires_at"]) == clock.now + timedelta(seconds=settings.offer_ttl_s)
    assert order["id"] not in await feed(api, drivers["near"])
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "EXPIRED"), ("mid", "PENDING")]
    assert log[0]["reason"] == EXPIRED
    assert at(log[0]["respondedAt"]) == clock.now

    # when that one does not answer either, the farthest is next
    assert await expire_and_run(clock, settings, platform) == (1, 0)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [
        ("near", "EXPIRED"),
        ("mid", "EXPIRED"),
        ("far", "PENDING"),
    ]


async def test_after_max_offers_the_job_waits_in_the_open_feed_for_everyone(
    api: Api, clock: Clock, settings: Settings, platform: Platform, schema: strawberry.Schema
) -> None:
    # given one more online driver than dispatch makes offers, 200 m apart going north
    limit = settings.dispatch_max_offers
    drivers = {}
    for n in range(limit + 1):
        point = north_of(PICKUP, 200 * (n + 1))
        drivers[f"d{n}"] = {**await api.register_driver(f"d{n}", at=point), "at": point}
    order = await api.order("cust-1", pickup=PICKUP)

    # when each offer expires unanswered (the drivers' apps keep reporting their positions),
    # the customer watching
    async with direct_subscription(
        schema, platform, settings, "cust-1", JOB_UPDATED, channel=job_channel(order["id"]), jobId=order["id"]
    ) as updates:
        for n in range(limit):
            assert await pending_holder(api, order["id"]) == drivers[f"d{n}"]["id"]
            clock.advance(seconds=settings.offer_ttl_s + 1)
            await report_positions(api, list(drivers.values()))
            await run_once(platform)
        progress = [(await updates.data("jobUpdated"))["dispatch"] for _ in range(limit)]

    # then the customer heard of each new offer, and then that the job is in the open feed
    assert progress == [{"state": "offered", "offers": n + 2} for n in range(limit - 1)] + [
        {"state": "open_feed", "offers": limit}
    ]

    # and after the limit no driver holds an offer: the nearest ones were offered it in turn
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [(f"d{n}", "EXPIRED") for n in range(limit)]
    # and the job waits in the open feed for everyone, the never-offered driver included
    for driver in drivers.values():
        listed = (await feed(api, driver)).get(order["id"])
        assert listed is not None and listed["offer"] is None, driver["sub"]
    # and the loop leaves it there
    clock.advance(seconds=settings.dispatch_retry_s + 1)
    await report_positions(api, list(drivers.values()))
    assert await run_once(platform) == (0, 0)
    assert len(await offer_log(api, order["id"])) == limit
    assert (await job_row(platform, order["id"])).dispatch_after is None

    # when a new driver comes online near it
    newcomer = await api.register_driver("newcomer", at=north_of(PICKUP, 2500), online=False)
    assert await pending_holder(api, order["id"]) is None
    await api.ok("PUT", "/availability", "newcomer", json={"online": True})

    # then it gets an offer, and the job leaves the others' feeds while that offer is live
    assert (await feed(api, newcomer))[order["id"]]["offer"] is not None
    assert await pending_holder(api, order["id"]) == newcomer["id"]
    assert order["id"] not in await feed(api, drivers["d0"])


async def test_a_driver_going_offline_gives_its_offer_to_the_next_nearest(api: Api) -> None:
    # given an order offered to the nearest driver
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when that driver goes offline
    await api.ok("PUT", "/availability", "near", json={"online": False})

    # then its offer is withdrawn and the next nearest has one
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "WITHDRAWN"), ("mid", "PENDING")]
    assert log[0]["reason"] == "the driver went offline"


# --- who is never offered a job ------------------------------------------------------------


async def test_drivers_who_cannot_take_the_job_now_are_passed_over(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given, right at the pickup: a van driver whose position has gone stale,
    await api.register_driver("stale", vehicle="van", at=north_of(PICKUP, 40))
    clock.advance(seconds=settings.location_stale_after_s + 1)
    # a van driver who is offline, a van driver busy with a job of its own, and a cyclist;
    await api.register_driver("offline", vehicle="van", at=north_of(PICKUP, 50), online=False)
    await api.register_driver("busy", vehicle="van", at=north_of(PICKUP, 60))
    own = await api.ok("POST", "/jobs", "busy", 201, json=quote_body(pickup=KREUZBERG))
    assert own["status"] == "accepted"
    cyclist = await api.register_driver("cyclist", vehicle="bicycle", at=north_of(PICKUP, 70))
    # and a free, online van driver 2 km away
    van = await api.register_driver("van", vehicle="van", at=north_of(PICKUP, 2000))

    # when a customer orders a wardrobe moved (a van-sized job)
    order = await api.order("cust-1", pickup=PICKUP, items=WARDROBE)
    assert order["vehicle_type"] == "van"

    # then only the free van driver is offered it
    assert await pending_holder(api, order["id"]) == van["id"]
    assert len(await offer_log(api, order["id"])) == 1
    # and a cyclist never even sees a van job in its feed
    assert order["id"] not in await feed(api, cyclist)

    # when that driver rejects it, nobody else is offered it, now or when the loop retries
    await api.ok("PUT", f"/jobs/{order['id']}/reject", "van", json={"reason": "busy"})
    clock.advance(seconds=settings.dispatch_retry_s + 1)
    await api.ok("PUT", "/location", "van", 204, json=north_of(PICKUP, 2000))
    await run_once(platform)
    log = await offer_log(api, order["id"])
    assert [(entry["driverId"], entry["status"]) for entry in log] == [(van["id"], "REJECTED")]
    # and the job waits in the feed, where the rejecting driver no longer sees it
    assert order["id"] not in await feed(api, van)
    assert (await job_row(platform, order["id"])).status == "searching"


@pytest.mark.parametrize(
    ("size", "weight_kg", "vehicle", "too_small"),
    [
        ("large", 5, "car", ["bicycle", "motorbike"]),
        ("small", 100, "car", ["bicycle", "motorbike"]),
        ("xlarge", 20, "van", ["bicycle", "motorbike", "car"]),
    ],
    ids=["large item", "heavy load", "xlarge item"],
)
async def test_only_a_vehicle_that_fits_the_items_is_offered_the_job(
    api: Api, size: str, weight_kg: int, vehicle: str, too_small: list[str]
) -> None:
    # given drivers of too small vehicles at the pickup, and one whose vehicle fits 2 km away
    for n, small in enumerate(too_small):
        await api.register_driver(small, vehicle=small, at=north_of(PICKUP, 50 + 10 * n))
    fits = await api.register_driver("fits", vehicle=vehicle, at=north_of(PICKUP, 2000))

    # when a customer orders the items moved
    items = [{"description": "Goods", "quantity": 1, "weight_kg": weight_kg, "size": size}]
    order = await api.order("cust-1", pickup=PICKUP, items=items)

    # then the job needs that vehicle, and only its driver is offered it
    assert order["vehicle_type"] == vehicle
    assert [entry["driverId"] for entry in await offer_log(api, order["id"])] == [fits["id"]]


async def test_a_driver_who_rejected_a_job_is_never_offered_it_again(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given two drivers; the nearer one rejected the order, the other was offered it next
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    await api.ok("PUT", f"/jobs/{order['id']}/reject", "near", json={"reason": "other"})

    # when the remaining offers expire and the loop keeps running
    for _ in range(3):
        await expire_and_run(clock, settings, platform)

    # then the rejecting driver was never offered it again
    assert outcomes(await offer_log(api, order["id"]), drivers) == [
        ("near", "REJECTED"),
        ("mid", "EXPIRED"),
        ("far", "EXPIRED"),
    ]
    # when it goes offline and online again, it is not offered the job it rejected
    await api.ok("PUT", "/availability", "near", json={"online": False})
    await api.ok("PUT", "/availability", "near", json={"online": True})
    assert await pending_holder(api, order["id"]) is None


@pytest.mark.parametrize("driver_auto_approve", [False], ids=["manual review"])
async def test_a_driver_under_review_is_never_offered_a_job(api: Api) -> None:
    # given a driver under review at the pickup, and an approved driver 1 km away
    pending = await api.register_driver("pending", at=None, online=False)
    assert pending["status"] == "pending_review"
    ready = await api.register_driver("ready", at=None, online=False)
    body = await graphql(
        api, OPS, APPROVE_DRIVER, headers=api.headers(OPS, roles=["ops"]), driverId=ready["id"]
    )
    assert body["data"]["approveDriver"]["status"] == "APPROVED", body
    await api.ok("PUT", "/availability", "ready", json={"online": True})
    await api.ok("PUT", "/location", "ready", 204, json=north_of(PICKUP, 1000))

    # when the driver under review tries to go online and report its position at the pickup
    refused = await api.call("PUT", "/availability", "pending", json={"online": True})
    assert refused.status_code == 403, refused.text
    refused = await api.call("PUT", "/location", "pending", json=north_of(PICKUP, 10))
    assert refused.status_code == 403, refused.text

    # then an order from there is offered to the approved driver only
    order = await api.order("cust-1", pickup=PICKUP)
    assert await pending_holder(api, order["id"]) == ready["id"]
    assert len(await offer_log(api, order["id"])) == 1


async def test_a_busy_driver_back_in_coverage_is_not_offered_a_waiting_job(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given a driver busy with a job, whose position went stale (a tunnel, a dead phone)
    await api.register_driver("busy", at=north_of(PICKUP, 100))
    own = await api.ok("POST", "/jobs", "busy", 201, json=quote_body(pickup=KREUZBERG))
    assert own["status"] == "accepted"
    clock.advance(seconds=settings.location_stale_after_s + 1)
    # and an order waiting near it with nobody free to take it
    order = await api.order("cust-1", pickup=PICKUP)
    assert await offer_log(api, order["id"]) == []

    # when the busy driver reports a fresh position, and goes offline and online again
    await api.ok("PUT", "/location", "busy", 204, json=north_of(PICKUP, 100))
    await api.ok("PUT", "/availability", "busy", json={"online": False})
    await api.ok("PUT", "/availability", "busy", json={"online": True})

    # then it is not offered the waiting job: it has one to do
    assert await offer_log(api, order["id"]) == []


async def test_a_driver_replaying_an_old_position_is_not_offered_a_job(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given an order waiting with nobody in range, and a driver online without a position
    order = await api.order("cust-1", pickup=PICKUP)
    await api.register_driver("late", at=None)

    # when the driver's app replays a position recorded longer ago than positions stay fresh
    old = clock.now - timedelta(seconds=settings.location_stale_after_s + 60)
    await api.ok(
        "PUT", "/location", "late", 204, json={**north_of(PICKUP, 100), "recorded_at": old.isoformat()}
    )

    # then it is not offered the job: where it is now is unknown
    assert await offer_log(api, order["id"]) == []


async def test_a_driver_is_never_offered_its_own_order(api: Api, clock: Clock) -> None:
    # given a driver at the pickup who also orders deliveries, and another driver 1 km away
    await api.register_driver("dual", at=north_of(PICKUP, 50))
    other = await api.register_driver("other", at=north_of(PICKUP, 1000))

    # when the driver orders a delivery as a customer
    order = await api.order("dual", pickup=PICKUP)

    # then the other driver is offered it: the customer could not accept its own order
    assert await pending_holder(api, order["id"]) == other["id"]

    # and the same when the order waited and the driver comes online only later
    second = await api.order("dual", pickup=PICKUP, dropoff=north_of(KREUZBERG, 100))
    await api.ok("PUT", f"/jobs/{second['id']}/reject", "other", json={"reason": "busy"})
    assert await pending_holder(api, second["id"]) is None
    await api.ok("PUT", "/availability", "dual", json={"online": False})
    await api.ok("PUT", "/availability", "dual", json={"online": True})
    assert await pending_holder(api, second["id"]) is None


# --- nobody in range ------------------------------------------------------------------------


async def test_with_nobody_in_range_the_job_waits_and_the_loop_retries(
    api: Api, clock: Clock, settings: Settings, platform: Platform, schema: strawberry.Schema
) -> None:
    # given the only online driver beyond the dispatch radius
    remote_point = north_of(PICKUP, settings.dispatch_max_radius_m + 5000)
    remote = await api.register_driver("remote", at=remote_point)

    # when an order is placed
    order = await api.order("cust-1", pickup=PICKUP)

    # then nobody is offered it; it waits in the feed, and dispatch looks again later
    assert await offer_log(api, order["id"]) == []
    nearby = await api.ok("GET", "/jobs/available", "remote", params={**PICKUP, "radius_m": 1000})
    assert [job["id"] for job in nearby["items"]] == [order["id"]]
    assert nearby["items"][0]["offer"] is None
    retry_at = clock.now + timedelta(seconds=settings.dispatch_retry_s)
    assert (await job_row(platform, order["id"])).dispatch_after == retry_at

    # when the driver drives into range (the customer watching), the loop waits for the retry
    async with direct_subscription(
        schema, platform, settings, "cust-1", JOB_UPDATED, channel=job_channel(order["id"]), jobId=order["id"]
    ) as updates:
        clock.advance(seconds=10)
        await api.ok("PUT", "/location", "remote", 204, json=north_of(PICKUP, 1500))
        assert await run_once(platform) == (0, 0)
        assert await offer_log(api, order["id"]) == []

        # then once the retry is due, the loop offers the job to it
        clock.advance(seconds=settings.dispatch_retry_s)
        assert await run_once(platform) == (0, 1)
        assert await pending_holder(api, order["id"]) == remote["id"]
        assert (await job_row(platform, order["id"])).dispatch_after is None
        assert (await updates.data("jobUpdated"))["dispatch"] == {"state": "offered", "offers": 1}

        # and a retry that again finds nobody sets the next one
        await api.ok("PUT", "/location", "remote", 204, json=remote_point)
        assert await expire_and_run(clock, settings, platform) == (1, 0)
        assert (await job_row(platform, order["id"])).dispatch_after == clock.now + timedelta(
            seconds=settings.dispatch_retry_s
        )
        assert (await updates.data("jobUpdated"))["dispatch"] == {"state": "searching", "offers": 1}


# --- cancel and accept ------------------------------------------------------------------------


async def test_cancelling_withdraws_the_live_offer(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given an order offered to the nearest driver
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when the customer cancels it
    clock.advance(seconds=3)
    cancelled = await api.ok(
        "PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "changed my mind"}
    )
    assert cancelled["status"] == "cancelled"

    # then the offer is withdrawn, with the reason, and the job left the driver's feed
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "WITHDRAWN")]
    assert log[0]["reason"] == "the job was cancelled"
    assert at(log[0]["respondedAt"]) == clock.now
    assert order["id"] not in await feed(api, drivers["near"])
    # and the loop offers it to nobody else
    assert await expire_and_run(clock, settings, platform) == (0, 0)
    assert len(await offer_log(api, order["id"])) == 1


async def test_the_offered_driver_accepts_and_others_are_told_offer_taken(api: Api, clock: Clock) -> None:
    # given an order offered to the nearest driver
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when another driver tries to take it while that offer is live
    taken = await api.call("PUT", f"/jobs/{order['id']}/accept", "mid")

    # then it is refused with OFFER_TAKEN, and the job is still searching
    assert taken.status_code == 409, taken.text
    assert taken.json()["error"]["code"] == "OFFER_TAKEN"
    assert (await api.ok("GET", f"/orders/{order['id']}/track", "cust-1"))["status"] == "searching"

    # when the offered driver accepts
    clock.advance(seconds=10)
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", "near")

    # then it has the job, and its offer is accepted
    assert (job["status"], job["driver_id"]) == ("accepted", drivers["near"]["id"])
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "ACCEPTED")]
    assert at(log[0]["respondedAt"]) == clock.now
    # and the others are told it is taken
    late = await api.call("PUT", f"/jobs/{order['id']}/accept", "far")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "OFFER_TAKEN")


async def test_a_driver_who_takes_another_job_gives_back_its_offer(api: Api) -> None:
    # given a driver offered one order, and another order that waits in the open feed
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    far = await api.register_driver("far", at=north_of(PICKUP, 3000))
    drivers = {"near": near, "far": far}
    offered = await api.order("cust-1", pickup=PICKUP)
    waiting = await api.order("cust-2", pickup=PICKUP, dropoff=north_of(KREUZBERG, 100))
    await api.ok("PUT", f"/jobs/{waiting['id']}/reject", "far", json={"reason": "too_far"})
    assert await pending_holder(api, waiting["id"]) is None
    assert (await feed(api, near))[waiting["id"]]["offer"] is None

    # when the driver takes the waiting order from its feed instead
    await api.ok("PUT", f"/jobs/{waiting['id']}/accept", "near")

    # then its offer of the other order is withdrawn and moves on to the next driver at once
    log = await offer_log(api, offered["id"])
    assert outcomes(log, drivers) == [("near", "WITHDRAWN"), ("far", "PENDING")]
    assert log[0]["reason"] == "the driver took another job"


async def test_once_the_offer_expired_another_driver_may_take_the_job_before_the_loop_runs(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given an order whose offer to the nearest driver has expired, the loop not having run yet
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    clock.advance(seconds=settings.offer_ttl_s + 1)

    # then the job is back in the other drivers' feeds, with no offer
    assert (await feed(api, drivers["far"]))[order["id"]]["offer"] is None

    # when one of them accepts it
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", "far")

    # then it has the job; the lapsed offer is recorded as expired, and the loop has nothing to do
    assert (job["status"], job["driver_id"]) == ("accepted", drivers["far"]["id"])
    log = await offer_log(api, order["id"])
    assert outcomes(log, drivers) == [("near", "EXPIRED")]
    assert log[0]["reason"] == EXPIRED
    assert await run_once(platform) == (0, 0)
    assert await live_offers(platform) == []


async def test_the_offered_driver_may_still_accept_after_the_expiry_until_the_loop_moves_on(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given an offer past its expiry that the loop has not yet expired
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    clock.advance(seconds=settings.offer_ttl_s + 1)

    # when the offered driver accepts
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", "near")

    # then it has the job: nobody else had taken it
    assert job["driver_id"] == drivers["near"]["id"]
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "ACCEPTED")]


# --- a restart ------------------------------------------------------------------------------


async def test_a_restarted_process_resumes_the_pending_offers(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given an order offered to the nearest driver by a process that then went away
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)

    # when a new process (its own engine, same database) runs the loop after the offer's expiry
    clock.advance(seconds=settings.offer_ttl_s + 1)
    async with another_platform(settings, clock) as restarted:
        assert await run_once(restarted) == (1, 0)

    # then the offer expired and the next nearest driver has one
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "EXPIRED"), ("mid", "PENDING")]
    assert (await feed(api, drivers["mid"]))[order["id"]]["offer"] is not None


# --- real time ------------------------------------------------------------------------------


async def test_the_customer_watches_dispatch_at_work_and_then_the_acceptance(
    api: Api, clock: Clock, settings: Settings, platform: Platform, schema: strawberry.Schema
) -> None:
    # given an order offered to the nearest driver, watched by its customer, and the next
    # nearest driver watching its offers
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    async with (
        direct_subscription(
            schema,
            platform,
            settings,
            "cust-1",
            JOB_UPDATED,
            channel=job_channel(order["id"]),
            jobId=order["id"],
        ) as updates,
        direct_subscription(
            schema, platform, settings, "mid", JOB_OFFERS, channel=offers_channel(drivers["mid"]["id"])
        ) as offers,
    ):
        # when the nearest driver lets the offer expire and the loop moves on
        await expire_and_run(clock, settings, platform)

        # then the customer hears that dispatch is still at work for it: a second driver offered
        working = await updates.data("jobUpdated")
        assert (working["jobId"], working["status"], working["driverId"]) == (order["id"], "SEARCHING", None)
        assert working["dispatch"] == {"state": "offered", "offers": 2}
        # and the next driver receives the offer with its expiry
        offer = await offers.data("jobOffers")
        assert offer["jobId"] == order["id"]
        assert at(offer["expiresAt"]) == clock.now + timedelta(seconds=settings.offer_ttl_s)
        assert 950 <= offer["distanceM"] <= 1050
        assert offer["pickup"] == PICKUP
        assert offer["driverEarnings"]["amount"] == order["driver_earnings"]["amount"]
        assert offer["offerId"] == (await offer_log(api, order["id"]))[-1]["id"]

        # when that driver accepts
        await api.ok("PUT", f"/jobs/{order['id']}/accept", "mid")

        # then the customer sees the acceptance, by that driver
        accepted = await updates.data("jobUpdated")
        assert (accepted["previous"], accepted["status"], accepted["driverId"]) == (
            "SEARCHING",
            "ACCEPTED",
            drivers["mid"]["id"],
        )
        assert accepted["dispatch"] is None


def test_a_driver_receives_its_offer_over_the_websocket(platform: Platform, settings: Settings) -> None:
    # given the app served for real, and an online driver near the pickup watching its offers
    with live_app(platform) as live:
        driver = live.run(live.api.register_driver, "near", at=north_of(PICKUP, 300))
        with live.ws(sub="near") as ws:
            ws.subscribe("offers", JOB_OFFERS)
            live.wait_subscribed(offers_channel(driver["id"]))

            # when a customer orders a delivery from there
            order = live.run(live.api.order, "cust-1", pickup=PICKUP)

            # then the offer arrives over the websocket, with its expiry
            offer = ws.data("offers", "jobOffers")
            assert offer["jobId"] == order["id"]
            assert at(offer["expiresAt"]) == platform.clock() + timedelta(seconds=settings.offer_ttl_s)


# --- the ops offer log ------------------------------------------------------------------------


async def test_ops_read_the_offer_log_and_nobody_else_does(
    api: Api, clock: Clock, settings: Settings, platform: Platform
) -> None:
    # given an order that was offered, rejected, offered, expired and offered again
    drivers = await three_drivers(api)
    ordered_at = clock.now
    order = await api.order("cust-1", pickup=PICKUP)
    clock.advance(seconds=4)
    await api.ok("PUT", f"/jobs/{order['id']}/reject", "near", json={"reason": "vehicle_unsuitable"})
    rejected_at = clock.now
    await expire_and_run(clock, settings, platform)

    # when ops read the log
    log = await offer_log(api, order["id"])

    # then each offer says who, when, the outcome and the reason
    ttl = timedelta(seconds=settings.offer_ttl_s)
    assert [(e["driverId"], e["status"], e["reason"]) for e in log] == [
        (drivers["near"]["id"], "REJECTED", "vehicle_unsuitable"),
        (drivers["mid"]["id"], "EXPIRED", EXPIRED),
        (drivers["far"]["id"], "PENDING", None),
    ]
    assert [(at(e["offeredAt"]), at(e["expiresAt"]), at(e["respondedAt"])) for e in log] == [
        (ordered_at, ordered_at + ttl, rejected_at),
        (rejected_at, rejected_at + ttl, clock.now),
        (clock.now, clock.now + ttl, None),
    ]
    assert {e["jobId"] for e in log} == {order["id"]}
    assert [e["distanceM"] for e in log] == sorted(e["distanceM"] for e in log)

    # and the customer, a driver and a stranger are refused; an unknown job is not found
    assert await offer_log_codes(api, "cust-1", order["id"]) == ["FORBIDDEN"]
    assert await offer_log_codes(api, "near", order["id"]) == ["FORBIDDEN"]
    assert await offer_log_codes(api, "someone", order["id"], roles=["merchant"]) == ["FORBIDDEN"]
    assert await offer_log_codes(api, OPS, "01JZZZZZZZZZZZZZZZZZZZZZZZ", roles=["ops"]) == ["NOT_FOUND"]
