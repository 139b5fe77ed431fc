"""Why a job waits: after a restart an expired offer moves on at once to a driver who can
take it, and when nobody can, the offer log and the order say why (nobody near, every
driver's position stale, everyone busy, everyone tried)."""

from __future__ import annotations

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from tests.conftest import Clock
from tests.dispatch_helpers import (
    PICKUP,
    another_platform,
    dispatch_of,
    north_of,
    offer_log,
    outcomes,
)
from tests.factories import Api


async def test_after_a_restart_an_expired_offer_goes_to_a_driver_whose_position_is_fresh(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given an order offered to the nearest of two drivers by a process that then went away
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    mid = await api.register_driver("mid", at=north_of(PICKUP, 1000))
    order = await api.order("cust-1", pickup=PICKUP)
    # when the other driver keeps reporting, and a new process runs its first pass just
    # after the offer's expiry
    clock.advance(seconds=settings.offer_ttl_s + settings.dispatch_interval_s)
    await api.ok("PUT", "/location", mid["sub"], 204, json=north_of(PICKUP, 1000))
    async with another_platform(settings, clock) as restarted:
        assert await run_once(restarted) == (1, 0)
    # then that first pass expired the offer and offered the job to the other driver
    drivers = {"near": near, "mid": mid}
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "EXPIRED"), ("mid", "PENDING")]
    assert await dispatch_of(api, order["id"]) == {"state": "offered", "offers": 2, "waiting": None}


async def test_a_job_waits_while_every_other_driver_is_stale_and_goes_out_on_a_fresh_position(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given an offer that expires after the other driver stopped reporting (its app was
    # offline while the server was down, say)
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    mid = await api.register_driver("mid", at=north_of(PICKUP, 1000))
    order = await api.order("cust-1", pickup=PICKUP)
    clock.advance(seconds=settings.location_stale_after_s + 1)
    async with another_platform(settings, clock) as restarted:
        await run_once(restarted)
    # then the job waits, and ops and the customer can tell why: every untried driver is stale
    assert await dispatch_of(api, order["id"]) == {"state": "searching", "offers": 1, "waiting": "ALL_STALE"}
    seen = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert seen["dispatch"] == {"state": "searching", "offers": 1, "waiting": "all_stale"}
    # and when that driver reports again, it is offered the job at once
    await api.ok("PUT", "/location", mid["sub"], 204, json=north_of(PICKUP, 1000))
    assert outcomes(await offer_log(api, order["id"]), {"near": near, "mid": mid})[-1] == ("mid", "PENDING")


async def test_with_nobody_in_range_the_order_says_so(api: Api) -> None:
    # given a driver far outside the dispatch radius
    await api.register_driver("far", at=north_of(PICKUP, 40_000))
    # when an order is placed, then nobody is offered it, and the reason is given
    order = await api.order("cust-1", pickup=PICKUP)
    assert order["dispatch"] == {"state": "searching", "offers": 0, "waiting": "no_driver_nearby"}


async def test_with_every_driver_near_busy_the_offer_log_says_so(api: Api) -> None:
    # given the only driver near the pickup doing another job
    busy = await api.register_driver("busy", at=north_of(PICKUP, 300))
    first = await api.order("cust-1", pickup=PICKUP)
    await api.ok("PUT", f"/jobs/{first['id']}/accept", busy["sub"])
    # when another order comes in, then it waits because everyone near is busy
    second = await api.order("cust-2", pickup=PICKUP)
    assert await dispatch_of(api, second["id"]) == {"state": "searching", "offers": 0, "waiting": "ALL_BUSY"}


async def test_once_every_driver_near_was_tried_the_reason_says_so(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given the only driver near the pickup, who lets its offer lapse while still reporting
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    order = await api.order("cust-1", pickup=PICKUP)
    clock.advance(seconds=settings.offer_ttl_s + 1)
    await api.ok("PUT", "/location", near["sub"], 204, json=north_of(PICKUP, 300))
    async with another_platform(settings, clock) as process:
        await run_once(process)
    # then the job waits for someone new
    assert await dispatch_of(api, order["id"]) == {"state": "searching", "offers": 1, "waiting": "ALL_TRIED"}
