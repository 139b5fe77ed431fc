"""The drivers dispatch may consider, in memory: H3 cells -> driver ids, with the feed rule's
facts of each (position, vehicle, an active job, a live offer).

A search in SQL cost 5-9 ms of CPU at 100,000 drivers; here it is a walk over the rings of
cells around the pickup, measuring only the drivers found in them, and it stops once the
nearest found are closer than any cell not yet searched could be (as ``candidates`` does in
SQL, which stays the fallback while the index is being built).

The index is a cache, and the database stays the arbiter: every offer is written through the
guards that exist without it (the chosen driver locked and the rule asked again, one live offer
per driver). A stale entry can cost a better choice, never a double offer.

How it stays current:

- a commit that changed a driver's row, a job's driver or status, or an offer marks the
  drivers concerned (``watch``); this process marks its own index at once, and the ids go to
  the others through the broker. A marked driver is read again, row and workload, before the
  next search (:meth:`DriverIndex.refresh`);
- positions written in bulk by the ping buffer are applied as they are (no read back), and
  sent to the other processes the same way;
- the index is built from the database on start and again whenever its broker subscription
  was lost (events may have been missed meanwhile): ``dispatch.follow``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

import h3
from h3.api import basic_int as h3i
from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from logistics.db import Database
from logistics.dispatch.candidates import COLUMNS, eligible_facts, facts_of_row
from logistics.geo import haversine_from
from logistics.job import feed
from logistics.models import Driver, Job, JobOffer

_CHANGED = "logistics.dispatch.changed_drivers"
# Drivers read back per statement by a refresh or a rebuild (the IN list's length).
READ_CHUNK = 500
# Drivers put between two yields to the event loop while the index is built.
BUILD_SLICE = 2_000
_DRIVER_FIELDS = ("status", "online", "lat", "lng", "vehicle_type", "location_recorded_at")
_JOB_FIELDS = ("status", "driver_id")


def touched(session: AsyncSession | Session, *driver_ids: str | None) -> None:
    """Mark drivers changed by a statement the ORM does not see (a Core ``UPDATE``): the
    index reads them again once this transaction commits."""
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_CHANGED, set()).update(d for d in driver_ids if d)


def _changed_in_flush(session: Session) -> None:
    """Which drivers a flush concerned. Runs while the flushed objects still show their
    history; more marks than needed cost a read, a missing one a stale entry."""
    ids: set[str | None] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        state: Any = inspect(obj)
        if isinstance(obj, Driver):
            if state.pending or any(state.attrs[name].history.has_changes() for name in _DRIVER_FIELDS):
                ids.add(obj.id)
        elif isinstance(obj, Job):
            if state.pending or any(state.attrs[name].history.has_changes() for name in _JOB_FIELDS):
                history = state.attrs.driver_id.history
                ids.update((obj.driver_id, *history.deleted))
        elif isinstance(obj, JobOffer) and (state.pending or state.attrs.status.history.has_changes()):
            ids.add(obj.driver_id)
    touched(session, *ids)


def watch(db: Database, on_commit: Callable[[set[str]], None]) -> None:
    """Call ``on_commit`` with the drivers each committed transaction of ``db`` changed.

    Marks survive a rollback: a savepoint rolled back must not drop the marks of the work
    around it, and an extra mark costs one read."""

    def collect(session: Session, _flush_context: Any) -> None:
        _changed_in_flush(session)

    def committed(session: Session) -> None:
        ids = session.info.pop(_CHANGED, None)
        if ids:
            on_commit(ids)

    event.listen(db.session_class, "after_flush", collect)
    event.listen(db.session_class, "after_commit", committed)


def _indexable(facts: feed.DriverFacts) -> bool:
    """Who is kept at all: the rest could not be offered a job whatever they did next,
    short of a change that marks them."""
    return facts.approved and facts.online and facts.lat is not None and facts.lng is not None


# Drivers are kept in cells of several sizes, and a search walks the cells whose size suits
# the density around its point: in a city of a million drivers a resolution-9 cell (0.1 km²)
# holds a hundred of them, and a search that must open at least seven cells would measure
# seven hundred; in a sparse suburb a fine grid would have it open thousands of empty cells.
# The density is read from the coarse cell (resolution 7, 5 km²) around the point.
RESOLUTIONS = (8, 9, 10, 11)
_FINEST = RESOLUTIONS[-1]
_DENSITY_RESOLUTION = 7
# The finest resolution whose cells hold fewer drivers than this on average is searched.
DRIVERS_PER_CELL = 2
# Every point outside grid_disk(origin, k) is at least (k - 0.5) spacings from the origin's
# cell centre: the hexagons' inradius spacing with an allowance for H3's distortion, as the
# SQL ring search (``candidates.RING_SPACING_M``) takes it at resolution 9.
_SPACING_M = {r: math.sqrt(3) * h3.average_hexagon_edge_length(r, unit="m") * 0.6 for r in RESOLUTIONS}


def _resolution(drivers_near: int) -> int:
    for r in RESOLUTIONS:
        if drivers_near < DRIVERS_PER_CELL * 7 ** (r - _DENSITY_RESOLUTION):
            return r
    return _FINEST


# Cells as integers (h3's int API): no string conversions, and a parent is a few bit
# operations (the resolution field set, the finer digits set to 7, as H3 defines them).
_CLEAR = ~(0xF << 52)
_PARENT_BITS = {r: (r << 52) | ((1 << (3 * (15 - r))) - 1) for r in range(16)}


def _parent(cell: int, r: int) -> int:
    return (cell & _CLEAR) | _PARENT_BITS[r]


def _rings(origin: int, k: int) -> Iterable[int]:
    if k == 0:
        return (origin,)
    try:
        return h3i.grid_ring(origin, k)
    except h3.H3BaseException:
        # Near one of H3's pentagons a ring has no exact walk: take the difference of disks.
        return set(h3i.grid_disk(origin, k)) - set(h3i.grid_disk(origin, k - 1))


def _moved(facts: feed.DriverFacts, lat: float, lng: float, at: datetime) -> feed.DriverFacts:
    """``replace(facts, lat=, lng=, position_at=)`` for the hot path: every ping of every
    driver passes here in every process, and ``dataclasses.replace`` costs ten times this."""
    moved = object.__new__(feed.DriverFacts)
    state = moved.__dict__
    state.update(facts.__dict__)
    state["lat"], state["lng"], state["position_at"] = lat, lng, at
    return moved


@dataclass(slots=True)
class _Place:
    cell: int  # at the finest resolution; the coarser ones are its parents
    lat_rad: float
    cos_lat: float
    lng: float


class DriverIndex:
    def __init__(self) -> None:
        self.facts: dict[str, feed.DriverFacts] = {}
        self._places: dict[str, _Place] = {}
        self._cells: dict[int, dict[int, set[str]]] = {r: {} for r in RESOLUTIONS}
        self._by_fineness = sorted(self._cells.items(), reverse=True)
        self._density: dict[int, int] = {}
        self.dirty: set[str] = set()
        self._building = False
        # False until built from the database, and again while it is rebuilt after a lost
        # subscription: dispatch then searches in SQL.
        self.ready = False

    def __len__(self) -> int:
        return len(self.facts)

    # --- writes -------------------------------------------------------------------------

    def put(self, facts: feed.DriverFacts) -> None:
        """Store a driver as read from the database. A position already held that is newer
        stays: a read that started before a flush committed may finish after it."""
        held = self.facts.get(facts.id)
        if (
            held is not None
            and held.position_at is not None
            and (facts.position_at is None or facts.position_at < held.position_at)
        ):
            facts = replace(facts, lat=held.lat, lng=held.lng, position_at=held.position_at)
        if not _indexable(facts):
            self.remove(facts.id)
            return
        self.facts[facts.id] = facts
        assert facts.lat is not None and facts.lng is not None
        self._place(facts.id, facts.lat, facts.lng)

    def move(self, driver_id: str, lat: float, lng: float, at: datetime) -> None:
        """A position written in bulk: applied if newer than the one held. A driver not held
        is left out: if it became eligible, the mark of that change brings it in."""
        if self._building:
            self.dirty.add(driver_id)
        held = self.facts.get(driver_id)
        if held is None or (held.position_at is not None and at <= held.position_at):
            return
        self.facts[driver_id] = _moved(held, lat, lng, at)
        self._place(driver_id, lat, lng)

    def remove(self, driver_id: str) -> None:
        self.facts.pop(driver_id, None)
        place = self._places.pop(driver_id, None)
        if place is not None:
            self._regroup(driver_id, place.cell, None)

    def _place(self, driver_id: str, lat: float, lng: float) -> None:
        cell = h3i.latlng_to_cell(lat, lng, _FINEST)
        lat_rad = math.radians(lat)
        previous = self._places.get(driver_id)
        self._places[driver_id] = _Place(cell, lat_rad, math.cos(lat_rad), lng)
        if previous is None or previous.cell != cell:
            self._regroup(driver_id, None if previous is None else previous.cell, cell)

    def _regroup(self, driver_id: str, old: int | None, new: int | None) -> None:
        """Move a driver between cells, finest first: once the parents agree, every coarser
        one does too (a driver moving a few metres usually changes its finest cell only)."""
        for r, cells in self._by_fineness:
            old_parent = None if old is None else (old & _CLEAR) | _PARENT_BITS[r]
            new_parent = None if new is None else (new & _CLEAR) | _PARENT_BITS[r]
            if old_parent == new_parent:
                return
            if old_parent is not None:
                members = cells[old_parent]
                members.discard(driver_id)
                if not members:
                    del cells[old_parent]
            if new_parent is not None:
                if (joined := cells.get(new_parent)) is None:
                    cells[new_parent] = {driver_id}
                else:
                    joined.add(driver_id)
        density = self._density
        old_parent = None if old is None else (old & _CLEAR) | _PARENT_BITS[_DENSITY_RESOLUTION]
        new_parent = None if new is None else (new & _CLEAR) | _PARENT_BITS[_DENSITY_RESOLUTION]
        if old_parent == new_parent:
            return
        if old_parent is not None:
            density[old_parent] -= 1
            if not density[old_parent]:
                del density[old_parent]
        if new_parent is not None:
            density[new_parent] = density.get(new_parent, 0) + 1

    def mark(self, driver_ids: Iterable[str]) -> None:
        self.dirty.update(driver_ids)

    def replace_all(self, drivers: Iterable[feed.DriverFacts]) -> None:
        self.facts.clear()
        self._places.clear()
        for cells in self._cells.values():
            cells.clear()
        self._density.clear()
        for facts in drivers:
            self.put(facts)

    # --- reads from the database --------------------------------------------------------

    async def refresh(self, session: AsyncSession) -> int:
        """Read the marked drivers again, row and workload; returns how many. The marks are
        taken before the reads, so a change committed meanwhile marks its driver anew."""
        if not self.dirty:
            return 0
        ids, self.dirty = sorted(self.dirty), set()
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start : start + READ_CHUNK]
            rows = await session.execute(select(*COLUMNS).where(col(Driver.id).in_(chunk)))
            loaded = {f.id: f for f in await feed.with_workload(session, [facts_of_row(r) for r in rows])}
            for driver_id in chunk:
                facts = loaded.get(driver_id)
                if facts is None:
                    self.remove(driver_id)
                else:
                    self.put(facts)
        return len(ids)

    async def rebuild(self, db: Database) -> None:
        """Every driver that could be offered a job, read from the database, built aside and
        swapped in, yielding to the event loop as it goes (100,000 drivers take about a
        second). Marks that arrive meanwhile are kept: the read may have missed their change;
        so are the drivers whose position moves meanwhile, which the swap would lose."""
        self.dirty.clear()
        self._building = True
        try:
            async with db.session(write=False) as session:
                drivers = await eligible_facts(session)
            built = DriverIndex()
            for i, facts in enumerate(drivers):
                built.put(facts)
                if i % BUILD_SLICE == BUILD_SLICE - 1:
                    await asyncio.sleep(0)
            self.facts, self._places, self._cells = built.facts, built._places, built._cells
            self._by_fineness, self._density = built._by_fineness, built._density
        finally:
            self._building = False
        self.ready = True

    # --- searches -----------------------------------------------------------------------

    def nearest(
        self,
        lat: float,
        lng: float,
        *,
        vehicle_types: Collection[str],
        now: datetime,
        max_age_s: float,
        radius_m: float,
        want: int,
        keep: Callable[[feed.DriverFacts], bool] | None = None,
    ) -> list[tuple[feed.DriverFacts, float]]:
        """Up to ``want`` drivers within ``radius_m`` of (lat, lng), nearest first, whom the
        feed rule leaves free to take a job now (and ``keep`` accepts): (facts, metres)."""
        finest = h3i.latlng_to_cell(lat, lng, _FINEST)
        r = _resolution(self._density.get(_parent(finest, _DENSITY_RESOLUTION), 0))
        origin = _parent(finest, r)
        cells, spacing_m = self._cells[r], _SPACING_M[r]
        max_k = math.ceil(radius_m / spacing_m) + 1
        found: list[tuple[float, str, feed.DriverFacts]] = []
        fresh_since = now - timedelta(seconds=max_age_s)
        facts_of, places = self.facts, self._places
        p1 = math.radians(lat)
        cos_p1 = math.cos(p1)
        for k in range(max_k + 1):
            for cell in _rings(origin, k):
                members = cells.get(cell)
                if not members:
                    continue
                for driver_id in members:
                    facts = facts_of[driver_id]
                    # The cheap tests first; the feed rule (driver_block) has the last word.
                    if facts.vehicle_type not in vehicle_types or facts.busy or facts.live_offer_job:
                        continue
                    if facts.position_at is None or facts.position_at < fresh_since:
                        continue
                    at = places[driver_id]
                    distance = haversine_from(p1, cos_p1, lng, at.lat_rad, at.cos_lat, at.lng)
                    if distance > radius_m:
                        continue
                    if feed.driver_block(facts, now=now, stale_after_s=max_age_s) is not None:
                        continue
                    if keep is not None and not keep(facts):
                        continue
                    found.append((distance, driver_id, facts))
            if len(found) >= want:
                found.sort(key=lambda item: (item[0], item[1]))
                del found[want:]
                if found[-1][0] <= max(0.0, (k - 0.5) * spacing_m):
                    break
        found.sort(key=lambda item: (item[0], item[1]))
        return [(facts, distance) for distance, _, facts in found[:want]]
