"""What ``bench/webhooks.py`` stands on: the receiver process, the seeded jobs and endpoint, CPU
clocks read from ``/proc``, and the transitions that commit events (its tables are
``webhooks_report.py``).

The receiver (``python -m bench.webhooks_support --fail 0.0``) is a bare HTTP/1.1 server on
``asyncio.start_server``: keep-alive, ``Content-Length`` bodies only (what httpx sends), no
parsing of the body. Per POST it notes the ``Logistics-Event-Id``, ``time.time()`` once the body
is read, and the status it answered: 500 for a seeded random share of requests (``/_reset``
sets it), 200 otherwise. ``GET /_arrivals`` returns the notes as JSON. It prints its port on
its first line of output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, func, insert, select
from sqlmodel import col

from bench.cpu import TICK_S, backend_pids, process_cpu_s
from bench.hotpaths_seed import driver_row, job_rows
from logistics.auth import Principal
from logistics.config import Settings
from logistics.db import Database
from logistics.job.lifecycle import Step, record_transition
from logistics.job.status import JobStatus as S
from logistics.models import (
    Driver,
    Job,
    JobEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from logistics.models.base import new_id
from logistics.platform import Ctx, Platform
from logistics.secrets_box import seal
from logistics.shapes.webhooks import WebhookEventType

MERCHANT = "bench-merchant"
ALL_EVENTS = sorted(event.value for event in WebhookEventType)
# From pickup_started to the end; dropoff_completed also writes job.delivered.
WALK = [S.PICKUP_ARRIVED, S.PICKUP_COMPLETED, S.DROPOFF_STARTED, S.DROPOFF_ARRIVED]
WALK += [S.DROPOFF_COMPLETED, S.COMPLETED]
# The steps that write exactly one event (job.status_changed).
SINGLE = WALK[:4]
INSERT_CHUNK = 1_000
ROOT = Path(__file__).resolve().parent.parent
# A producer this late (p99) did not keep its schedule: its core was full.
SATURATED_MS = 100.0


# --- the receiver process ---------------------------------------------------------------------


@dataclass
class ReceiverState:
    fail: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    arrivals: list[tuple[str, float, int]] = field(default_factory=list)


def _response(status: int, body: bytes) -> bytes:
    reason = b"OK" if status == 200 else b"Internal Server Error"
    head = b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n"
    return head % (status, reason, len(body)) + body


def _control(state: ReceiverState, target: bytes, body: bytes) -> bytes:
    if target.startswith(b"/_reset"):
        options = orjson.loads(body or b"{}")
        state.fail = float(options.get("fail", 0.0))
        state.rng = random.Random(options.get("seed", 1))
        state.arrivals = []
        return _response(200, b"{}")
    return _response(200, orjson.dumps(state.arrivals))


async def _serve_connection(
    state: ReceiverState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            target = lines[0].split(b" ", 2)[1]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            body = await reader.readexactly(length) if length else b""
            at = time.time()
            if target.startswith(b"/_"):
                writer.write(_control(state, target, body))
            else:
                status = 500 if state.fail and state.rng.random() < state.fail else 200
                event_id = headers.get(b"logistics-event-id", b"").decode()
                state.arrivals.append((event_id, at, status))
                writer.write(_response(status, b"ok"))
            if headers.get(b"connection", b"").lower() == b"close":
                break
    writer.close()


async def _receiver_main() -> None:
    state = ReceiverState()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve_connection(state, reader, writer)

    server = await asyncio.start_server(connection, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


# --- the receiver, seen from the benchmark ------------------------------------------------------


class Receiver:
    """The receiver process: started pinned to ``core``, stopped by its pid."""

    def __init__(self, core: int | None) -> None:
        self.core = core
        self.process: asyncio.subprocess.Process | None = None
        self.url = ""
        self._control: httpx.AsyncClient | None = None

    async def start(self) -> None:
        command = [sys.executable, "-m", "bench.webhooks_support"]
        if self.core is not None and shutil.which("taskset"):
            command = ["taskset", "-c", str(self.core), *command]
        self.process = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        assert self.process.stdout is not None
        port = int((await asyncio.wait_for(self.process.stdout.readline(), 30)).decode())
        self.url = f"http://127.0.0.1:{port}"
        self._control = httpx.AsyncClient(base_url=self.url, timeout=30)

    async def reset(self, fail: float = 0.0, seed: int = 1) -> None:
        assert self._control is not None
        (
            await self._control.post("/_reset", content=orjson.dumps({"fail": fail, "seed": seed}))
        ).raise_for_status()

    async def arrivals(self) -> list[tuple[str, float, int]]:
        assert self._control is not None
        response = await self._control.get("/_arrivals")
        response.raise_for_status()
        return [(event_id, at, status) for event_id, at, status in orjson.loads(response.content)]

    def cpu_s(self) -> float:
        return process_cpu_s(self.process.pid) if self.process is not None else 0.0

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.aclose()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


# --- CPU clocks -----------------------------------------------------------------------------------


async def backends_cpu(db: Database) -> dict[int, float] | None:
    """CPU seconds of each PostgreSQL backend serving this database; None on SQLite or when
    the server is not on this machine."""
    pids = await backend_pids(db)
    return None if pids is None else {pid: process_cpu_s(pid) for pid in pids}


def backends_delta(before: dict[int, float] | None, after: dict[int, float] | None) -> tuple[float, int]:
    """The backends' CPU between two readings (NaN without them; a backend that ended between
    them is missed), and how many backends started meanwhile."""
    if before is None or after is None:
        return math.nan, 0
    spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return spent, len(set(after) - set(before))


def machine_busy_s() -> float:
    """CPU seconds every core of the machine has spent busy (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    return (user + nice + system + irq + softirq) * TICK_S


# --- the data ---------------------------------------------------------------------------------


@dataclass
class Jobs:
    """Seeded jobs in ``pickup_started``, all the merchant's, handed out a batch at a time."""

    ids: list[str]
    driver_of: dict[str, str]  # job id -> the driver's user id (the principal of its steps)
    taken: int = 0

    def take(self, n: int) -> list[str]:
        if self.taken + n > len(self.ids):
            raise RuntimeError(f"only {len(self.ids) - self.taken} seeded jobs left, {n} wanted")
        batch = self.ids[self.taken : self.taken + n]
        self.taken += n
        return batch


async def seed_jobs(platform: Platform, n_jobs: int, n_drivers: int, seed: int) -> Jobs:
    """``n_jobs`` jobs the merchant ordered for itself, each in ``pickup_started`` with the
    timeline the REST flow writes, their drivers shared among ``n_drivers``."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    drivers = [driver_row(i, (52.5 + i * 1e-4, 13.4), now) for i in range(n_drivers)]
    jobs, events, driver_of = [], [], {}
    for j in range(n_jobs):
        driver = drivers[j % n_drivers]
        job, job_events = job_rows(j, driver, platform.settings, rng, now)
        job.update(customer_id=MERCHANT, creator_id=MERCHANT, created_by="merchant")
        jobs.append(job)
        events += job_events
        driver_of[job["id"]] = driver["user_id"]
    async with platform.db.session() as session:
        for model, rows in ((Driver, drivers), (Job, jobs), (JobEvent, events)):
            for start in range(0, len(rows), INSERT_CHUNK):
                await session.execute(insert(model), rows[start : start + INSERT_CHUNK])
        await session.commit()
    if not platform.db.is_sqlite:
        async with platform.db.write_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE drivers, jobs, job_events")
    return Jobs([job["id"] for job in jobs], driver_of)


async def clear_webhooks(platform: Platform) -> None:
    """No endpoint, no event, no delivery: the state before anyone registered."""
    async with platform.db.session() as session:
        for model in (WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookEndpoint):
            await session.execute(delete(model))
        await session.commit()


async def add_endpoint(platform: Platform, url: str, settings: Settings) -> str:
    """One merchant endpoint for every event type, as ``createWebhookEndpoint`` stores it."""
    endpoint_id = new_id()
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": endpoint_id,
        "owner_id": MERCHANT,
        "owner_role": "merchant",
        "url": url,
        "description": "bench",
        "event_types": ALL_EVENTS,
        "secret_sealed": seal(settings, {"secret": "whsec_bench-" + new_id()}),
        "enabled": True,
        "consecutive_failures": 0,
        "created_at": now,
        "updated_at": now,
    }
    async with platform.db.session() as session:
        await session.execute(insert(WebhookEndpoint), [row])
        await session.commit()
    return endpoint_id


# --- transitions ------------------------------------------------------------------------------


async def transition(platform: Platform, jobs: Jobs, job_id: str, status: S) -> None:
    """One driver's step, as its request commits it."""
    async with platform.db.unit_of_work() as uow:
        principal = Principal(sub=jobs.driver_of[job_id], roles=frozenset({"driver"}))
        ctx = Ctx(uow=uow, principal=principal, platform=platform)
        job = await uow.session.get(Job, job_id)
        assert job is not None
        await record_transition(ctx, job, status, Step("driver"))


def commit_steps(jobs: Jobs, n_events: int) -> list[tuple[str, S]]:
    """The (job, step) pairs of ``n_events`` single-event steps, jobs interleaved: a job's next
    step comes after every other job's, so the worker never waits on a job's order."""
    ids = jobs.take(math.ceil(n_events / len(SINGLE)))
    return [(ids[i % len(ids)], SINGLE[i // len(ids)]) for i in range(n_events)]


async def count_events(platform: Platform) -> int:
    async with platform.db.session(write=False) as session:
        return int((await session.execute(select(func.count()).select_from(WebhookEvent))).scalar_one())


async def event_keys(platform: Platform) -> dict[str, tuple[str, str]]:
    """Event id -> (job id, status it reports), from the stored bodies."""
    async with platform.db.session(write=False) as session:
        rows = (await session.execute(select(col(WebhookEvent.id), col(WebhookEvent.body)))).all()
    keys = {}
    for event_id, body in rows:
        data = orjson.loads(body)["data"]
        keys[event_id] = (data["job"]["id"], data["status"])
    return keys


if __name__ == "__main__":
    argparse.ArgumentParser(description="The benchmark's webhook receiver.").parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_receiver_main())
