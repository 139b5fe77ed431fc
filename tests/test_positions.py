"""Presence pings as telemetry: a known, fresh driver's ping is kept in the process and written
in a batch (``logistics.positions``); everything a driver relies on still holds: an older
position never replaces a newer one, the driver's own requests see its newest ping, the job's
stream hears it, and a graceful stop writes what is pending.

The batch is written here by calling ``flush`` (the test clock does not move the flush loop);
``test_positions_processes.py`` shows the loop doing it within a second across processes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import strawberry
from sqlalchemy import select
from sqlmodel import col

from logistics.app import LOCATION_PATH, QUIET_PINGS
from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.models import Driver
from logistics.platform import Platform
from logistics.positions import Position
from logistics.pubsub import location_channel
from tests.conftest import Clock
from tests.dispatch_helpers import another_platform, north_of, pending_holder
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api
from tests.realtime_helpers import accepted_job, direct_subscription
from tests.subscription_helpers import DRIVER_LOCATION


async def stored(platform: Platform, driver_id: str) -> Driver:
    async with platform.db.session(write=False) as session:
        driver: Driver = (
            await session.execute(select(Driver).where(col(Driver.id) == driver_id))
        ).scalar_one()
        return driver


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def ping(api: Api, sub: str, point: dict[str, float], **extra: Any) -> None:
    await api.ok("PUT", "/location", sub, 204, json={**point, **extra})


async def test_a_fresh_drivers_ping_is_answered_at_once_and_written_with_the_next_batch(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given a driver whose first ping was written at once (the process did not know it yet)
    driver = await api.register_driver("drv-1", at=MITTE)
    assert (await stored(platform, driver["id"])).lat == MITTE["lat"]

    # when it pings again a few seconds later
    clock.advance(seconds=4)
    await ping(api, "drv-1", ALEXANDERPLATZ)

    # then the ping waits in the batch, and the next flush writes it
    assert platform.positions.backlog == 1
    assert await platform.positions.flush() == 1
    row = await stored(platform, driver["id"])
    assert (row.lat, row.lng) == (ALEXANDERPLATZ["lat"], ALEXANDERPLATZ["lng"])
    assert row.location_recorded_at == clock.now
    assert platform.positions.backlog == 0


async def test_pings_between_two_batches_leave_only_the_newest(
    api: Api, platform: Platform, clock: Clock
) -> None:
    driver = await api.register_driver("drv-1", at=MITTE)
    for point in (ALEXANDERPLATZ, KREUZBERG, north_of(KREUZBERG, 100)):
        clock.advance(seconds=4)
        await ping(api, "drv-1", point)
    assert platform.positions.backlog == 1
    await platform.positions.flush()
    row = await stored(platform, driver["id"])
    assert (row.lat, row.lng) == (north_of(KREUZBERG, 100)["lat"], north_of(KREUZBERG, 100)["lng"])


async def test_a_replayed_older_ping_never_replaces_a_newer_position(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given a driver at Alexanderplatz since now, already written
    driver = await api.register_driver("drv-1", at=MITTE)
    clock.advance(seconds=10)
    await ping(api, "drv-1", ALEXANDERPLATZ)
    await platform.positions.flush()

    # when the app replays a position it recorded earlier, while offline, in the batch and out
    await ping(api, "drv-1", KREUZBERG, recorded_at=iso(clock.now - timedelta(seconds=5)))
    await platform.positions.flush()

    # then the newer position stays
    row = await stored(platform, driver["id"])
    assert (row.lat, row.lng, row.location_recorded_at) == (
        ALEXANDERPLATZ["lat"],
        ALEXANDERPLATZ["lng"],
        clock.now,
    )


async def test_a_batch_never_overwrites_a_newer_tracking_point(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given a driver on a job, whose presence ping waits in the batch
    registered, job = await accepted_job(api)
    clock.advance(seconds=4)
    await ping(api, registered["sub"], KREUZBERG)
    # when a tracking point recorded later is written through its transaction first
    clock.advance(seconds=1)
    await api.ok("PUT", f"/jobs/{job['id']}/tracking", registered["sub"], json=ALEXANDERPLATZ)
    await platform.positions.flush()
    # then the tracking point stands
    row = await stored(platform, registered["id"])
    assert (row.lat, row.lng) == (ALEXANDERPLATZ["lat"], ALEXANDERPLATZ["lng"])


async def test_a_buffered_ping_is_seen_by_the_drivers_own_next_request(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given an online driver far from a waiting job, and the job offered to nobody
    far = north_of(MITTE, 20_000)
    driver = await api.register_driver("drv-1", at=far)
    await api.ok("PUT", "/availability", "drv-1", json={"online": False})
    order = await api.order("cust-1", pickup=MITTE)
    assert await pending_holder(api, order["id"]) is None

    # when the driver moves next to the pickup (a ping not yet written) and comes online
    clock.advance(seconds=4)
    await ping(api, "drv-1", north_of(MITTE, 200))
    assert platform.positions.backlog == 1
    await api.ok("PUT", "/availability", "drv-1", json={"online": True})

    # then going online saw the new position: the job is offered to the driver
    assert await pending_holder(api, order["id"]) == driver["id"]


async def test_a_dispatch_pass_matches_on_the_pings_its_process_holds(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given a job that found nobody in range, and a driver far away
    driver = await api.register_driver("drv-1", at=north_of(MITTE, 20_000))
    order = await api.order("cust-1", pickup=MITTE)
    assert await pending_holder(api, order["id"]) is None
    # when the driver's ping from near the pickup waits in the batch and dispatch retries
    clock.advance(seconds=settings.dispatch_retry_s + 1)
    await ping(api, "drv-1", north_of(MITTE, 300))
    await run_once(platform)
    # then dispatch saw the driver where it now is
    assert await pending_holder(api, order["id"]) == driver["id"]


async def test_a_presence_ping_reaches_the_jobs_driver_location_stream(
    api: Api, platform: Platform, clock: Clock, settings: Settings, schema: strawberry.Schema
) -> None:
    # given the customer watching the driver of an accepted job
    registered, job = await accepted_job(api)
    async with direct_subscription(
        schema,
        platform,
        settings,
        "cust-1",
        DRIVER_LOCATION,
        channel=location_channel(job["id"]),
        jobId=job["id"],
    ) as where:
        # when the driver's app sends only presence pings (no tracking batch)
        clock.advance(seconds=4)
        await ping(api, registered["sub"], ALEXANDERPLATZ)
        await platform.positions.flush()

        # then the customer's map moves, with the ETA from there
        location = await where.data("driverLocation")
    assert location["jobId"] == job["id"]
    assert location["point"] == ALEXANDERPLATZ
    assert location["etaSeconds"] is not None


async def test_a_stale_drivers_ping_is_decided_at_once_and_brings_it_back_to_dispatch(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given an online driver whose last position went stale, and a job waiting near it
    driver = await api.register_driver("drv-1", at=MITTE)
    clock.advance(seconds=settings.location_stale_after_s + 1)
    order = await api.order("cust-1", pickup=north_of(MITTE, 300))
    assert await pending_holder(api, order["id"]) is None
    # when the driver pings again
    await ping(api, "drv-1", MITTE)
    # then the ping was written in its own transaction and dispatch offered the job at once
    assert platform.positions.backlog == 0
    assert (await stored(platform, driver["id"])).location_recorded_at == clock.now
    assert await pending_holder(api, order["id"]) == driver["id"]


async def test_pings_from_someone_who_is_not_an_approved_driver_are_refused_every_time(api: Api) -> None:
    for _ in range(2):
        response = await api.call("PUT", "/location", "cust-1", json=MITTE)
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "FORBIDDEN"


async def test_a_graceful_stop_writes_the_pending_pings(
    api: Api, platform: Platform, clock: Clock, app: Any
) -> None:
    driver = await api.register_driver("drv-1", at=MITTE)
    clock.advance(seconds=4)
    await ping(api, "drv-1", KREUZBERG)
    assert platform.positions.backlog == 1
    await platform.positions.stop()
    assert platform.positions.backlog == 0
    assert (await stored(platform, driver["id"])).lat == KREUZBERG["lat"]


async def test_a_restarted_process_knows_the_fresh_drivers_before_their_first_ping(
    api: Api, platform: Platform, clock: Clock, settings: Settings
) -> None:
    # given a driver pinging through one process
    driver = await api.register_driver("drv-1", at=MITTE)
    # when another process starts on the same database and learns who is fresh
    async with another_platform(settings, clock) as restarted:
        assert await restarted.positions.warm() == 1
        # then the driver's first ping to it needs no transaction
        clock.advance(seconds=4)
        driver_id = restarted.positions.fresh_driver("drv-1", clock.now)
        assert driver_id == driver["id"]
        arrived = Position(
            driver_id, KREUZBERG["lat"], KREUZBERG["lng"], None, None, None, clock.now, clock.now
        )
        restarted.positions.keep("drv-1", arrived)
        assert restarted.positions.backlog == 1
        await restarted.positions.flush()
    assert (await stored(platform, driver["id"])).lat == KREUZBERG["lat"]
    # and once its position goes stale it is forgotten: the next ping is decided at once
    clock.advance(seconds=settings.location_stale_after_s + 1)
    assert platform.positions.forget_stale() == 1
    assert platform.positions.known_drivers == 0


def test_the_access_log_leaves_out_successful_pings_and_keeps_everything_else() -> None:
    def access(method: str, path: str, status: int) -> logging.LogRecord:
        args = ("127.0.0.1:5000", method, path, "1.1", status)
        return logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)

    kept = [
        (method, path, status)
        for method, path, status in [
            ("PUT", LOCATION_PATH, 204),
            ("PUT", LOCATION_PATH, 403),
            ("PUT", LOCATION_PATH, 422),
            ("GET", "/client/logistics/orders/j1/track", 200),
            ("PUT", "/client/logistics/jobs/j1/tracking", 200),
        ]
        if QUIET_PINGS.filter(access(method, path, status))
    ]
    assert kept == [
        ("PUT", LOCATION_PATH, 403),
        ("PUT", LOCATION_PATH, 422),
        ("GET", "/client/logistics/orders/j1/track", 200),
        ("PUT", "/client/logistics/jobs/j1/tracking", 200),
    ]
