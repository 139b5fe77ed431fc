"""The subscribers: client processes, each holding its share of the drivers' ``availableJobs``
subscriptions (one driver, one token, one socket each) and recording when every feed change
arrives.

Phases, driven by the orchestrator: connect and subscribe; warm-up (every subscriber must see
a warm-up job enter, so that its subscription is known to be live, then the last warm-up job,
``final``, leave, so that nothing of the warm-up can arrive inside the window); ``mark`` (from
here every change is recorded); ``stop`` with the send times, when each process turns its
arrivals into latencies itself, so that only arrays of numbers cross the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import signal
import time
from array import array
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from bench.common import percentile
from bench.fanout_clients import Workers, stop_workers
from bench.feed_ws import FeedSocket, open_socket

# What a driver's app would select: the server's cost per delivery depends on it.
SUBSCRIPTION = """
subscription Feed($lat: Float!, $lng: Float!, $radiusM: Int!) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) {
    jobId change pickup { lat lng } distanceM vehicleType driverEarnings { amount currency }
  }
}
"""
ENTERED, LEFT = 0, 1
# (order sent, accept sent or None) per measured job id.
SendTimes = dict[str, tuple[float, float | None]]


@dataclass
class Counters:
    """Progress shared with the orchestrator; ``recorded`` holds one slot per client process,
    written by that process alone (no lock on the hot path)."""

    connected: Synchronized[int]
    warm: Synchronized[int]
    cooled: Synchronized[int]
    failed: Synchronized[int]
    recorded: Any

    @classmethod
    def create(cls, ctx: Any, procs: int) -> Counters:
        connected, warm, cooled, failed = (ctx.Value("i", 0) for _ in range(4))
        return cls(connected, warm, cooled, failed, ctx.RawArray("q", procs))

    @staticmethod
    def bump(value: Synchronized[int]) -> None:
        with value.get_lock():
            value.value += 1

    def total_recorded(self) -> int:
        return int(sum(self.recorded))


@dataclass(frozen=True)
class WorkerSpec:
    host: str
    port: int
    tokens: list[str]
    lat: float
    lng: float
    radius_m: int
    slot: int


def worker_entry(conn: Connection, spec: WorkerSpec, counters: Counters) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when to stop
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(Worker(conn, spec, counters).run())


class Worker:
    def __init__(self, conn: Connection, spec: WorkerSpec, counters: Counters) -> None:
        self.conn, self.spec, self.counters = conn, spec, counters
        count = len(spec.tokens)
        self.warm = bytearray(count)
        # Before the mark: who saw which job leave. The final warm-up job's id comes over the
        # pipe, which may be read after its leaving has already arrived.
        self.left_before_mark: dict[str, set[int]] = {}
        self.final_job: str | None = None
        self.operation = [1] * count
        self.sockets: list[FeedSocket | None] = [None] * count
        self.acked: list[asyncio.Future[None] | None] = [None] * count
        self.marked = self.stopping = False
        # One row per arrival after the mark: subscriber, job index * 2 + change, time.
        self.job_index: dict[str, int] = {}
        self.subs, self.keys, self.times = array("i"), array("i"), array("d")
        self.errors: list[str] = []
        self.closed = self.resubscribed = 0
        self.lags: list[float] = []

    def subscribe(self, index: int) -> None:
        spec = self.spec
        variables = {"lat": spec.lat, "lng": spec.lng, "radiusM": spec.radius_m}
        socket = self.sockets[index]
        assert socket is not None
        socket.send(
            {
                "type": "subscribe",
                "id": str(self.operation[index]),
                "payload": {"query": SUBSCRIPTION, "variables": variables},
            }
        )

    def on_message(self, index: int, message: Any, arrived: float) -> None:
        kind = message.get("type")
        if kind == "next":
            data = (message.get("payload") or {}).get("data") or {}
            change = data.get("availableJobs")
            if change is None:
                self.errors.append(f"next without data: {str(message)[:200]}")
                return
            left = LEFT if change["change"] == "LEFT" else ENTERED
            if self.marked:
                job = self.job_index.setdefault(change["jobId"], len(self.job_index))
                self.subs.append(index)
                self.keys.append(job * 2 + left)
                self.times.append(arrived)
            elif left:
                seen = self.left_before_mark.setdefault(change["jobId"], set())
                if index not in seen:
                    seen.add(index)
                    if change["jobId"] == self.final_job:
                        Counters.bump(self.counters.cooled)
            elif not self.warm[index]:
                self.warm[index] = 1
                Counters.bump(self.counters.warm)
        elif kind == "connection_ack":
            self.subscribe(index)
            acked = self.acked[index]
            if acked is not None and not acked.done():
                acked.set_result(None)
        elif kind == "ping":
            socket = self.sockets[index]
            if socket is not None:
                socket.send({"type": "pong"})
        elif kind == "error" and not self.warm[index] and self.operation[index] < 3:
            # Refused while setting up (the server too busy to authorize it in time): subscribe
            # again, as a client library would, so that N stays N.
            self.operation[index] += 1
            self.resubscribed += 1
            self.subscribe(index)
        elif kind in ("error", "complete"):
            self.errors.append(f"subscription ended: {str(message)[:300]}")
            socket = self.sockets[index]
            if socket is not None:
                socket.close("subscription ended")

    async def subscriber(self, index: int, gate: asyncio.Semaphore) -> None:
        spec = self.spec
        acked = self.acked[index] = asyncio.get_running_loop().create_future()
        socket = None
        try:
            async with gate:
                socket = await open_socket(
                    spec.host, spec.port, "/graphql", lambda m, t: self.on_message(index, m, t)
                )
                self.sockets[index] = socket
                init = {"Authorization": f"Bearer {spec.tokens[index]}"}
                socket.send({"type": "connection_init", "payload": init})
                # Held until the ack: the server authorizes each subscriber with a query, and a
                # thousand at once would time some of them out.
                await asyncio.wait({acked, socket.closed}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
                if not acked.done():
                    closed = socket.closed.result() if socket.closed.done() else None
                    raise ConnectionError(closed or "no connection_ack within 60 s")
            Counters.bump(self.counters.connected)
            reason = await socket.closed
        except (OSError, TimeoutError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if socket is not None:
                socket.close(reason)
        if not self.stopping:
            self.closed += 1
            self.errors.append(f"socket {index}: {reason}"[:300])
            Counters.bump(self.counters.failed)

    async def watch(self) -> None:
        """Event-loop lag (a 10 ms sleep that took longer) and the arrivals count for the drain."""
        step = 0.01
        while True:
            started = time.perf_counter()
            await asyncio.sleep(step)
            self.lags.append(time.perf_counter() - started - step)
            self.counters.recorded[self.spec.slot] = len(self.times)

    async def run(self) -> None:
        gate = asyncio.Semaphore(50)  # handshakes in flight at once
        tasks = [asyncio.create_task(self.subscriber(i, gate)) for i in range(len(self.spec.tokens))]
        watcher = asyncio.create_task(self.watch())
        loop = asyncio.get_running_loop()
        lag_mark = 0
        while True:
            command = await loop.run_in_executor(None, self.conn.recv)
            if command[0] == "final":
                self.final_job = command[1]
                with self.counters.cooled.get_lock():
                    self.counters.cooled.value += len(self.left_before_mark.get(command[1], ()))
                continue
            if command[0] == "mark":
                self.marked, lag_mark = True, len(self.lags)
                continue
            send_times: SendTimes = command[1]
            break
        self.stopping = True
        lags = self.lags[lag_mark:]
        watcher.cancel()
        for socket in self.sockets:
            if socket is not None:
                socket.close()
        await asyncio.gather(*tasks, watcher, return_exceptions=True)
        self.conn.send(self.report(send_times, lags))

    def report(self, send_times: SendTimes, lags: list[float]) -> dict[str, Any]:
        ids = list(self.job_index)
        count = len(self.spec.tokens)
        seen: dict[int, bytearray] = {}
        latencies = (array("d"), array("d"))
        duplicates = strays = 0
        for sub, key, arrived in zip(self.subs, self.keys, self.times, strict=True):
            times = send_times.get(ids[key >> 1])
            sent = None if times is None else times[key & 1]
            if sent is None:
                strays += 1  # a job this run did not create, or a leave before its accept was sent
                continue
            marks = seen.setdefault(key, bytearray(count))
            if marks[sub]:
                duplicates += 1
                continue
            marks[sub] = 1
            latencies[key & 1].append((arrived - sent) * 1000)
        return {
            "entered": latencies[ENTERED].tobytes(),
            "left": latencies[LEFT].tobytes(),
            "duplicates": duplicates,
            "strays": strays,
            "closed": self.closed,
            "resubscribed": self.resubscribed,
            "errors": self.errors[:3],
            "lag_p99_ms": percentile(lags, 99, nearest_rank=True) * 1000,
        }


@contextlib.asynccontextmanager
async def client_processes(
    host: str, port: int, tokens: list[str], area: tuple[float, float, int], procs: int, counters: Counters
) -> AsyncIterator[Workers]:
    """``procs`` client processes sharing the subscribers' ``tokens``, stopped on the way out."""
    ctx = mp.get_context("spawn")
    workers: Workers = []
    try:
        for slot in range(procs):
            share = tokens[slot::procs]
            parent, child = ctx.Pipe()
            spec = WorkerSpec(host, port, share, *area, slot=slot)
            process = ctx.Process(target=worker_entry, args=(child, spec, counters), daemon=True)
            process.start()
            child.close()
            workers.append((process, parent))
        yield workers
    finally:
        await stop_workers(workers)


async def collect(workers: Workers, send_times: SendTimes) -> dict[str, Any]:
    """End the client processes' run and add up what they measured."""
    for _, pipe in workers:
        pipe.send(("stop", send_times))
    total: dict[str, Any] = {"entered": array("d"), "left": array("d"), "errors": [], "lag_p99_ms": 0.0}
    for _, pipe in workers:
        report = await asyncio.wait_for(asyncio.to_thread(pipe.recv), 120)
        for kind in ("entered", "left"):
            total[kind].frombytes(report[kind])
        for name in ("duplicates", "strays", "closed", "resubscribed"):
            total[name] = total.get(name, 0) + report[name]
        total["errors"] += report["errors"]
        total["lag_p99_ms"] = max(total["lag_p99_ms"], report["lag_p99_ms"])
    return total
