"""What customers, drivers and ops see of dispatch: its live events and the offer log."""

from __future__ import annotations

from datetime import timedelta

import strawberry

from logistics.config import Settings
from logistics.platform import Platform
from logistics.pubsub import job_channel, offers_channel
from tests.conftest import Clock
from tests.dispatch_helpers import (
    EXPIRED,
    JOB_UPDATED,
    OPS,
    PICKUP,
    at,
    expire_and_run,
    north_of,
    offer_log,
    offer_log_codes,
    three_drivers,
)
from tests.factories import Api
from tests.realtime_helpers import direct_subscription, live_app

JOB_OFFERS = """
subscription Offers { jobOffers { offerId jobId expiresAt distanceM pickup { lat lng } driverEarnings { amount } } }
"""


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
