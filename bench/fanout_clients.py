"""The subscribers: client processes, each holding its share of the ``driverLocation``
subscriptions and recording when every tracking point arrives, and in which order.

Subscriber ``g`` (numbered over all processes) watches job ``g % len(jobs)``, so a process's
share spreads evenly over the jobs. Every arrival of a measured point whose key is below one
the subscriber already has counts as out of order; a point posted (its key is in the send
times) that never arrived counts as missing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from bench.common import percentile

# A point's key travels in its latitude: lat = BASE_LAT + key * KEY_STEP. Measured points are
# keys 0..M-1; warm-up points are keys from WARMUP_KEY up.
BASE_LAT = 52.45
KEY_STEP = 1e-6
TRACK_LNG = 13.41
WARMUP_KEY = 50_000

SUBSCRIPTION = """
subscription Track($jobId: ID!) {
  driverLocation(jobId: $jobId) { jobId point { lat lng } headingDeg speedMps recordedAt etaSeconds }
}
"""


def lat_of(key: int) -> float:
    return round(BASE_LAT + key * KEY_STEP, 7)


def key_of(lat: float) -> int:
    return round((lat - BASE_LAT) / KEY_STEP)


# Why the subscribers live in separate client processes: the server is one Python process (one
# core at most) and this machine may have only two. Reading 1,000 sockets (a frame and a JSON
# message per socket per point) is work of the same order as the server's, so it cannot share
# the orchestrator's event loop: a point fanned out to 1,000 sockets would be read one socket
# after another by that one loop, the last timestamp would include the 999 reads before it, and
# the loop that posts the driver's points on schedule would stall. Pinned (single-job runs), the
# client processes share core 1 while the server has core 0 to itself, so their work never
# competes with the server's; two of them (the default above 200 subscribers; ``--client-procs``)
# take turns on that core, so neither half of a burst waits for the whole of the other. Unpinned
# (``--spread``), they drain bursts in parallel wherever a core is free, and 10,000 sockets are
# split over more of them to bound each one's memory and descriptors. Each client process
# measures its own event-loop lag and the table shows the clients' CPU, so a saturated client
# shows up instead of silently inflating the latencies.


@dataclass
class Counters:
    """Progress shared with the orchestrator: integers in shared memory."""

    connected: Synchronized[int]
    warm: Synchronized[int]
    done: Synchronized[int]
    failed: Synchronized[int]

    @classmethod
    def create(cls, ctx: Any) -> Counters:
        return cls(*(ctx.Value("i", 0) for _ in range(4)))

    @staticmethod
    def bump(value: Synchronized[int]) -> None:
        with value.get_lock():
            value.value += 1


@dataclass(frozen=True)
class WorkerSpec:
    """``count`` subscribers from number ``first`` on; ``jobs`` holds (job id, customer token)."""

    ws_url: str
    jobs: list[tuple[str, str]]
    first: int
    count: int
    last_key: int
    core: int | None = None


# A measured point's send time, by (job index, key).
SendTimes = dict[tuple[int, int], float]


def worker_entry(conn: Connection, spec: WorkerSpec, counters: Counters) -> None:
    """A client process: ``spec.count`` subscribers until told to stop, then its measurements."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when to stop
    if spec.core is not None:
        os.sched_setaffinity(0, {spec.core})
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_worker(conn, spec, counters))


async def _worker(conn: Connection, spec: WorkerSpec, counters: Counters) -> None:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.typing import Subprotocol

    arrivals: list[dict[int, float]] = [{} for _ in range(spec.count)]
    job_of = [(spec.first + i) % len(spec.jobs) for i in range(spec.count)]
    late_order = [0] * spec.count
    duplicates = 0
    errors: list[str] = []
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(50)  # handshakes in flight at once
    lags: list[float] = []
    resubscribed = 0

    def subscribe(job_id: str, operation: int) -> str:
        payload = {"query": SUBSCRIPTION, "variables": {"jobId": job_id}}
        return json.dumps({"type": "subscribe", "id": str(operation), "payload": payload})

    async def subscriber(index: int) -> None:
        nonlocal duplicates, resubscribed
        seen = arrivals[index]
        job_id, token = spec.jobs[job_of[index]]
        warm = done = False
        operation = 1
        highest = -1
        try:
            async with gate:
                ws = await connect(
                    spec.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=60
                )
                sockets.append(ws)
                await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
                ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                await ws.send(subscribe(job_id, operation))
            Counters.bump(counters.connected)
            async for raw in ws:
                arrived = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    key = key_of(message["payload"]["data"]["driverLocation"]["point"]["lat"])
                    if key >= WARMUP_KEY:
                        if not warm:
                            warm = True
                            Counters.bump(counters.warm)
                    elif key in seen:
                        duplicates += 1
                    else:
                        seen[key] = arrived
                        if key < highest:
                            late_order[index] += 1
                        highest = max(highest, key)
                        if key == spec.last_key and not done:
                            done = True
                            Counters.bump(counters.done)
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind == "error" and not warm and operation < 3:
                    # Refused while setting up (the server was too busy to authorize it in time):
                    # subscribe again, as a client library would, so that N stays N.
                    operation += 1
                    resubscribed += 1
                    await ws.send(subscribe(job_id, operation))
                elif kind in ("error", "complete"):
                    raise RuntimeError(f"subscription ended: {message}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # reported; one failed socket must not stop the others
            errors.append(f"{type(exc).__name__}: {exc}"[:300])
            Counters.bump(counters.failed)

    async def watch_lag() -> None:
        step = 0.01
        while True:
            started = time.perf_counter()
            await asyncio.sleep(step)
            lags.append(time.perf_counter() - started - step)

    tasks = [asyncio.create_task(subscriber(i)) for i in range(spec.count)]
    lag_task = asyncio.create_task(watch_lag())
    loop = asyncio.get_running_loop()
    lag_mark = 0
    # Commands: ("mark",) starts the measured window; ("stop", send_times) ends the run.
    while True:
        command = await loop.run_in_executor(None, conn.recv)
        if command[0] == "mark":
            lag_mark = len(lags)
            continue
        send_times: SendTimes = command[1]
        break
    measured_lags = sorted(lags[lag_mark:])
    lag_task.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, lag_task, return_exceptions=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 10)
    latencies = [
        (arrived - send_times[job_of[i], key]) * 1000
        for i, seen in enumerate(arrivals)
        for key, arrived in seen.items()
        if (job_of[i], key) in send_times
    ]
    sent: dict[int, set[int]] = {}
    for job, key in send_times:
        sent.setdefault(job, set()).add(key)
    missing = [len(sent.get(job_of[i], set()) - seen.keys()) for i, seen in enumerate(arrivals)]
    conn.send(
        {
            "latencies": latencies,
            "missing": sum(missing),
            "missing_subscribers": sum(1 for m in missing if m),
            "out_of_order": sum(late_order),
            "out_of_order_subscribers": sum(1 for n in late_order if n),
            "duplicates": duplicates,
            "resubscribed": resubscribed,
            "errors": errors,
            "lag_p99_ms": percentile(measured_lags, 99, nearest_rank=True) * 1000,
        }
    )


Workers = list[tuple[Any, Connection]]


@contextlib.asynccontextmanager
async def client_processes(spec: WorkerSpec, procs: int, counters: Counters) -> AsyncIterator[Workers]:
    """``procs`` client processes sharing ``spec.count`` subscribers, stopped on the way out."""
    ctx = mp.get_context("spawn")
    workers: Workers = []
    try:
        first = spec.first
        for i in range(procs):
            share = spec.count // procs + (i < spec.count % procs)
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=worker_entry,
                args=(child, replace(spec, first=first, count=share), counters),
                daemon=True,
            )
            first += share
            process.start()
            child.close()
            workers.append((process, parent))
        yield workers
    finally:
        await stop_workers(workers)


async def stop_workers(workers: Workers) -> None:
    """Each client process given ten seconds to finish, then terminated, then killed."""
    for process, pipe in workers:
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join, 5)
        pipe.close()
