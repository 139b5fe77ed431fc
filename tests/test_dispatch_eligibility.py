"""Who dispatch never offers a job: the stale, offline, busy or under review, a vehicle too small, a rejecter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from tests.conftest import Clock
from tests.dispatch_helpers import (
    OPS,
    PICKUP,
    expire_and_run,
    feed,
    job_row,
    north_of,
    offer_log,
    outcomes,
    pending_holder,
    three_drivers,
)
from tests.factories import KREUZBERG, Api, quote_body
from tests.realtime_helpers import graphql

WARDROBE = [{"description": "Wardrobe", "quantity": 1, "weight_kg": 60, "size": "xlarge"}]

APPROVE_DRIVER = """
mutation Approve($driverId: ID!) { approveDriver(driverId: $driverId) { id status } }
"""


@pytest.fixture
def driver_auto_approve() -> bool:
    return True


@pytest.fixture
def settings(settings: Settings, driver_auto_approve: bool) -> Settings:
    return settings.model_copy(update={"driver_auto_approve": driver_auto_approve})


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
