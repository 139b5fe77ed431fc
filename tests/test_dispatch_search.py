"""The nearest-driver search: the H3 ring search finds the same drivers as measuring every
eligible one, and on SQLite (no statistics) its ring query reads the cell index, not the
index on status that every approved driver shares."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import pytest
from sqlalchemy import insert
from sqlmodel import col

from logistics.db import Database
from logistics.dispatch.candidates import eligible_drivers, nearest_drivers
from logistics.geo import H3_RESOLUTION, cell_of
from logistics.job.feed import vehicle_types_for
from logistics.models import Driver
from tests.conftest import reset_database

# Around Berlin's centre: about 20 km by 14 km.
LAT, LNG = (52.45, 52.58), (13.25, 13.55)
VEHICLES = ["bicycle", "motorbike", "car", "van"]


async def _drivers(db: Database, count: int, now: datetime, rng: random.Random) -> None:
    rows = []
    for i in range(count):
        lat, lng = rng.uniform(*LAT), rng.uniform(*LNG)
        rows.append(
            {
                "id": f"d{i:05d}",
                "user_id": f"user-{i}",
                "status": "approved" if i % 10 else "pending_review",
                "name": f"Driver {i}",
                "phone": "+4915000000",
                "vehicle_type": VEHICLES[i % len(VEHICLES)],
                "vehicle": {},
                "licence": {},
                "insurance": {},
                "online": i % 7 != 0,
                "lat": lat,
                "lng": lng,
                "h3_cell": cell_of(lat, lng),
                # One in eleven is stale.
                "location_recorded_at": now - timedelta(seconds=600 if i % 11 == 0 else 5),
                "created_at": now,
                "updated_at": now,
            }
        )
    async with db.write_engine.begin() as conn:
        await conn.execute(insert(Driver), rows)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'search.db'}"
    await reset_database(url)
    database = Database(url)
    yield database
    await database.dispose()


@pytest.mark.parametrize(
    ("count", "want", "vehicle"), [(40, 1, "bicycle"), (600, 3, "car"), (3000, 1, "van")]
)
async def test_ring_search_finds_what_a_full_scan_finds(
    db: Database, count: int, want: int, vehicle: str
) -> None:
    rng = random.Random(count)
    now = datetime.now(UTC)
    await _drivers(db, count, now, rng)
    args = {
        "vehicle_types": vehicle_types_for(vehicle),
        "now": now,
        "max_age_s": 120,
        "max_radius_m": 10_000,
        "want": want,
    }
    for _ in range(25):
        lat, lng = rng.uniform(*LAT), rng.uniform(*LNG)
        async with db.session(write=False) as session:
            rings = await nearest_drivers(session, lat=lat, lng=lng, **args)
            scan = await nearest_drivers(session, lat=lat, lng=lng, full_scan=True, **args)
        assert [(c.driver.id, c.distance_m) for c in rings] == [(c.driver.id, c.distance_m) for c in scan]
        assert len(rings) == want
        for candidate in rings:
            assert candidate.driver.status == "approved" and candidate.driver.online
            assert candidate.driver.vehicle_type in args["vehicle_types"]


async def test_a_small_radius_finds_nobody_beyond_it(db: Database) -> None:
    now = datetime.now(UTC)
    await _drivers(db, 30, now, random.Random(7))
    async with db.session(write=False) as session:
        found = await nearest_drivers(
            session, lat=52.3, lng=13.0, vehicle_types=VEHICLES, now=now, max_age_s=120, max_radius_m=500
        )
    assert found == []


async def test_sqlite_reads_the_ring_through_the_cell_index(db: Database) -> None:
    now = datetime.now(UTC)
    await _drivers(db, 200, now, random.Random(3))
    cells = list(h3.grid_disk(h3.latlng_to_cell(52.52, 13.40, H3_RESOLUTION), 1))
    query = (
        eligible_drivers(vehicle_types=VEHICLES, fresh_since=now)
        .with_only_columns(col(Driver.id), col(Driver.lat), col(Driver.lng))
        .where(col(Driver.h3_cell).in_(cells))
    )
    sql = str(query.compile(db.read_engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with db.read_engine.connect() as conn:
        plan = [row[3] for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    assert plan[0] == "SEARCH drivers USING INDEX ix_drivers_cell_status (h3_cell=? AND status=?)", plan
