"""Driver positions as telemetry: the latest per driver, written behind in batches.

A driver app pings its position every few seconds; at 10,000 drivers that is thousands of
writes a second, and a durable commit for each would cap the service at the database's commit
rate. A position is superseded by the next one seconds later, so a ping that moves a driver
who is already known and fresh is kept here, in this process, and written with every other
pending position in one statement every ``LOCATION_FLUSH_S``. What needs a decision still goes
through one transaction: a driver unknown to this process (first ping, not approved, not a
driver) or whose last position went stale (coming back to dispatch).

The database stays the arbiter: the batch writes a position only where it is newer than the
stored one and the driver is still approved, so several processes flushing the same driver
keep the newest. A ``kill -9`` loses at most the positions of the last flush interval.
Positions written through a transaction (the slow path, a job's tracking points) pass
:meth:`PositionBuffer.remember`, so a buffered ping older than them is dropped.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import TextClause, select, text
from sqlmodel import col

from logistics.db import Database, UnitOfWork
from logistics.geo import cell_of
from logistics.models import Driver
from logistics.observability.metrics import (
    LOCATION_FLUSH,
    LOCATION_ROWS_WRITTEN,
    PINGS_BUFFERED,
    PINGS_OUTDATED,
    PINGS_SUPERSEDED,
)

log = logging.getLogger("logistics.positions")
# Rows per statement: bounds how long one flush holds the row locks of the drivers it writes
# (dispatch skips locked drivers) and the SQLite writer lock.
FLUSH_CHUNK = 1000


@dataclass(slots=True, frozen=True)
class Position:
    driver_id: str
    lat: float
    lng: float
    accuracy_m: float | None
    heading_deg: float | None
    speed_mps: float | None
    recorded_at: datetime
    received_at: datetime

    @property
    def location_recorded_at(self) -> datetime:
        # Read like a driver row by the ETA (``job.eta.Located``).
        return self.recorded_at


@dataclass(slots=True)
class _Known:
    """An approved driver this process has seen, and the device time of its newest position."""

    driver_id: str
    recorded_at: datetime


def move(driver: Driver, to: Position, *, now: datetime) -> bool:
    """Put the driver at ``to`` unless its row holds a position as new or newer (replays from
    a device that was offline arrive late and out of order)."""
    if driver.location_recorded_at is not None and to.recorded_at <= driver.location_recorded_at:
        return False
    driver.lat, driver.lng, driver.h3_cell = to.lat, to.lng, cell_of(to.lat, to.lng)
    driver.accuracy_m, driver.heading_deg, driver.speed_mps = to.accuracy_m, to.heading_deg, to.speed_mps
    driver.location_recorded_at = to.recorded_at
    driver.updated_at = now
    return True


# One statement writes a whole chunk, in each database's own idiom for a bulk update (arrays
# on PostgreSQL, a JSON document on SQLite): the statement is compiled once, the database plans
# it once, and RETURNING says which positions were newer than the stored ones. One UPDATE per
# ping (executemany) cost several times the CPU in both.
_SET_AND_GUARD = """
    SET lat = p.lat, lng = p.lng, h3_cell = p.h3_cell, accuracy_m = p.accuracy_m,
        heading_deg = p.heading_deg, speed_mps = p.speed_mps,
        location_recorded_at = p.recorded_at, updated_at = p.received_at
    FROM p
    WHERE drivers.id = p.id AND drivers.status = 'approved'
      AND (drivers.location_recorded_at IS NULL OR drivers.location_recorded_at < p.recorded_at)
    RETURNING drivers.id
"""
_ARRAYS = ("ids", "lats", "lngs", "cells", "accuracies", "headings", "speeds", "recorded", "received")


def _batch_update(rows: str) -> TextClause:
    """``UPDATE drivers`` from the rows ``p`` that the given query yields."""
    return text(f"WITH p AS {rows} UPDATE drivers {_SET_AND_GUARD}")


_POSTGRES_BATCH_UPDATE = _batch_update(
    """(
        SELECT * FROM unnest(
            CAST(:ids AS text[]), CAST(:lats AS float8[]), CAST(:lngs AS float8[]),
            CAST(:cells AS text[]), CAST(:accuracies AS float8[]), CAST(:headings AS float8[]),
            CAST(:speeds AS float8[]), CAST(:recorded AS timestamptz[]), CAST(:received AS timestamptz[])
        ) AS p(id, lat, lng, h3_cell, accuracy_m, heading_deg, speed_mps, recorded_at, received_at)
    )"""
)
# MATERIALIZED: without it SQLite evaluated the JSON rows again for every driver it joined.
_SQLITE_BATCH_UPDATE = _batch_update(
    """MATERIALIZED (
        SELECT value ->> 0 AS id, value ->> 1 AS lat, value ->> 2 AS lng, value ->> 3 AS h3_cell,
               value ->> 4 AS accuracy_m, value ->> 5 AS heading_deg, value ->> 6 AS speed_mps,
               value ->> 7 AS recorded_at, value ->> 8 AS received_at
        FROM json_each(:batch)
    )"""
)
# How SQLAlchemy stores a UTC datetime in SQLite (``models.base.UTCDateTime``), so that the
# guard compares like with like.
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def _row(p: Position) -> tuple[Any, ...]:
    return (
        p.driver_id,
        p.lat,
        p.lng,
        cell_of(p.lat, p.lng),
        p.accuracy_m,
        p.heading_deg,
        p.speed_mps,
        p.recorded_at,
        p.received_at,
    )


def _sqlite_row(p: Position) -> tuple[Any, ...]:
    *head, recorded_at, received_at = _row(p)
    return (
        *head,
        recorded_at.astimezone(UTC).strftime(_SQLITE_TIME),
        received_at.astimezone(UTC).strftime(_SQLITE_TIME),
    )


# Called inside the flush's transaction with the positions written: publishes them to the
# streams of the drivers' active jobs (the job layer knows which, the platform does not).
FlushHook = Callable[[UnitOfWork, list[Position]], Awaitable[None]]


class PositionBuffer:
    def __init__(
        self, db: Database, *, interval_s: float, stale_after_s: float, clock: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.clock = clock
        self.interval_s = interval_s
        self.stale_after = timedelta(seconds=stale_after_s)
        self.on_flushed: FlushHook | None = None
        self._known: dict[str, _Known] = {}
        self._pending: dict[str, Position] = {}
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def fresh_driver(self, user_id: str, now: datetime) -> str | None:
        """The driver id of ``user_id`` when it is an approved driver known here whose newest
        position is still fresh: its pings need no transaction. None sends the caller down the
        transactional path."""
        known = self._known.get(user_id)
        if not self.enabled or known is None or now - known.recorded_at > self.stale_after:
            return None
        return known.driver_id

    def keep(self, user_id: str, position: Position) -> None:
        """Keep the ping of a driver ``fresh_driver`` answered for the next batch, unless this
        process already knows a newer position (then it is ignored, as a stored one would be)."""
        PINGS_BUFFERED.inc()
        known = self._known[user_id]
        if position.recorded_at > known.recorded_at:
            known.recorded_at = position.recorded_at
            if position.driver_id in self._pending:
                PINGS_SUPERSEDED.inc()
            self._pending[position.driver_id] = position
        else:
            PINGS_OUTDATED.inc()

    def remember(self, user_id: str, driver_id: str, recorded_at: datetime | None) -> None:
        """A position of an approved driver committed through a transaction."""
        if recorded_at is None:
            return
        known = self._known.get(user_id)
        if known is None:
            self._known[user_id] = _Known(driver_id, recorded_at)
        elif recorded_at > known.recorded_at:
            known.recorded_at = recorded_at
        pending = self._pending.get(driver_id)
        if pending is not None and pending.recorded_at <= recorded_at:
            del self._pending[driver_id]
            PINGS_SUPERSEDED.inc()

    def forget_all(self) -> None:
        """Every driver and ping this process holds (the rows behind them are gone)."""
        self._known.clear()
        self._pending.clear()

    def catch_up(self, driver: Driver) -> bool:
        """Move a driver row just loaded (and locked) to the newest ping this process holds for
        it, so that what the driver does next (going online, accepting) sees where it is. The
        ping stays pending; its batch write changes nothing once this row is committed."""
        position = self._pending.get(driver.id)
        if position is None:
            return False
        return move(driver, position, now=position.received_at)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    @property
    def known_drivers(self) -> int:
        return len(self._known)

    async def flush(self) -> int:
        """Write every pending position, newest wins; returns how many rows changed."""
        async with self._flush_lock:
            batch, self._pending = list(self._pending.values()), {}
            started = time.perf_counter()
            changed = 0
            for start in range(0, len(batch), FLUSH_CHUNK):
                changed += await self._write(batch[start : start + FLUSH_CHUNK])
            if batch:
                LOCATION_FLUSH.observe(time.perf_counter() - started)
            return changed

    async def _write(self, batch: list[Position]) -> int:
        # Sorted by driver: two processes flushing overlapping batches on PostgreSQL take the
        # row locks in one order, so they cannot deadlock each other.
        batch.sort(key=lambda p: p.driver_id)
        params: dict[str, Any]
        if self.db.is_sqlite:
            params = {"batch": orjson.dumps([_sqlite_row(p) for p in batch]).decode()}
            statement = _SQLITE_BATCH_UPDATE
        else:
            columns = list(zip(*(_row(p) for p in batch), strict=True))
            params = dict(zip(_ARRAYS, (list(values) for values in columns), strict=True))
            statement = _POSTGRES_BATCH_UPDATE
        async with self.db.unit_of_work() as uow:
            connection = await uow.session.connection()
            written = set((await connection.execute(statement, params)).scalars())
            if self.on_flushed is not None and written:
                await self.on_flushed(uow, [p for p in batch if p.driver_id in written])
        # Counted once committed. The rest were older than the stored position (another
        # process wrote a newer one) or their driver is no longer approved.
        LOCATION_ROWS_WRITTEN.inc(len(written))
        PINGS_OUTDATED.inc(len(batch) - len(written))
        return len(written)

    async def warm(self) -> int:
        """Learn the approved drivers whose position is fresh, in one query: after a start or a
        restart every online driver pings within seconds, and deciding each first ping in a
        transaction of its own would queue them all behind the database."""
        since = self.clock() - self.stale_after
        query = select(col(Driver.user_id), col(Driver.id), col(Driver.location_recorded_at)).where(
            col(Driver.status) == "approved", col(Driver.location_recorded_at) > since
        )
        async with self.db.unit_of_work(write=False) as uow:
            for user_id, driver_id, recorded_at in (await uow.session.execute(query)).all():
                self.remember(user_id, driver_id, recorded_at)
        return len(self._known)

    def forget_stale(self) -> int:
        """Drop the drivers whose newest position went stale: their next ping is decided in a
        transaction anyway, and a process must not remember every driver it ever saw."""
        since = self.clock() - self.stale_after
        stale = [user for user, known in self._known.items() if known.recorded_at < since]
        for user in stale:
            del self._known[user]
        return len(stale)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="position-flush")

    async def stop(self) -> None:
        """Stop the loop and write what is pending: a graceful stop loses no position."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pending:
            await self.flush()

    async def _run(self) -> None:
        try:
            await self.warm()
            # What start-up learned lives long: out of every collection, as the app's own
            # start-up objects are, so that full collections do not walk every driver.
            gc.collect()
            gc.freeze()
        except Exception:
            # Without it every first ping takes the transactional path: slower, still right.
            log.exception("learning the fresh drivers failed")
        rounds_per_sweep = max(1, int(self.stale_after.total_seconds() / self.interval_s))
        rounds = 0
        # A random phase: the workers of one host, started together, would otherwise write
        # their batches at the same instants and make the database's busy moments coincide.
        await asyncio.sleep(random.uniform(0, self.interval_s))  # noqa: S311  (not for secrets)
        while True:
            await asyncio.sleep(self.interval_s)
            rounds += 1
            if rounds % rounds_per_sweep == 0:
                self.forget_stale()
            if not self._pending:
                continue
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database briefly away: the batch is lost (newer pings follow within
                # seconds), the loop is not.
                log.exception("position flush failed")
