"""Keeps a process's driver index (``dispatch.index``) coherent with the database and with the
other processes, through the broker.

Every process publishes what its own commits changed on one channel, in small messages (a
PostgreSQL NOTIFY carries at most 8,000 bytes): the ids of drivers to read again, and the
positions its ping buffer wrote. Every process applies the others' messages; its own changes
it applied already, at commit. The index is built once the subscription is in place, so no
change falls between the two; and built again whenever the subscription is lost, because
messages may have been missed meanwhile. While it is being built, dispatch searches in SQL.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress
from datetime import datetime
from typing import Any

from logistics.db import Database, UnitOfWork
from logistics.dispatch.index import DriverIndex, watch
from logistics.positions import Position
from logistics.pubsub import PubSub, SubscriptionClosed

log = logging.getLogger("logistics.dispatch")

CHANNEL = "dispatch.drivers"
# Under PostgreSQL's 8,000-byte NOTIFY payload: an id is 26 characters, a position about 100.
IDS_PER_MESSAGE = 200
POSITIONS_PER_MESSAGE = 60
RETRY_S = 1.0
BUILD_WAIT_S = 30.0


class IndexSync:
    def __init__(self, index: DriverIndex, db: Database, pubsub: PubSub) -> None:
        self.index, self.db, self.pubsub = index, db, pubsub
        # Tells this process's messages from the others' on a shared channel.
        self.origin = uuid.uuid4().hex[:12]
        self._ids: set[str] = set()
        self._positions: dict[str, Position] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.rebuilds = 0
        watch(db, self.committed)

    # --- this process's changes ---------------------------------------------------------

    def committed(self, driver_ids: set[str]) -> None:
        """A transaction of this process committed changes to these drivers."""
        self.index.mark(driver_ids)
        if self._tasks:
            self._ids |= driver_ids
            self._wake.set()

    def positions_written(self, uow: UnitOfWork, written: list[Position]) -> None:
        """The ping buffer's flush wrote these positions; they count once it commits."""

        async def apply() -> None:
            for p in written:
                self.index.move(p.driver_id, p.lat, p.lng, p.recorded_at)
            if self._tasks:
                self._positions.update((p.driver_id, p) for p in written)
                self._wake.set()

        uow.after_commit(apply)

    # --- running ------------------------------------------------------------------------

    async def start(self, *, wait_s: float = BUILD_WAIT_S) -> None:
        """Subscribe and build the index; returns once it is built, or after ``wait_s``
        (the database slow to answer): dispatch searches in SQL until then."""
        built = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._follow(built), name="driver-index-follow"),
            asyncio.create_task(self._publish(), name="driver-index-publish"),
        ]
        with suppress(TimeoutError):
            await asyncio.wait_for(built.wait(), wait_s)

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        self.index.ready = False

    async def _follow(self, built: asyncio.Event) -> None:
        while True:
            try:
                async with self.pubsub.subscribe(CHANNEL) as subscription:
                    self.index.ready = False
                    await self.index.rebuild(self.db)
                    self.rebuilds += 1
                    built.set()
                    log.info("driver index built: %d drivers", len(self.index))
                    async for message in subscription:
                        self.apply(message)
            except asyncio.CancelledError:
                raise
            except SubscriptionClosed as exc:
                log.warning("driver index lost its broker subscription (%s); rebuilding", exc)
            except Exception:
                log.exception("driver index failed; rebuilding")
            self.index.ready = False
            await asyncio.sleep(RETRY_S)

    def apply(self, message: dict[str, Any]) -> None:
        """Another process's message (this process's own are skipped: applied at commit)."""
        if message.get("o") == self.origin:
            return
        ids = message.get("d")
        if isinstance(ids, list):
            self.index.mark(str(i) for i in ids)
        positions = message.get("p")
        if isinstance(positions, list):
            for driver_id, lat, lng, at in positions:
                self.index.move(str(driver_id), float(lat), float(lng), datetime.fromisoformat(at))

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ids, self._ids = sorted(self._ids), set()
            positions, self._positions = list(self._positions.values()), {}
            for start in range(0, len(ids), IDS_PER_MESSAGE):
                await self.pubsub.publish(
                    CHANNEL, {"o": self.origin, "d": ids[start : start + IDS_PER_MESSAGE]}
                )
            for start in range(0, len(positions), POSITIONS_PER_MESSAGE):
                chunk = positions[start : start + POSITIONS_PER_MESSAGE]
                rows = [[p.driver_id, p.lat, p.lng, p.recorded_at.isoformat()] for p in chunk]
                await self.pubsub.publish(CHANNEL, {"o": self.origin, "p": rows})
