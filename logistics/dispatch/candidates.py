"""Nearest eligible drivers, found through H3 cells (resolution 9) on an indexed column.

The search looks at the cells of ``grid_disk(cell, k)`` for growing ``k``, one indexed query
per step of new rings, and measures exact distances only for the drivers found there. It
stops once the nearest driver found is closer than any cell not yet searched could be, so
the answer is the true nearest, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import h3
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.geo import H3_RESOLUTION, bounding_box, haversine_m
from logistics.job import feed
from logistics.job.feed import vehicle_types_for
from logistics.models import Driver
from logistics.shapes.dispatch import DispatchWaiting

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


def covered_radius_m(k: int) -> float:
    return max(0.0, (k - 0.5) * RING_SPACING_M)


def eligible_drivers(*, vehicle_types: list[str], fresh_since: datetime | None) -> Select[Driver]:
    """The rows a ring may hold a candidate in: approved, online, a fresh position (unless
    ``fresh_since`` is None), a vehicle that fits. Only a narrowing for the index; the feed
    rule decides on what it returns."""
    query = select(Driver).where(
        col(Driver.status) == "approved",
        col(Driver.online).is_(True),
        col(Driver.vehicle_type).in_(vehicle_types),
    )
    if fresh_since is not None:
        query = query.where(col(Driver.location_recorded_at) >= fresh_since)
    return query


COLUMNS = (
    col(Driver.id),
    col(Driver.user_id),
    col(Driver.vehicle_type),
    col(Driver.status),
    col(Driver.online),
    col(Driver.lat),
    col(Driver.lng),
    col(Driver.location_recorded_at),
)


def facts_of_row(row: Any) -> feed.DriverFacts:
    driver_id, user_id, vehicle_type, status, online, lat, lng, position_at = row
    return feed.DriverFacts(
        id=driver_id,
        user_id=user_id,
        vehicle_type=vehicle_type,
        approved=status == "approved",
        online=online,
        lat=lat,
        lng=lng,
        position_at=position_at,
    )


async def eligible_facts(session: AsyncSession) -> list[feed.DriverFacts]:
    """Every driver that could be offered a job after a ping: approved, online, located
    (stale or not), with its workload. What the in-memory index is built from."""
    query = (
        select(*COLUMNS)
        .where(col(Driver.status) == "approved", col(Driver.online).is_(True))
        .where(col(Driver.lat).is_not(None), col(Driver.lng).is_not(None))
    )
    return await feed.with_all_workload(session, [facts_of_row(row) for row in await session.execute(query)])


def _within(rows: Any, lat: float, lng: float, radius_m: float) -> list[tuple[feed.DriverFacts, float]]:
    """The drivers of ``rows`` within ``radius_m`` of (lat, lng), with their distance."""
    near = []
    for row in rows:
        facts = facts_of_row(row)
        assert facts.lat is not None and facts.lng is not None
        distance = haversine_m(lat, lng, facts.lat, facts.lng)
        if distance <= radius_m:
            near.append((facts, distance))
    return near


class _Rule:
    """The feed rule as dispatch applies it to the drivers a ring search finds."""

    def __init__(self, job: feed.JobFacts | None, now: datetime, max_age_s: int, max_radius_m: float) -> None:
        self.job, self.now, self.max_age_s, self.max_radius_m = job, now, max_age_s, max_radius_m

    async def keep(self, session: AsyncSession, drivers: list[feed.DriverFacts]) -> list[feed.DriverFacts]:
        kept = []
        for driver in await feed.with_workload(session, drivers):
            if self.job is not None:
                block = feed.dispatch_block(
                    driver, self.job, now=self.now, stale_after_s=self.max_age_s, radius_m=self.max_radius_m
                )
            else:
                block = feed.driver_block(driver, now=self.now, stale_after_s=self.max_age_s)
            if block is None:
                kept.append(driver)
        return kept


async def nearest_drivers(
    session: AsyncSession,
    *,
    lat: float,
    lng: float,
    vehicle_types: list[str],
    now: datetime,
    max_age_s: int,
    max_radius_m: float,
    job: feed.JobFacts | None = None,
    want: int = 1,
    lock: bool = False,
    full_scan: bool = False,
) -> list[Candidate]:
    """Up to ``want`` drivers nearest to (lat, lng) whom dispatch may offer ``job`` (without a
    job: who are free to take one), nearest first.

    With ``lock`` (PostgreSQL), the drivers returned are locked, and a driver another
    transaction holds is skipped: two dispatchers never pick the same driver at once, and a
    driver accepting a job meanwhile is not offered another.
    """
    origin = h3.latlng_to_cell(lat, lng, H3_RESOLUTION)
    base = eligible_drivers(
        vehicle_types=vehicle_types, fresh_since=now - timedelta(seconds=max_age_s)
    ).with_only_columns(*COLUMNS)
    rule = _Rule(job, now, max_age_s, max_radius_m)
    if full_scan:
        # Every eligible driver measured, no cells: the ring search's baseline in the
        # benchmark and its oracle in the tests.
        near = _within(await session.execute(base), lat, lng, max_radius_m)
        kept = {d.id for d in await rule.keep(session, [facts for facts, _ in near])}
        ranked = sorted(((f.id, d) for f, d in near if f.id in kept), key=lambda item: (item[1], item[0]))
        return await _candidates(session, ranked[:want], rule if lock else None)
    found: dict[str, float] = {}
    searched: set[str] = set()
    max_k = math.ceil(max_radius_m / RING_SPACING_M) + 1
    # The origin's cell alone never settles it (covered_radius_m(0) is 0): start with its ring.
    k = min(1, max_k)
    while True:
        cells = [cell for cell in h3.grid_disk(origin, k) if cell not in searched]
        for start in range(0, len(cells), MAX_CELLS_PER_QUERY):
            chunk = cells[start : start + MAX_CELLS_PER_QUERY]
            rows = await session.execute(base.where(col(Driver.h3_cell).in_(chunk)))
            near = _within(rows, lat, lng, max_radius_m)
            kept = {d.id for d in await rule.keep(session, [facts for facts, _ in near])}
            found.update((facts.id, distance) for facts, distance in near if facts.id in kept)
        searched.update(cells)
        ranked = sorted(found.items(), key=lambda item: (item[1], item[0]))
        enough = len(ranked) >= want and ranked[want - 1][1] <= covered_radius_m(k)
        if enough or k >= max_k:
            return await _candidates(session, ranked[:want], rule if lock else None)
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


async def _candidates(
    session: AsyncSession, ranked: list[tuple[str, float]], recheck: _Rule | None, *, lock: bool = True
) -> list[Candidate]:
    """The drivers of (id, distance) pairs, loaded whole, in the same order. With ``recheck``
    they are checked again by the rule, and with ``lock`` (PostgreSQL) locked first, skipping
    any another transaction holds: what they did before the lock was granted counts."""
    if not ranked:
        return []
    query = select(Driver).where(col(Driver.id).in_([driver_id for driver_id, _ in ranked]))
    if recheck is not None and lock:
        query = query.with_for_update(skip_locked=True, key_share=True)
    drivers = {driver.id: driver for driver in (await session.execute(query)).scalars()}
    if recheck is not None:
        still = await recheck.keep(session, [feed.DriverFacts.of(d) for d in drivers.values()])
        drivers = {facts.id: drivers[facts.id] for facts in still}
    return [Candidate(drivers[driver_id], distance) for driver_id, distance in ranked if driver_id in drivers]


@dataclass
class Claims:
    """What the database said of a window's pairs: the drivers who may have their job now,
    the drivers who can take no job now (busy, offline, stale, or held by another
    transaction), and the pairs the rule refuses for the job alone (its own customer, a
    driver who passed on it)."""

    drivers: dict[str, Driver] = field(default_factory=dict)  # job id -> driver
    unavailable: set[str] = field(default_factory=set)  # driver ids
    refused: list[tuple[str, str]] = field(default_factory=list)  # (job id, driver id)


async def claim_pairs(
    session: AsyncSession,
    pairs: list[tuple[feed.JobFacts, str]],
    *,
    now: datetime,
    max_age_s: int,
    max_radius_m: float,
    lock: bool,
) -> Claims:
    """The (job, driver id) pairs of a window, decided by the rule on the drivers as they
    are now: loaded whole in one statement (with ``lock``, locked, skipping any another
    transaction holds) and their workload in two more, whatever the number of pairs."""
    claims = Claims()
    if not pairs:
        return claims
    query = select(Driver).where(col(Driver.id).in_([driver_id for _, driver_id in pairs]))
    if lock:
        query = query.with_for_update(skip_locked=True, key_share=True)
    drivers = {driver.id: driver for driver in (await session.execute(query)).scalars()}
    loaded = await feed.with_workload(session, [feed.DriverFacts.of(d) for d in drivers.values()])
    facts = {f.id: f for f in loaded}
    for job, driver_id in pairs:
        now_facts = facts.get(driver_id)
        if now_facts is None or feed.driver_block(now_facts, now=now, stale_after_s=max_age_s) is not None:
            claims.unavailable.add(driver_id)
        elif feed.dispatch_block(now_facts, job, now=now, stale_after_s=max_age_s, radius_m=max_radius_m):
            claims.refused.append((job.id, driver_id))
        else:
            claims.drivers[job.id] = drivers[driver_id]
    return claims


async def free_drivers_near(
    session: AsyncSession,
    points: list[tuple[float, float]],
    *,
    vehicle_types: list[str],
    now: datetime,
    max_age_s: int,
    radius_m: float,
) -> list[feed.DriverFacts]:
    """The drivers dispatch may offer a job to now (the rule's driver side), anywhere within
    ``radius_m`` of the box around ``points``: one query for a whole window of jobs."""
    if not points:
        return []
    boxes = [bounding_box(lat, lng, radius_m) for lat, lng in points]
    query = (
        eligible_drivers(vehicle_types=vehicle_types, fresh_since=now - timedelta(seconds=max_age_s))
        .with_only_columns(*COLUMNS)
        .where(
            col(Driver.lat).between(min(b[0] for b in boxes), max(b[1] for b in boxes)),
            col(Driver.lng).between(min(b[2] for b in boxes), max(b[3] for b in boxes)),
        )
    )
    drivers = await feed.with_workload(session, [facts_of_row(row) for row in await session.execute(query)])
    return [d for d in drivers if feed.driver_block(d, now=now, stale_after_s=max_age_s) is None]


async def claim(
    session: AsyncSession,
    job: feed.JobFacts,
    ranked: list[tuple[str, float]],
    *,
    now: datetime,
    max_age_s: int,
    max_radius_m: float,
    lock: bool,
) -> list[Candidate]:
    """The drivers chosen for ``job`` (id, distance) from a source that may be stale (the
    in-memory index), loaded whole and checked again by the rule; with ``lock`` (PostgreSQL)
    locked first, skipping any another transaction holds."""
    return await _candidates(session, ranked, _Rule(job, now, max_age_s, max_radius_m), lock=lock)


async def why_nobody(
    session: AsyncSession, job: feed.JobFacts, *, now: datetime, max_age_s: int, max_radius_m: float
) -> DispatchWaiting:
    """Why no driver within ``max_radius_m`` of the pickup may be offered ``job``: what the
    feed rule says of the online drivers there, stale positions included. It runs only when
    a search found nobody, so that ops can tell an empty area from a busy or a stale one."""
    origin = h3.latlng_to_cell(job.lat, job.lng, H3_RESOLUTION)
    cells = list(h3.grid_disk(origin, math.ceil(max_radius_m / RING_SPACING_M) + 1))
    base = eligible_drivers(vehicle_types=vehicle_types_for(job.vehicle_type), fresh_since=None)
    near: list[tuple[feed.DriverFacts, float]] = []
    for start in range(0, len(cells), MAX_CELLS_PER_QUERY):
        query = base.with_only_columns(*COLUMNS).where(
            col(Driver.h3_cell).in_(cells[start : start + MAX_CELLS_PER_QUERY])
        )
        near += _within(await session.execute(query), job.lat, job.lng, max_radius_m)
    blocks = {
        feed.dispatch_block(driver, job, now=now, stale_after_s=max_age_s, radius_m=max_radius_m)
        for driver in await feed.with_workload(session, [facts for facts, _ in near])
    }
    return waiting_reason(blocks)


_TRIED = {feed.Block.OFFERED_BEFORE, feed.Block.REJECTED}


def waiting_reason(blocks: set[feed.Block | None]) -> DispatchWaiting:
    """One word for what kept every nearby driver from an offer. Drivers already tried are
    set aside first: what ops need to know is why nobody else could be asked."""
    if not blocks:
        return DispatchWaiting.NO_DRIVER_NEARBY
    untried = blocks - _TRIED
    if not untried:
        return DispatchWaiting.ALL_TRIED
    if untried <= {feed.Block.STALE}:
        return DispatchWaiting.ALL_STALE
    if untried <= {feed.Block.BUSY, feed.Block.OFFER_PENDING}:
        return DispatchWaiting.ALL_BUSY
    return DispatchWaiting.NO_ELIGIBLE_DRIVER
