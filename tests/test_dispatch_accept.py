"""The end of an offer: the customer cancels, the offered driver accepts, or another driver takes the job."""

from __future__ import annotations

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from tests.conftest import Clock
from tests.dispatch_helpers import (
    EXPIRED,
    PICKUP,
    at,
    expire_and_run,
    feed,
    live_offers,
    north_of,
    offer_log,
    outcomes,
    pending_holder,
    three_drivers,
)
from tests.factories import KREUZBERG, Api


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
