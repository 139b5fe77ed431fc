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
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlmodel import col

from logistics.db import Database, UnitOfWork
from logistics.geo import cell_of
from logistics.models import Driver

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
        self.written = 0
        self.coalesced = 0

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def take(
        self,
        user_id: str,
        *,
        lat: float,
        lng: float,
        accuracy_m: float | None,
        heading_deg: float | None,
        speed_mps: float | None,
        recorded_at: datetime,
        now: datetime,
    ) -> bool:
        """Keep the ping for the next batch and answer True when it needs no transaction: the
        caller is an approved driver known here whose newest position is still fresh. A ping
        not newer than that position is already answered (ignored, as a stored one would be).
        False sends the caller down the transactional path."""
        known = self._known.get(user_id)
        if not self.enabled or known is None or now - known.recorded_at > self.stale_after:
            return False
        if recorded_at <= known.recorded_at:
            return True
        known.recorded_at = recorded_at
        if known.driver_id in self._pending:
            self.coalesced += 1
        self._pending[known.driver_id] = Position(
            known.driver_id, lat, lng, accuracy_m, heading_deg, speed_mps, recorded_at, now
        )
        return True

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

    def forget(self, user_id: str) -> None:
        """The user's driver profile is no longer the one remembered (registered anew)."""
        known = self._known.pop(user_id, None)
        if known is not None:
            self._pending.pop(known.driver_id, None)

    def forget_all(self) -> None:
        self._known.clear()
        self._pending.clear()

    def pending(self, driver_id: str) -> Position | None:
        return self._pending.get(driver_id)

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
            changed = 0
            for start in range(0, len(batch), FLUSH_CHUNK):
                changed += await self._write(batch[start : start + FLUSH_CHUNK])
            self.written += changed
            return changed

    async def _write(self, batch: list[Position]) -> int:
        # Sorted by driver: two processes flushing overlapping batches on PostgreSQL take the
        # row locks in one order, so they cannot deadlock each other.
        batch.sort(key=lambda p: p.driver_id)
        statement = (
            update(Driver)
            .where(col(Driver.id) == bindparam("b_id"))
            .where(col(Driver.status) == "approved")
            .where(
                or_(
                    col(Driver.location_recorded_at).is_(None),
                    col(Driver.location_recorded_at) < bindparam("b_recorded_at"),
                )
            )
            .values(
                lat=bindparam("b_lat"),
                lng=bindparam("b_lng"),
                h3_cell=bindparam("b_cell"),
                accuracy_m=bindparam("b_accuracy"),
                heading_deg=bindparam("b_heading"),
                speed_mps=bindparam("b_speed"),
                location_recorded_at=bindparam("b_recorded_at"),
                updated_at=bindparam("b_received_at"),
            )
        )
        rows = [
            {
                "b_id": p.driver_id,
                "b_lat": p.lat,
                "b_lng": p.lng,
                "b_cell": cell_of(p.lat, p.lng),
                "b_accuracy": p.accuracy_m,
                "b_heading": p.heading_deg,
                "b_speed": p.speed_mps,
                "b_recorded_at": p.recorded_at,
                "b_received_at": p.received_at,
            }
            for p in batch
        ]
        async with self.db.unit_of_work() as uow:
            connection = await uow.session.connection()
            # executemany: one prepared statement for the whole batch (no RETURNING there), so
            # rowcount is the one thing it tells.
            result = await connection.execute(statement.execution_options(synchronize_session=False), rows)
            if self.on_flushed is not None:
                await self.on_flushed(uow, batch)
        return max(int(result.rowcount or 0), 0)

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
        except Exception:
            # Without it every first ping takes the transactional path: slower, still right.
            log.exception("learning the fresh drivers failed")
        rounds_per_sweep = max(1, int(self.stale_after.total_seconds() / self.interval_s))
        rounds = 0
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
