"""Presence pings between real server processes: a ping answered 204 by one process is seen
within a second by tracking and by ``driverLocation`` subscribers of another, and a ``kill -9``
loses at most the positions of the last flush interval, never an acknowledged transition.

The children are real ``uvicorn`` processes (``tests/process_helpers.py``), with their own
flush loop on the wall clock: nothing here calls ``flush``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logistics.config import Settings
from logistics.pubsub import location_channel
from tests.dispatch_helpers import north_of
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api
from tests.process_helpers import (
    START_S,
    Server,
    child_env,
    customer_socket,
    job_across,
    receive,
    rest,
    subscribe,
    wait_for_redis_subscriber,
)
from tests.subscription_helpers import DRIVER_LOCATION

FLUSH_S = 0.5
VISIBLE_WITHIN_S = 1.0


def stamp(moment: datetime) -> str:
    return moment.isoformat()


async def track(api: Api, job_id: str) -> dict[str, Any]:
    tracked: dict[str, Any] = await api.ok("GET", f"/orders/{job_id}/track", "cust-1")
    return tracked


async def seen_by_track(api: Api, job_id: str, point: dict[str, float], within: float) -> float:
    """Seconds until the customer's track shows the driver at ``point`` (fails after ``within``)."""
    started = time.monotonic()
    while True:
        driver = (await track(api, job_id))["driver"]
        if driver and driver["point"] == point:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"track still shows {driver}"
        await asyncio.sleep(0.02)


async def test_a_ping_to_one_process_is_seen_by_track_and_subscribers_of_another_within_a_second(
    servers: tuple[Server, Server], child_settings: Settings
) -> None:
    a, b = servers
    await asyncio.wait_for(asyncio.gather(a.wait_ready(), b.wait_ready()), START_S)
    async with rest(a, child_settings) as api_a, rest(b, child_settings) as api_b:
        # given a driver on an accepted job, known to A (its first ping went through A)
        driver, order = await job_across(api_a, api_b)
        # and the customer watching the driver on B
        async with customer_socket(b, child_settings, "cust-1") as ws:
            await subscribe(ws, "where", DRIVER_LOCATION, jobId=order["id"])
            await wait_for_redis_subscriber(location_channel(order["id"]))

            # when the driver's app sends presence pings to A, one of them a second later
            for point in (ALEXANDERPLATZ, KREUZBERG):
                sent = time.monotonic()
                await api_a.ok("PUT", "/location", driver["sub"], 204, json=point)

                # then the subscriber on B hears it, and B's track shows it, within a second
                message = await receive(ws)
                assert time.monotonic() - sent < VISIBLE_WITHIN_S + 0.5, "heard too late"
                assert message["payload"]["data"]["driverLocation"]["point"] == point
                await seen_by_track(api_b, order["id"], point, VISIBLE_WITHIN_S)


async def test_a_kill_loses_no_acknowledged_transition_and_at_most_one_interval_of_positions(
    child_settings: Settings, tmp_path: Path
) -> None:
    env = child_env(child_settings, location_flush_s=str(FLUSH_S), dispatch_loop="false")
    first = Server("first", env, tmp_path)
    try:
        await asyncio.wait_for(first.wait_ready(), START_S)
        async with rest(first, child_settings) as api:
            # given a job that the server acknowledged accepted and then picked up
            driver = await api.register_driver(at=MITTE)
            order = await api.order("cust-1")
            await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
            await api.ok("PUT", f"/jobs/{order['id']}/start-pickup", driver["sub"], json={"point": MITTE})
            # and two pings more than a flush interval apart, the second answered just before
            now = datetime.now(UTC)
            older = {**north_of(MITTE, 100), "recorded_at": stamp(now)}
            await api.ok("PUT", "/location", driver["sub"], 204, json=older)
            await asyncio.sleep(3 * FLUSH_S)
            newest = {**north_of(MITTE, 200), "recorded_at": stamp(now + timedelta(seconds=2))}
            await api.ok("PUT", "/location", driver["sub"], 204, json=newest)
        # when the process is killed at once
        first.kill()
    finally:
        first.stop()

    second = Server("second", env, tmp_path)
    try:
        await asyncio.wait_for(second.wait_ready(), START_S)
        async with rest(second, child_settings) as api:
            tracked = await track(api, order["id"])
    finally:
        second.stop()
    # then every acknowledged transition is there
    assert tracked["status"] == "pickup_started"
    assert [step["status"] for step in tracked["timeline"]][-2:] == ["accepted", "pickup_started"]
    # and the position is the newest or the one before it: at most the last interval is lost
    position = {"lat": tracked["driver"]["point"]["lat"], "lng": tracked["driver"]["point"]["lng"]}
    assert position in (north_of(MITTE, 100), north_of(MITTE, 200)), position
    assert datetime.fromisoformat(tracked["driver"]["recorded_at"]) >= now
