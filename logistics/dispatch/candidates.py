"""Nearest eligible drivers, found through H3 cells (resolution 9) on an indexed column.

The search looks at the cells of ``grid_disk(cell, k)`` for growing ``k``, one indexed query
per new ring of cells, and measures exact distances only for the drivers found there. It
stops once the nearest driver found is closer than any cell not yet searched could be, so
the answer is the true nearest, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import h3
from sqlalchemy import Select, and_, exists, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.auth import ACTIVE_STATUSES
from logistics.config import VEHICLE_RANK, VehicleType
from logistics.geo import H3_RESOLUTION, haversine_m
from logistics.models import Driver, Job, JobOffer, JobRejection

# Every point outside grid_disk(origin, k) is at least this far from the origin's cell
# centre, per ring: the hexagons' inradius spacing (sqrt(3) * edge) with an allowance for
# H3's distortion (cells vary by a factor of about two in area over the globe).
_EDGE_M = h3.average_hexagon_edge_length(H3_RESOLUTION, unit="m")
RING_SPACING_M = math.sqrt(3) * _EDGE_M * 0.6
# Rings are searched in growing steps: 1, 2, 4, ... so a sparse area costs few queries.
MAX_CELLS_PER_QUERY = 4000


@dataclass(frozen=True)
class Candidate:
    driver: Driver
    distance_m: float


def vehicle_types_for(job_vehicle: str) -> list[str]:
    """Vehicle types that may take a job booked for ``job_vehicle``: that one or larger."""
    needed = VEHICLE_RANK[VehicleType(job_vehicle)]
    return [v.value for v, rank in VEHICLE_RANK.items() if rank >= needed]


def covered_radius_m(k: int) -> float:
    return max(0.0, (k - 0.5) * RING_SPACING_M)


def eligible_drivers(
    *, vehicle_types: list[str], fresh_since: datetime, now: datetime, job_id: str | None
) -> Select[Driver]:
    """Approved, online, with a fresh position, a vehicle that fits, no active job, no live
    offer, and (for a given job) not offered it or rejected it before."""
    active_job = exists().where(
        and_(col(Job.driver_id) == col(Driver.id), col(Job.status).in_(ACTIVE_STATUSES))
    )
    live_offer = exists().where(
        and_(col(JobOffer.driver_id) == col(Driver.id), col(JobOffer.status) == "pending")
    )
    query = select(Driver).where(
        col(Driver.status) == "approved",
        col(Driver.online).is_(True),
        col(Driver.location_recorded_at) >= fresh_since,
        col(Driver.vehicle_type).in_(vehicle_types),
        not_(active_job),
        not_(live_offer),
    )
    if job_id is not None:
        offered = exists().where(
            and_(col(JobOffer.driver_id) == col(Driver.id), col(JobOffer.job_id) == job_id)
        )
        rejected = exists().where(
            and_(col(JobRejection.driver_id) == col(Driver.id), col(JobRejection.job_id) == job_id)
        )
        query = query.where(not_(offered), not_(rejected))
    return query


async def nearest_drivers(
    session: AsyncSession,
    *,
    lat: float,
    lng: float,
    vehicle_types: list[str],
    now: datetime,
    max_age_s: int,
    max_radius_m: float,
    job_id: str | None = None,
    want: int = 1,
    lock: bool = False,
) -> list[Candidate]:
    """Up to ``want`` eligible drivers nearest to (lat, lng), nearest first.

    With ``lock`` (PostgreSQL), the rows returned are locked and rows another transaction
    holds are skipped: two dispatchers never pick the same driver at once.
    """
    origin = h3.latlng_to_cell(lat, lng, H3_RESOLUTION)
    fresh_since = now - timedelta(seconds=max_age_s)
    base = eligible_drivers(vehicle_types=vehicle_types, fresh_since=fresh_since, now=now, job_id=job_id)
    found: dict[str, Candidate] = {}
    searched: set[str] = set()
    k = 0
    max_k = math.ceil(max_radius_m / RING_SPACING_M) + 1
    while True:
        cells = [cell for cell in h3.grid_disk(origin, k) if cell not in searched]
        for start in range(0, len(cells), MAX_CELLS_PER_QUERY):
            chunk = cells[start : start + MAX_CELLS_PER_QUERY]
            query = base.where(col(Driver.h3_cell).in_(chunk))
            if lock:
                query = query.with_for_update(skip_locked=True, of=Driver)
            for driver in (await session.execute(query)).scalars():
                assert driver.lat is not None and driver.lng is not None
                distance = haversine_m(lat, lng, driver.lat, driver.lng)
                if distance <= max_radius_m:
                    found[driver.id] = Candidate(driver, distance)
        searched.update(cells)
        ranked = sorted(found.values(), key=lambda c: (c.distance_m, c.driver.id))
        enough = len(ranked) >= want and ranked[want - 1].distance_m <= covered_radius_m(k)
        if enough or k >= max_k:
            return ranked[:want]
        k = 1 if k == 0 else k * 2 if len(ranked) == 0 else k + 1


async def nearest_drivers_full_scan(
    session: AsyncSession,
    *,
    lat: float,
    lng: float,
    vehicle_types: list[str],
    now: datetime,
    max_age_s: int,
    max_radius_m: float,
    want: int = 1,
) -> list[Candidate]:
    """The same answer by measuring every eligible driver: the benchmark's baseline."""
    query = eligible_drivers(
        vehicle_types=vehicle_types, fresh_since=now - timedelta(seconds=max_age_s), now=now, job_id=None
    )
    ranked = []
    for driver in (await session.execute(query)).scalars():
        assert driver.lat is not None and driver.lng is not None
        distance = haversine_m(lat, lng, driver.lat, driver.lng)
        if distance <= max_radius_m:
            ranked.append(Candidate(driver, distance))
    ranked.sort(key=lambda c: (c.distance_m, c.driver.id))
    return ranked[:want]
