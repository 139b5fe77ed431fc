"""The feed benchmark's world: a fresh migrated SQLite database with the subscribing drivers and
the drivers who take the jobs inserted directly (as ``hotpaths_seed`` does), their tokens, the
customers' tokens, and the server pinned to core 0.

Why the expectation is exact, by the feed rule (``logistics.job.feed.feed_block``): a job is in
a driver's feed while it is ``searching`` with no driver, is not the driver's own order, fits the
driver's vehicle, was not rejected by the driver, is under no live exclusive offer to another
driver, and has its pickup within the radius of the watched point. Here every subscriber drives
a van (the largest vehicle: every job fits), no subscriber is a customer, nobody rejects, every
pickup lies well inside the one watched area, and dispatch never makes an offer (below). So
every job enters every subscriber's feed when it is booked and leaves it when it is accepted:
two changes per job and subscriber. The jobs are taken by other drivers, none of them a
subscriber, one job each, so that a subscriber's feed sees nothing but the changes counted.

The dispatch mode: booking a cash order offers the job at once to the nearest eligible driver
(``offers.start_dispatch``, in the booking request itself, loop or no loop), and a live offer
hides the job from every other driver's feed for up to ``offer_ttl_s``. The server therefore
runs with ``LOGISTICS_DISPATCH_MAX_OFFERS=0``: a new job goes straight to the open feed (dispatch
state ``open_feed``) without a nearest-driver search. The dispatch loop stays on, as deployed;
with no offers and no due jobs each of its passes is two cheap queries.
"""

from __future__ import annotations

import math
import random
import sys
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from bench.fanout_server import free_port
from bench.hotpaths_seed import LAT_RANGE, LNG_RANGE, driver_row, migrate, service_env, token, token_settings
from bench.hotpaths_servers import SERVER_CORE, Server, server
from logistics.geo import haversine_m
from logistics.models import Driver

# Berlin Mitte: the one area every subscriber watches.
CENTER = (52.5200, 13.4050)
# Pickups fall within this share of the radius: clear of the edge, whatever rounding the
# server's distance carries.
PICKUP_SHARE = 0.9
SUBSCRIBER_VEHICLE, TAKER_VEHICLE, JOB_VEHICLE = "van", "car", "car"
INSERT_CHUNK = 2_000


@dataclass
class Population:
    """The tokens of the run: subscribers (one each), takers (one per job), customers (one per job)."""

    url: str
    subscriber_tokens: list[str] = field(default_factory=list)
    taker_tokens: list[str] = field(default_factory=list)
    customer_tokens: list[str] = field(default_factory=list)


def _driver(row: dict[str, Any], vehicle: str, user_id: str) -> dict[str, Any]:
    row["user_id"] = user_id
    row["vehicle_type"] = vehicle
    row["vehicle"] = {**row["vehicle"], "type": vehicle}
    return row


def random_point(rng: random.Random, radius_m: float) -> tuple[float, float]:
    """A point uniformly spread over the disc of ``radius_m`` around the centre."""
    distance, bearing = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    lat = CENTER[0] + distance * math.cos(bearing) / 111_320
    lng = CENTER[1] + distance * math.sin(bearing) / (111_320 * math.cos(math.radians(CENTER[0])))
    return round(lat, 6), round(lng, 6)


def pickup_point(rng: random.Random, radius_m: int) -> tuple[float, float]:
    point = random_point(rng, radius_m * PICKUP_SHARE)
    # The expectation rests on this: the server measures the same great-circle distance.
    assert haversine_m(*CENTER, *point) < radius_m, point
    return point


def dropoff_point(rng: random.Random) -> tuple[float, float]:
    return round(rng.uniform(*LAT_RANGE), 6), round(rng.uniform(*LNG_RANGE), 6)


async def seed(workdir: Path, subscribers: int, jobs: int, radius_m: int) -> Population:
    """A fresh database in ``workdir`` with ``subscribers`` van drivers and ``jobs`` takers."""
    started = time.monotonic()
    url = f"sqlite+aiosqlite:///{workdir / 'feed.db'}"
    await migrate(url, workdir)
    rng = random.Random(20_240_707)
    now = datetime.now(UTC)
    settings = token_settings()
    population = Population(url)
    rows = []
    for i in range(subscribers):
        sub = f"feed-subscriber-{i}"
        rows.append(_driver(driver_row(i, random_point(rng, radius_m), now), SUBSCRIBER_VEHICLE, sub))
        population.subscriber_tokens.append(token(sub, settings))
    for j in range(jobs):
        sub = f"feed-taker-{j}"
        row = driver_row(subscribers + j, random_point(rng, radius_m), now)
        rows.append(_driver(row, TAKER_VEHICLE, sub))
        population.taker_tokens.append(token(sub, settings))
        population.customer_tokens.append(token(f"feed-customer-{j}", settings))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(rows), INSERT_CHUNK):
                await conn.execute(insert(Driver), rows[start : start + INSERT_CHUNK])
    finally:
        await engine.dispose()
    print(
        f"    seeded {subscribers:,} subscribing drivers and {jobs:,} takers "
        f"({time.monotonic() - started:.1f} s)",
        flush=True,
    )
    return population


def feed_server(url: str, workdir: Path, broadcast_url: str) -> AbstractAsyncContextManager[Server]:
    """The service, one uvicorn process on core 0, as ``logistics serve`` runs it (no
    permessage-deflate), jobs straight to the open feed (see the module's docstring)."""
    env = service_env(
        url,
        LOGISTICS_BROADCAST_URL=broadcast_url,
        LOGISTICS_DISPATCH_MAX_OFFERS="0",
        LOGISTICS_STORAGE_DIR=str(workdir / "storage"),
    )
    port = free_port()
    command = [
        *("taskset", "-c", SERVER_CORE, sys.executable, "-m", "uvicorn", "logistics.app:create_app"),
        *("--factory", "--host", "127.0.0.1", "--port", str(port), "--backlog", "4096"),
        *("--no-access-log", "--log-level", "warning", "--ws-per-message-deflate", "false"),
    ]
    return server("service", command, env, workdir, port)
