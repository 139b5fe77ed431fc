"""The fleet under search: random points of the Berlin service area, and drivers at such points
bulk-loaded into a freshly created schema (SQLite or the benchmark's own PostgreSQL database)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import logistics.models  # noqa: F401  (registers every table on the metadata)
from logistics.config import Region, Settings
from logistics.db import Database
from logistics.geo import cell_of, in_region
from logistics.models import Driver
from logistics.models.base import new_id

# Share of the fleet per vehicle type.
VEHICLE_MIX = {"bicycle": 0.35, "motorbike": 0.25, "car": 0.30, "van": 0.10}
INSERT_CHUNK = 5_000


class PointSampler:
    """Uniformly random points inside a region's service area (rejection sampling)."""

    def __init__(self, region: Region, rng: random.Random) -> None:
        self.region = region
        self.rng = rng
        ring = region.service_area[0]
        self.min_lng = min(p[0] for p in ring)
        self.max_lng = max(p[0] for p in ring)
        self.min_lat = min(p[1] for p in ring)
        self.max_lat = max(p[1] for p in ring)

    def __call__(self) -> tuple[float, float]:
        while True:
            lat = self.rng.uniform(self.min_lat, self.max_lat)
            lng = self.rng.uniform(self.min_lng, self.max_lng)
            if in_region(self.region, lat, lng):
                return lat, lng


def berlin() -> Region:
    settings = Settings(_env_file=None, regions_file=None)  # type: ignore[call-arg]
    region = settings.region("berlin")
    assert region.id == "berlin"
    return region


async def ensure_database(url: str) -> None:
    """Create the benchmark's own database if it is missing (its tables get dropped)."""
    base, _, name = url.rpartition("/")
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def create_tables(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


def driver_rows(n: int, sample: PointSampler, rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    types = list(VEHICLE_MIX)
    weights = list(VEHICLE_MIX.values())
    for i in range(n):
        lat, lng = sample()
        vehicle_type = rng.choices(types, weights)[0]
        # Positions a few seconds to a minute old: all fresh (the engine's limit is 120 s).
        recorded = now - timedelta(seconds=rng.uniform(1, 60))
        yield {
            "id": new_id(),
            "user_id": f"bench-driver-{i}",
            "status": "approved",
            "name": f"Driver {i}",
            "phone": f"+4915{i:09d}",
            "vehicle_type": vehicle_type,
            "vehicle": {"type": vehicle_type, "make": "Bench", "plate": f"B-{i}"},
            "licence": {"number": f"L{i}", "expires": "2030-01-01"},
            "insurance": {"policy": f"P{i}", "expires": "2030-01-01"},
            "online": True,
            "online_since": recorded - timedelta(hours=1),
            "lat": lat,
            "lng": lng,
            "h3_cell": cell_of(lat, lng),
            "accuracy_m": 10.0,
            "heading_deg": 0.0,
            "speed_mps": 0.0,
            "location_recorded_at": recorded,
            "rating_sum": 0,
            "rating_count": 0,
            "completed_jobs": 0,
            "created_at": now - timedelta(days=30),
            "updated_at": recorded,
        }


async def load_drivers(
    db: Database, n: int, sample: PointSampler, rng: random.Random, now: datetime
) -> float:
    """Replace the drivers table with ``n`` fresh online drivers; seconds taken."""
    started = time.perf_counter()
    rows = driver_rows(n, sample, rng, now)
    async with db.write_engine.begin() as conn:
        await conn.execute(delete(Driver))
        while chunk := [row for _, row in zip(range(INSERT_CHUNK), rows, strict=False)]:
            await conn.execute(insert(Driver), chunk)
    if not db.is_sqlite:
        async with db.write_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE drivers")
    return time.perf_counter() - started
