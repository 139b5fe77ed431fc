"""Batched dispatch (DISPATCH_MODE=batch): each window matches every waiting job to the free
drivers at once, through the same guards as greedy dispatch. Windows are driven by the test
(``run_once``, the loop's pass) on the controllable clock; nothing sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from tests.conftest import Clock, requires_postgres
from tests.dispatch_helpers import (
    OPS,
    PICKUP,
    another_platform,
    feed,
    live_offers,
    north_of,
    outcomes,
    three_drivers,
)
from tests.factories import Api
from tests.realtime_helpers import graphql

OFFER_LOG = """
query OfferLog($jobId: ID!) {
  offerLog(jobId: $jobId) { entries { driverId status distanceM windowAt costM } }
}
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"dispatch_mode": "batch"})


async def offer_log(api: Api, job_id: str) -> list[dict[str, Any]]:
    body = await graphql(api, OPS, OFFER_LOG, headers=api.headers(OPS, roles=["ops"]), jobId=job_id)
    assert not body.get("errors"), body
    entries: list[dict[str, Any]] = body["data"]["offerLog"]["entries"]
    return entries


async def test_an_order_waits_for_the_window_then_goes_to_the_nearest_with_its_window_and_cost(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given three online drivers at 300 m, 1 km and 3 km from the pickup
    drivers = await three_drivers(api)

    # when an order is placed, then nobody is offered it before the window
    order = await api.order("cust-1", pickup=PICKUP)
    assert await offer_log(api, order["id"]) == []

    # when the window runs, then the nearest driver is offered it, and ops sees the window
    clock.advance(seconds=2)
    assert await run_once(platform) == (0, 1)
    [offer] = await offer_log(api, order["id"])
    assert outcomes([offer], drivers) == [("near", "PENDING")]
    assert offer["windowAt"] is not None
    # the cost is the pickup distance less the bonus for the two seconds it waited
    assert abs(offer["costM"] - (offer["distanceM"] - 2 * settings.dispatch_waiting_weight)) <= 1
    assert (await feed(api, drivers["near"]))[order["id"]]["offer"] is not None


async def test_a_window_matches_two_jobs_better_than_nearest_first(api: Api, platform: Platform) -> None:
    # given a driver 900 m north of the first pickup and one 1 km south of it, and a second
    # pickup 2 km north (nearest first would send the northern driver to the first job, and
    # the southern one 3 km to the second)
    north = await api.register_driver("north", at=north_of(PICKUP, 900))
    south = await api.register_driver("south", at=north_of(PICKUP, -1000))
    first = await api.order("cust-1", pickup=PICKUP)
    second = await api.order("cust-2", pickup=north_of(PICKUP, 2000))

    # when one window matches both
    assert await run_once(platform) == (0, 2)

    # then each job goes to the driver that keeps the total pickup short (2.1 km, not 3.9)
    drivers = {"north": north, "south": south}
    assert outcomes(await offer_log(api, first["id"]), drivers) == [("south", "PENDING")]
    assert outcomes(await offer_log(api, second["id"]), drivers) == [("north", "PENDING")]


async def test_a_rejected_job_returns_to_the_pool_without_the_driver_who_passed(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given an order offered to the nearest of three drivers in a window
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    await run_once(platform)

    # when that driver rejects it, then nobody else is offered it before the next window
    await api.ok("PUT", f"/jobs/{order['id']}/reject", "near", json={"reason": "too_far"})
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "REJECTED")]

    # when the next window runs, then the next nearest is offered it, never the one who passed
    clock.advance(seconds=2)
    await run_once(platform)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "REJECTED"), ("mid", "PENDING")]


async def test_an_expired_offer_goes_to_the_next_driver_in_the_same_pass(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    await run_once(platform)

    # when nobody answers before the offer expires, then the pass that expires it matches again
    clock.advance(seconds=settings.offer_ttl_s + 1)
    assert await run_once(platform) == (1, 1)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "EXPIRED"), ("mid", "PENDING")]


async def test_a_driver_coming_online_is_matched_by_the_next_window(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given an order that a window could not match (nobody online)
    order = await api.order("cust-1", pickup=PICKUP)
    assert await run_once(platform) == (0, 0)

    # when a driver comes online nearby, then it is not offered the job on the spot
    driver = await api.register_driver("late", at=north_of(PICKUP, 500))
    assert await offer_log(api, order["id"]) == []

    # but by the next window
    clock.advance(seconds=2)
    assert await run_once(platform) == (0, 1)
    assert outcomes(await offer_log(api, order["id"]), {"late": driver}) == [("late", "PENDING")]


@requires_postgres
async def test_two_processes_running_the_window_at_once_offer_each_job_once(
    api: Api, platform: Platform, settings: Settings, clock: Clock
) -> None:
    # given three drivers and three waiting orders
    await three_drivers(api)
    orders = [await api.order(f"cust-{n}", pickup=PICKUP) for n in range(3)]

    # when two processes run the window at the same moment
    async with another_platform(settings, clock) as other:
        passes = await asyncio.gather(run_once(platform), run_once(other))

    # then one of them solved it (the other found the window taken, or nothing left), and
    # every job is offered once, to a driver of its own
    assert sorted(dispatched for _, dispatched in passes) == [0, 3]
    live = await live_offers(platform)
    assert sorted(job for job, _ in live) == sorted(order["id"] for order in orders)
    assert len({driver for _, driver in live}) == 3


async def test_cancelling_withdraws_the_offer_a_window_made_and_no_window_offers_it_again(
    api: Api, platform: Platform, clock: Clock
) -> None:
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    await run_once(platform)

    # when the customer cancels, then the offer is withdrawn and later windows leave the job be
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "changed my mind"})
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "WITHDRAWN")]
    clock.advance(seconds=2)
    assert await run_once(platform) == (0, 0)


async def test_a_restarted_process_runs_the_next_window_from_the_rows(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given a window's offer left unanswered by a process that then went away
    drivers = await three_drivers(api)
    order = await api.order("cust-1", pickup=PICKUP)
    await run_once(platform)

    # when a new process (its own index, built from the database) runs after the expiry
    clock.advance(seconds=settings.offer_ttl_s + 1)
    async with another_platform(settings, clock) as restarted:
        assert restarted.drivers.ready
        assert await run_once(restarted) == (1, 1)

    # then the next nearest has the offer
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "EXPIRED"), ("mid", "PENDING")]


async def test_a_window_passes_over_the_busy_the_unfit_and_the_customer_itself(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given, nearest first: a driver busy with a job, a bicycle (the order is for a van), the
    # customer itself (also a driver), and a van 2 km away
    busy = await api.register_driver("busy", vehicle="van", at=north_of(PICKUP, 100))
    first = await api.order("cust-0", pickup=north_of(PICKUP, 100))
    await run_once(platform)
    await api.ok("PUT", f"/jobs/{first['id']}/accept", "busy")
    await api.register_driver("bike", vehicle="bicycle", at=north_of(PICKUP, 200))
    await api.register_driver("dual", vehicle="van", at=north_of(PICKUP, 300))
    van = await api.register_driver("van", vehicle="van", at=north_of(PICKUP, 2000))

    # when the customer orders a van delivery and a window runs
    items = [{"description": "Wardrobe", "quantity": 1, "weight_kg": 20, "size": "xlarge"}]
    order = await api.order("dual", pickup=PICKUP, items=items)
    assert order["vehicle_type"] == "van"
    clock.advance(seconds=2)
    assert await run_once(platform) == (0, 1)

    # then only the van far away is offered it
    assert outcomes(await offer_log(api, order["id"]), {"van": van, "busy": busy}) == [("van", "PENDING")]
