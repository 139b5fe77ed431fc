"""Nearest eligible drivers, found through H3 cells (resolution 9) on an indexed column.

The search looks at the cells of ``grid_disk(cell, k)`` for growing ``k``, one indexed query
per step of new rings, and measures exact distances only for the drivers found there. It
stops once the nearest driver found is closer than any cell not yet searched could be, so
the answer is the true nearest, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import h3
from sqlalchemy import Select, and_, exists, not_, or_, select
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
    offer, and (for a given job) not offered it or rejected it before, and not its customer
    (who could not accept an own order)."""
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
        own_order = exists().where(
            and_(
                col(Job.id) == job_id,
                or_(col(Job.customer_id) == col(Driver.user_id), col(Job.creator_id) == col(Driver.user_id)),
            )
        )
        query = query.where(not_(offered), not_(rejected), not_(own_order))
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

    The rings are read as (id, lat, lng) only; just the drivers returned are loaded whole.
    """
    origin = h3.latlng_to_cell(lat, lng, H3_RESOLUTION)
    fresh_since = now - timedelta(seconds=max_age_s)
    base = eligible_drivers(
        vehicle_types=vehicle_types, fresh_since=fresh_since, now=now, job_id=job_id
    ).with_only_columns(col(Driver.id), col(Driver.lat), col(Driver.lng))
    found: dict[str, float] = {}
    searched: set[str] = set()
    max_k = math.ceil(max_radius_m / RING_SPACING_M) + 1
    # The origin's cell alone never settles it (covered_radius_m(0) is 0): start with its ring.
    k = min(1, max_k)
    while True:
        cells = [cell for cell in h3.grid_disk(origin, k) if cell not in searched]
        for start in range(0, len(cells), MAX_CELLS_PER_QUERY):
            chunk = cells[start : start + MAX_CELLS_PER_QUERY]
            query = base.where(col(Driver.h3_cell).in_(chunk))
            if lock:
                query = query.with_for_update(skip_locked=True, of=Driver)
            for driver_id, driver_lat, driver_lng in await session.execute(query):
                assert driver_lat is not None and driver_lng is not None
                distance = haversine_m(lat, lng, driver_lat, driver_lng)
                if distance <= max_radius_m:
                    found[driver_id] = distance
        searched.update(cells)
        ranked = sorted(found.items(), key=lambda item: (item[1], item[0]))
        enough = len(ranked) >= want and ranked[want - 1][1] <= covered_radius_m(k)
        if enough or k >= max_k:
            return await _candidates(session, ranked[:want])
        if len(ranked) >= want:
            # Every ring that could still hold someone nearer than the want-th, in one query.
            k = max(k + 1, rings_covering(ranked[want - 1][1]))
        else:
            k = k * 2 if not ranked else k + 1
        # Beyond max_k every driver is farther than max_radius_m.
        k = min(k, max_k)


def rings_covering(distance_m: float) -> int:
    """The smallest k with covered_radius_m(k) >= distance_m."""
    return math.ceil(distance_m / RING_SPACING_M + 0.5)


async def _candidates(session: AsyncSession, ranked: list[tuple[str, float]]) -> list[Candidate]:
    """The drivers of (id, distance) pairs, loaded whole, in the same order."""
    if not ranked:
        return []
    query = select(Driver).where(col(Driver.id).in_([driver_id for driver_id, _ in ranked]))
    drivers = {driver.id: driver for driver in (await session.execute(query)).scalars()}
    return [Candidate(drivers[driver_id], distance) for driver_id, distance in ranked if driver_id in drivers]


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
    """The same answer by measuring every eligible driver: the benchmark's baseline.

    It reads (id, lat, lng) like the ring search, so the two differ only in the rows read.
    """
    query = eligible_drivers(
        vehicle_types=vehicle_types, fresh_since=now - timedelta(seconds=max_age_s), now=now, job_id=None
    ).with_only_columns(col(Driver.id), col(Driver.lat), col(Driver.lng))
    ranked = []
    for driver_id, driver_lat, driver_lng in await session.execute(query):
        assert driver_lat is not None and driver_lng is not None
        distance = haversine_m(lat, lng, driver_lat, driver_lng)
        if distance <= max_radius_m:
            ranked.append((driver_id, distance))
    ranked.sort(key=lambda item: (item[1], item[0]))
    return await _candidates(session, ranked[:want])
