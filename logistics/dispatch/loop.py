"""The background loop that keeps dispatch moving without any request: it expires offers
nobody answered and offers jobs whose dispatch is due.

It is started by the app's lifespan in every server process. State lives in rows (offers
with expiry, jobs with ``dispatch_after``), so a restarted process resumes where the last one
stopped, and several processes can run the loop: on PostgreSQL each claims rows with
``FOR UPDATE SKIP LOCKED``; on SQLite writers are serialised anyway.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from logistics.auth import Principal
from logistics.dispatch import batch, offers
from logistics.platform import Ctx, Platform

log = logging.getLogger("logistics.dispatch")
SYSTEM = Principal.system("dispatch")
# How long stopping waits for a pass under way to finish.
STOP_WAIT_S = 10.0


async def run_once(platform: Platform) -> tuple[int, int]:
    """One pass: (offers expired, jobs dispatched). Each step is its own transaction. The
    pass starts by writing the pings this process holds, so it never matches on positions
    older than the ones it has already answered."""
    await platform.positions.flush()
    async with platform.db.unit_of_work() as uow:
        expired = await offers.expire_due_offers(Ctx(uow=uow, principal=SYSTEM, platform=platform))
    async with platform.db.unit_of_work() as uow:
        ctx = Ctx(uow=uow, principal=SYSTEM, platform=platform)
        if platform.settings.dispatch_mode == "batch":
            dispatched = await batch.match_window(ctx)
        else:
            dispatched = await offers.dispatch_waiting_jobs(ctx)
    return expired, dispatched


class DispatchLoop:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="dispatch-loop")

    async def stop(self) -> None:
        """Claim nothing more: a pass under way finishes (its offers are committed and sent,
        not cut off between the two), the next never starts. A pass stuck longer than
        ``STOP_WAIT_S`` (the database gone) is cancelled."""
        task = self._task
        if task is None:
            return
        self._stopping.set()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        self._task = None

    async def _run(self) -> None:
        settings = self.platform.settings
        # Batched dispatch runs once per window; expiries wait for it too, which keeps a
        # rejected job and the drivers freed meanwhile in the same matching.
        interval = (
            settings.dispatch_window_s if settings.dispatch_mode == "batch" else settings.dispatch_interval_s
        )
        while not self._stopping.is_set():
            try:
                await run_once(self.platform)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed pass (database briefly away) must not end dispatch for good.
                log.exception("dispatch pass failed")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
