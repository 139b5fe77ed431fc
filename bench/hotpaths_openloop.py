"""An open-loop load generator: requests go out at their scheduled times whether or not earlier
ones were answered, and each latency runs from the scheduled time, so a server that falls behind
shows its queueing instead of slowing the load down (coordinated omission).

Raw HTTP/1.1 keep-alive over asyncio Protocols with prebuilt request bytes: the fleet's rate
needs a generator far cheaper per request than any HTTP client library. Run as its own process
(pinned with ``taskset``) by the capacity part::

    python bench/hotpaths_openloop.py PLAN.json RESULT.json

The plan holds the port, the drivers' tokens and positions, the customers' tokens and job ids,
the periods, the ramp and the window. Every client (driver or customer) has a phase uniform over
its period and joins at a time uniform over the ramp, so the rate climbs linearly during the ramp
and the sends are spread uniformly once it is over. Only sends scheduled inside the window
(after the ramp) are counted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

LOCATION, TRACK = 0, 1
KINDS = ("location", "track")


class Connection(asyncio.Protocol):
    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.inflight = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but they write the same.
        self.transport = cast(asyncio.Transport, transport)
        self.gen.released(self)

    def send(self, event: int) -> None:
        assert self.transport is not None
        self.inflight = event
        self.gen.sent[event] = time.monotonic()
        self.transport.write(self.gen.request_bytes(event))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            if b"transfer-encoding: chunked" in head:
                # The service answers with a length; anything else is an error of this client.
                self.gen.failed(self)
                assert self.transport is not None
                self.transport.close()
                return
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                eol = head.find(b"\r\n", at)
                length = int(head[at + 15 : eol if eol >= 0 else None])
            total = end + 4 + length
            if len(self.buf) < total:
                return
            status = int(self.buf[9:12])
            del self.buf[:total]
            self.gen.answered(self, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost_connection(self)


class Generator:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        host = f"Host: 127.0.0.1:{plan['port']}\r\n".encode()
        self.location_heads = [
            b"PUT /client/logistics/location HTTP/1.1\r\n"
            + host
            + b"Authorization: Bearer "
            + t.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            for t in plan["driver_tokens"]
        ]
        self.points = plan["driver_points"]
        self.track_requests = [
            f"GET /client/logistics/orders/{job}/track HTTP/1.1\r\n".encode()
            + host
            + b"Authorization: Bearer "
            + t.encode()
            + b"\r\n\r\n"
            for t, job in zip(plan["customer_tokens"], plan["job_ids"], strict=True)
        ]
        self.times, self.kinds, self.clients = self.schedule()
        n = len(self.times)
        # Events from ``first`` on are scheduled inside the window: the ones that count.
        self.first = next((k for k, t in enumerate(self.times) if t >= plan["ramp_s"]), n)
        self.lag = [math.nan] * n
        self.sent = [math.nan] * n
        self.done = [math.nan] * n
        self.status = [0] * n
        self.outstanding = n - self.first
        self.drained = asyncio.Event()
        # First in, first out: every connection is used often, none idles into the server's
        # keep-alive timeout (a send racing that close would be an error of this client).
        self.idle: collections.deque[Connection] = collections.deque()
        self.backlog: collections.deque[int] = collections.deque()
        self.waited = 0
        self.closing = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.start = 0.0

    def schedule(self) -> tuple[list[float], list[int], list[int]]:
        plan, rng = self.plan, random.Random(7)
        ramp, end = plan["ramp_s"], plan["ramp_s"] + plan["seconds"]
        events = []
        for kind, count, period in (
            (LOCATION, len(self.location_heads), plan["location_period_s"]),
            (TRACK, len(self.track_requests), plan["track_period_s"]),
        ):
            for client in range(count):
                phase, joins = rng.uniform(0, period), rng.uniform(0, ramp)
                t = phase + period * max(0, math.ceil((joins - phase) / period))
                while t < end:
                    events.append((t, kind, client))
                    t += period
        events.sort()
        return [e[0] for e in events], [e[1] for e in events], [e[2] for e in events]

    def request_bytes(self, event: int) -> bytes:
        client = self.clients[event]
        if self.kinds[event] == TRACK:
            return self.track_requests[client]
        lat, lng = self.points[client]
        body = b'{"lat":%.6f,"lng":%.6f}' % (lat + (event % 97) * 1e-5, lng)
        return self.location_heads[client] + b"%d\r\n\r\n" % len(body) + body

    def dispatch(self, event: int, now: float) -> None:
        self.lag[event] = now - self.start - self.times[event]
        if self.idle:
            self.idle.popleft().send(event)
        else:
            self.waited += 1
            self.backlog.append(event)

    def released(self, conn: Connection) -> None:
        conn.inflight = -1
        if self.backlog and not self.closing:
            conn.send(self.backlog.popleft())
        else:
            self.idle.append(conn)

    def _settled(self, event: int) -> None:
        if event >= self.first:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.drained.set()

    def answered(self, conn: Connection, status: int) -> None:
        if conn.inflight >= 0:
            self.done[conn.inflight] = time.monotonic()
            self.status[conn.inflight] = status
            self._settled(conn.inflight)
        self.released(conn)

    def failed(self, conn: Connection) -> None:
        if conn.inflight >= 0:
            self.status[conn.inflight] = -1
            self._settled(conn.inflight)
            conn.inflight = -1

    def lost_connection(self, conn: Connection) -> None:
        self.failed(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if not self.closing:
            self._spawn(self.connect())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: Connection(self), "127.0.0.1", self.plan["port"])
        except OSError:
            await asyncio.sleep(0.1)
            if not self.closing:
                self._spawn(self.connect())

    async def run(self) -> dict[str, Any]:
        await asyncio.gather(*(self.connect() for _ in range(self.plan["connections"])))
        if len(self.idle) < self.plan["connections"]:
            raise RuntimeError(f"only {len(self.idle)} of {self.plan['connections']} connections opened")
        self.start = time.monotonic() + 0.2
        i, n = 0, len(self.times)
        window: tuple[float, float, float, tuple[float, float]] | None = None
        while i < n:
            now = time.monotonic()
            while i < n and self.start + self.times[i] <= now:
                self.dispatch(i, now)
                i += 1
            if window is None and now - self.start >= self.plan["ramp_s"]:
                window = (now, _cpu(), _pids_cpu(self.plan["server_pids"]), _machine())
            if i < n:
                await asyncio.sleep(max(0.0, self.start + self.times[i] - time.monotonic()))
        wall_start, own, server, (busy, total) = window or (self.start, 0.0, 0.0, (0.0, 0.0))
        wall = max(1e-9, time.monotonic() - wall_start)
        busy_end, total_end = _machine()
        cpu = {
            "cpu_pct": 100 * (_cpu() - own) / wall,
            "server_cpu_pct": 100 * (_pids_cpu(self.plan["server_pids"]) - server) / wall,
            # All cores: 100 per core.
            "machine_cpu_pct": 100 * (busy_end - busy) / max(1e-9, total_end - total) * (os.cpu_count() or 1),
        }
        if self.outstanding > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.drained.wait(), self.plan["drain_s"])
        self.closing = True
        for conn in list(self.idle):
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0)
        return self.summary(cpu)

    def summary(self, cpu: dict[str, float]) -> dict[str, Any]:
        seconds, ramp = self.plan["seconds"], self.plan["ramp_s"]
        window = range(self.first, len(self.times))
        in_window = [self.start + ramp <= t < self.start + ramp + seconds for t in self.sent]
        out: dict[str, Any] = {
            **cpu,
            "connections": self.plan["connections"],
            # The generator's own delay in taking a send up at its time (not the wait for a
            # free connection, which the server's slowness causes and the latency includes).
            "lateness_ms": [self.lag[k] * 1000 for k in window if not math.isnan(self.lag[k])],
            "waited_for_connection": self.waited,
        }
        for kind, name in enumerate(KINDS):
            events = [k for k in window if self.kinds[k] == kind]
            answered = [k for k in events if not math.isnan(self.done[k])]
            out[name] = {
                "scheduled": len(events),
                "answered": len(answered),
                "non_2xx": sum(1 for k in answered if not 200 <= self.status[k] < 300),
                "errors": sum(1 for k in events if self.status[k] == -1),
                "lost": sum(1 for k in events if math.isnan(self.done[k]) and self.status[k] != -1),
                "scheduled_rps": len(events) / seconds,
                "sent_rps": sum(1 for k, sent in enumerate(in_window) if sent and self.kinds[k] == kind)
                / seconds,
                # From the scheduled time: a send that waited is late by exactly that much.
                "latency_ms": [(self.done[k] - self.start - self.times[k]) * 1000 for k in answered],
            }
        return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pids_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the server's processes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _machine() -> tuple[float, float]:
    """Busy and total CPU time of the whole machine (all cores), in clock ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values[:8]) - idle), float(sum(values[:8]))


def main(argv: list[str]) -> int:
    plan = json.loads(Path(argv[0]).read_text())
    generator = Generator(plan)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(generator.run())
    else:
        result = uvloop.run(generator.run())
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
