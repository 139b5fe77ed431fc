"""The data under load: a fresh database migrated by ``logistics migrate``, then drivers,
customers and their active jobs inserted directly (far faster than over REST), and the tokens
that go with them.

Drivers are approved, online, in a car, at a fresh position inside a box of central Berlin.
Each customer has one job in ``pickup_started`` assigned to a driver (one customer per driver
while there are enough), with the three timeline rows the REST flow would have written, so that
track answers a driver, a position and an ETA.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.job_rows import cash_job
from logistics.auth import mint_token
from logistics.config import Settings
from logistics.geo import cell_of
from logistics.models import Driver, Job, JobEvent
from logistics.models.base import new_id

JWT_SECRET = "hotpaths-benchmark-secret-0123456789abcdef"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench"
# Central Berlin, well inside the service area.
LAT_RANGE, LNG_RANGE = (52.45, 52.56), (13.30, 13.50)
# Seeded drivers drive cars: the core loop books a van, so that dispatch never offers its
# order to one of them (an offer is exclusive, and the loop's own driver must take the job).
SEEDED_VEHICLE = "car"
ITEMS = [{"description": "Box of books", "quantity": 1, "weight_kg": 4.0, "size": "small"}]
INSERT_CHUNK = 2_000


@dataclass
class Fleet:
    """What the load needs of the seeded data: one token per driver, one (token, job) per customer."""

    db: str
    url: str
    driver_tokens: list[str] = field(default_factory=list)
    driver_points: list[tuple[float, float]] = field(default_factory=list)
    customer_tokens: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)


def token_settings() -> Settings:
    settings = {"_env_file": None, "jwt_secret": JWT_SECRET, "jwt_audience": None, "jwt_issuer": None}
    return Settings(**settings)  # type: ignore[arg-type]


def token(sub: str, settings: Settings) -> str:
    return mint_token(settings, sub, name=f"Bench {sub}", phone="+49 30 5550000", ttl=timedelta(hours=6))


def service_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a server (or of ``logistics migrate``): none of the caller's
    ``LOGISTICS_`` settings leak in."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOGISTICS_")}
    env.update(
        LOGISTICS_ENV="development",
        LOGISTICS_DATABASE_URL=url,
        LOGISTICS_JWT_SECRET=JWT_SECRET,
        LOGISTICS_RATE_LIMIT_PER_MIN="0",
        **extra,
    )
    return env


async def fresh_database(db: str, workdir: Path, pg_url: str) -> str:
    """The URL of an empty database: a file in ``workdir``, or ``pg_url`` dropped and created."""
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'hotpaths.db'}"
    base, _, name = pg_url.rpartition("/")
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return pg_url


async def migrate(url: str, workdir: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "logistics.cli", "migrate"),
        cwd=workdir,
        env=service_env(url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 300)
    if process.returncode != 0:
        raise RuntimeError(f"logistics migrate failed:\n{output.decode(errors='replace')[-2000:]}")


def _point(rng: random.Random) -> tuple[float, float]:
    return round(rng.uniform(*LAT_RANGE), 6), round(rng.uniform(*LNG_RANGE), 6)


def driver_row(i: int, point: tuple[float, float], now: datetime) -> dict[str, Any]:
    recorded = now - timedelta(seconds=5)
    return {
        "id": new_id(),
        "user_id": f"hp-driver-{i}",
        "status": "approved",
        "name": f"Driver {i}",
        "phone": "+49 30 7654321",
        "vehicle_type": SEEDED_VEHICLE,
        "vehicle": {
            "type": SEEDED_VEHICLE,
            "make": "VW",
            "model": "Caddy",
            "plate": f"B-HP {i}",
            "color": "white",
        },
        "licence": {"number": f"B{i:07d}", "expires_on": "2030-01-01", "upload_id": new_id()},
        "insurance": {
            "provider": "Allianz",
            "policy_number": f"P-{i}",
            "expires_on": "2030-01-01",
            "upload_id": new_id(),
        },
        "online": True,
        "online_since": now - timedelta(hours=1),
        "lat": point[0],
        "lng": point[1],
        "h3_cell": cell_of(*point),
        "accuracy_m": None,
        "heading_deg": None,
        "speed_mps": None,
        "location_recorded_at": recorded,
        "rating_sum": 0,
        "rating_count": 0,
        "completed_jobs": 0,
        "created_at": now - timedelta(days=30),
        "updated_at": recorded,
    }


def job_rows(
    j: int, driver: dict[str, Any], settings: Settings, rng: random.Random, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    pickup, dropoff = _point(rng), _point(rng)
    customer = f"hp-customer-{j}"
    created, accepted, started = (
        now - timedelta(minutes=6),
        now - timedelta(minutes=5),
        now - timedelta(minutes=4),
    )
    job = cash_job(
        settings,
        pickup,
        dropoff,
        ITEMS,
        customer=customer,
        status="pickup_started",
        created_at=created,
        driver_id=driver["id"],
        updated_at=started,
        accepted_at=accepted,
        offer_count=1,
    )
    job_id = job["id"]
    steps = [
        ("searching", created, "customer", customer, None),
        ("accepted", accepted, "driver", driver["user_id"], None),
        ("pickup_started", started, "driver", driver["user_id"], (driver["lat"], driver["lng"])),
    ]
    events = [
        {
            "id": new_id(),
            "job_id": job_id,
            "seq": seq,
            "status": status,
            "at": at,
            "recorded_at": None,
            "lat": point[0] if point else None,
            "lng": point[1] if point else None,
            "actor_role": role,
            "actor_id": actor,
            "note": None,
        }
        for seq, (status, at, role, actor, point) in enumerate(steps, start=1)
    ]
    return job, events


async def _insert(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(insert(model), rows[start : start + INSERT_CHUNK])


async def seed(db: str, n_drivers: int, n_customers: int, pg_url: str, workdir: Path) -> Fleet:
    """A fresh, migrated database holding the fleet; prints what it took."""
    started = time.monotonic()
    url = await fresh_database(db, workdir, pg_url)
    await migrate(url, workdir)
    rng = random.Random(20_240_601)
    now = datetime.now(UTC)
    settings = token_settings()
    fleet = Fleet(db, url)
    drivers = []
    for i in range(n_drivers):
        point = _point(rng)
        drivers.append(driver_row(i, point, now))
        fleet.driver_points.append(point)
        fleet.driver_tokens.append(token(f"hp-driver-{i}", settings))
    jobs, events = [], []
    for j in range(n_customers):
        job, job_events = job_rows(j, drivers[j % n_drivers], settings, rng, now)
        jobs.append(job)
        events += job_events
        fleet.job_ids.append(job["id"])
        fleet.customer_tokens.append(token(job["customer_id"], settings))
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await _insert(conn, Driver, drivers)
            await _insert(conn, Job, jobs)
            await _insert(conn, JobEvent, events)
        if db == "postgresql":
            # What autovacuum would soon do after such a load: plans from real statistics.
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE drivers, jobs, job_events")
    finally:
        await engine.dispose()
    print(
        f"  seeded {db}: {n_drivers:,} drivers, {n_customers:,} customers with a job "
        f"in pickup_started ({time.monotonic() - started:.1f} s)",
        flush=True,
    )
    return fleet


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="logistics-hotpaths-"))
