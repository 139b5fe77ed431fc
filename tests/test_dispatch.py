"""Dispatch offers a new order to the nearest driver alone, then to the next nearest, then to everyone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import strawberry

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from logistics.pubsub import job_channel
from tests.conftest import Clock
from tests.dispatch_helpers import (
    EXPIRED,
    JOB_UPDATED,
    PICKUP,
    another_platform,
    at,
    expire_and_run,
    feed,
    job_row,
    north_of,
    offer_log,
    outcomes,
    pending_holder,
    three_drivers,
)
from tests.factories import Api
from tests.realtime_helpers import direct_subscription


async def report_positions(api: Api, drivers: list[dict[str, Any]]) -> None:
    """Each driver's app reports its (unchanged) position again, as it does every few seconds."""
    for driver in drivers:
        await api.ok("PUT", "/location", driver["sub"], 204, json=driver["at"])


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
