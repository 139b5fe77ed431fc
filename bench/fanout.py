"""Fan-out benchmark: one driver's positions to N ``driverLocation`` subscribers.

Run from the repository root with the venv active::

    python bench/fanout.py                      # 1,000 subscribers, 200 points, both backends
    python bench/fanout.py --subscribers 200 --points 100 --broadcast memory
    python bench/fanout.py --diagnose /tmp/fanout-diag   # plus GC pauses, object counts, py-spy

For each broadcast backend (``memory://`` and ``redis://127.0.0.1:6379/<db>``) and each of two
subscriber counts (1, the baseline, and N) the benchmark

1. starts the server in a process of its own (``uvicorn logistics.app:create_app --factory`` on
   a free loopback port, a fresh SQLite file migrated with ``logistics migrate`` first, the
   per-user connection limit raised above N) and waits for ``/readyz``;
2. sets up one active job over REST: a customer's quote and cash order, a driver registered
   with uploaded documents (auto-approved), online, who accepts and starts the pickup;
3. opens the subscribers in separate client processes (``websockets``, graphql-transport-ws,
   the customer's token in ``connection_init``), one socket and one ``driverLocation(jobId)``
   subscription each;
4. posts warm-up points until every subscriber has received one (so every subscription is known
   to be live), then M measured points on a fixed schedule (``--interval-ms``, default 50);
5. records, in every subscriber, when each point arrives. A point's key is encoded in its
   latitude and its send time kept in a table (it is also the point's ``recorded_at``).
   Latency = arrival - send time, both ``time.time()`` on this machine's clock;
6. samples the server's ``VmRSS`` (``/proc/<pid>/status``) every 50 ms, and the CPU time of the
   server, the clients and the whole machine over the measured window.

The schedule is open-loop: a point is posted at its time even if earlier PUTs have not been
answered yet (at most ``--max-in-flight``), as a driver's phone would. A closed loop (wait for
the answer, then post the next) would slow the driver down exactly when the server is slow and
hide that delay from the latencies.

``driverLocation`` keeps only the newest unread position per subscriber, so a subscriber that
falls behind legitimately skips points: ``delivered`` counts (subscriber, point) pairs that
arrived, out of ``subscribers x points``. The last point is never coalesced away, so the run
waits until every subscriber has it (at most ``--drain-timeout`` seconds).

Only loopback traffic; every process the benchmark starts is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import httpx

REST = "/client/logistics"
JWT_SECRET = "fanout-benchmark-secret-0123456789abcdef"
ALEXANDERPLATZ = {"lat": 52.5219, "lng": 13.4132}
KREUZBERG = {"lat": 52.4986, "lng": 13.4030}
MITTE = {"lat": 52.5200, "lng": 13.4050}

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


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


# --- client processes ---------------------------------------------------------------------
#
# Why the subscribers live in separate client processes: the server is one Python process (one
# core at most) and this machine may have only two. Reading 1,000 sockets (a frame and a JSON
# message per socket per point) is work of the same order as the server's, so it cannot share
# the orchestrator's event loop: a point fanned out to 1,000 sockets would be read one socket
# after another by that one loop, the last timestamp would include the 999 reads before it, and
# the loop that posts the driver's points on schedule would stall. Two client processes (the
# default above 200 subscribers; ``--client-procs``) each read half the sockets, so a burst is
# drained in parallel whenever a core is free; more processes than cores buy nothing. Each client
# process measures its own event-loop lag and the table shows the clients' CPU, so a saturated
# client shows up instead of silently inflating the latencies.


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
    ws_url: str
    token: str
    job_id: str
    count: int
    last_key: int


def worker_entry(conn: Connection, spec: WorkerSpec, counters: Counters) -> None:
    """A client process: ``spec.count`` subscribers until told to stop, then its measurements."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator decides when to stop
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
    duplicates = 0
    errors: list[str] = []
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(50)  # handshakes in flight at once
    lags: list[float] = []
    resubscribed = 0

    def subscribe(operation: int) -> str:
        payload = {"query": SUBSCRIPTION, "variables": {"jobId": spec.job_id}}
        return json.dumps({"type": "subscribe", "id": str(operation), "payload": payload})

    async def subscriber(index: int) -> None:
        nonlocal duplicates, resubscribed
        seen = arrivals[index]
        warm = done = False
        operation = 1
        try:
            async with gate:
                ws = await connect(
                    spec.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=60
                )
                sockets.append(ws)
                await ws.send(json.dumps({"type": "connection_init", "payload": {"token": spec.token}}))
                ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    raise RuntimeError(f"no connection_ack: {ack}")
                await ws.send(subscribe(operation))
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
                    await ws.send(subscribe(operation))
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
        send_times: dict[int, float] = command[1]
        break
    measured_lags = sorted(lags[lag_mark:])
    lag_task.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, lag_task, return_exceptions=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True), 10)
    latencies = [
        (arrived - send_times[key]) * 1000
        for seen in arrivals
        for key, arrived in seen.items()
        if key in send_times
    ]
    conn.send(
        {
            "latencies": latencies,
            "duplicates": duplicates,
            "resubscribed": resubscribed,
            "errors": errors,
            "lag_p99_ms": percentile(measured_lags, 99) * 1000,
        }
    )


# --- processes and /proc ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


async def stop_process(
    process: asyncio.subprocess.Process, sig: int = signal.SIGTERM, grace: float = 10
) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


# With --diagnose the server runs under this bootstrap (then uvicorn's own ``main``, same
# arguments): it times every garbage collection, and on SIGUSR1 counts live objects by type.
DIAGNOSTIC_BOOTSTRAP = r"""
import atexit, collections, gc, json, signal, sys, time
out = sys.argv.pop(1)
pauses, snapshots, started = [], [], [0.0]
def on_gc(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.append((time.time(), info["generation"], time.perf_counter() - started[0], info["collected"]))
gc.callbacks.append(on_gc)
def snapshot(signum, frame):
    objects = gc.get_objects()
    kinds = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    snapshots.append({"t": time.time(), "objects": len(objects), "kinds": kinds.most_common(400)})
    del objects
signal.signal(signal.SIGUSR1, snapshot)
def dump():
    with open(out, "w") as f:
        json.dump({"pauses": pauses, "snapshots": snapshots}, f)
atexit.register(dump)
# uvicorn re-raises SIGTERM after its graceful shutdown: exit normally, so that atexit runs.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
sys.argv[0] = "uvicorn"
from uvicorn.main import main
main()
"""


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    diagnostics_path: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def snapshot(self) -> None:
        """Ask a diagnostic server to count its objects (it does so between two callbacks)."""
        if self.diagnostics_path is not None:
            self.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(3)


@contextlib.asynccontextmanager
async def running_server(
    broadcast_url: str, max_connections: int, args: argparse.Namespace, label: str
) -> AsyncIterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="logistics-fanout-"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOGISTICS_")}
    env.update(
        LOGISTICS_ENV="development",
        LOGISTICS_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        LOGISTICS_BROADCAST_URL=broadcast_url,
        LOGISTICS_JWT_SECRET=JWT_SECRET,
        LOGISTICS_DRIVER_AUTO_APPROVE="true",
        LOGISTICS_WS_MAX_CONNECTIONS_PER_USER=str(max_connections),
        LOGISTICS_STORAGE_DIR=str(workdir / "storage"),
        LOGISTICS_RATE_LIMIT_PER_MIN="0",
    )
    process: asyncio.subprocess.Process | None = None
    try:
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "logistics.cli",
            "migrate",
            cwd=workdir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(migrate.communicate(), 120)
        if migrate.returncode != 0:
            raise RuntimeError(f"logistics migrate failed:\n{output.decode(errors='replace')[-2000:]}")
        port = free_port()
        uvicorn_args = ["logistics.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
        uvicorn_args += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
        # As `logistics serve` runs it: no permessage-deflate on websockets.
        uvicorn_args += ["--ws-per-message-deflate", "false"]
        diagnostics_path = None
        if args.diagnose is not None:
            diagnostics_path = args.diagnose / f"gc-{label}.json"
            command = [sys.executable, "-c", DIAGNOSTIC_BOOTSTRAP, str(diagnostics_path), *uvicorn_args]
        else:
            command = [sys.executable, "-m", "uvicorn", *uvicorn_args]
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(process, f"http://127.0.0.1:{port}", log_path, diagnostics_path)
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the server exited ({process.returncode}):\n{server.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready within 120 s:\n{server.log_tail()}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        if process is not None:
            await stop_process(process)
        if args.keep_temp:
            print(f"  server files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --- the job, over REST -------------------------------------------------------------------


def token_for(sub: str) -> str:
    from logistics.auth import mint_token
    from logistics.config import Settings

    return mint_token(Settings(jwt_secret=JWT_SECRET), sub, name=f"Bench {sub}", phone="+49 30 5550000")


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def stop_body(point: dict[str, float], line1: str, postcode: str) -> dict[str, Any]:
    return {
        "address": {"line1": line1, "city": "Berlin", "postcode": postcode, "country": "DE"},
        "point": point,
        "contact": {"name": "Kim Example", "phone": "+49 30 1234567"},
    }


async def ok(
    client: httpx.AsyncClient, method: str, path: str, token: str, status: int = 200, **kwargs: Any
) -> Any:
    response = await client.request(
        method, REST + path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    if response.status_code != status:
        raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json() if response.content else None


@dataclass(frozen=True)
class Job:
    id: str
    customer_token: str
    driver_token: str


async def active_job(client: httpx.AsyncClient) -> Job:
    """A customer's order, accepted by a registered, approved, online driver, pickup started."""
    customer, driver = token_for("bench-customer"), token_for("bench-driver")
    body = {
        "pickup": stop_body(ALEXANDERPLATZ, "Alexanderplatz 1", "10178"),
        "dropoff": stop_body(KREUZBERG, "Oranienstrasse 10", "10999"),
        "items": [{"description": "Box of books", "quantity": 1, "weight_kg": 4, "size": "small"}],
    }
    quote = await ok(client, "POST", "/quote", customer, 201, json=body)
    order = await ok(
        client, "POST", "/orders", customer, 201, json={"quote_id": quote["id"], "payment_method": "cash"}
    )
    uploads = {}
    for purpose in ("licence", "insurance"):
        files = {"file": ("doc.png", io.BytesIO(png_bytes()), "image/png")}
        uploads[purpose] = await ok(
            client, "POST", "/upload", driver, 201, files=files, data={"purpose": purpose}
        )
    expires = (date.today() + timedelta(days=365)).isoformat()
    registration = {
        "name": "Bench Driver",
        "phone": "+49 30 7654321",
        "vehicle": {"type": "car", "make": "VW", "model": "Caddy", "plate": "B-LG 123", "color": "white"},
        "licence": {"number": "B123456", "expires_on": expires, "upload_id": uploads["licence"]["id"]},
        "insurance": {
            "provider": "Allianz",
            "policy_number": "P-1",
            "expires_on": expires,
            "upload_id": uploads["insurance"]["id"],
        },
    }
    await ok(client, "POST", "/register", driver, 201, json=registration)
    await ok(client, "PUT", "/availability", driver, json={"online": True})
    await ok(client, "PUT", "/location", driver, 204, json=MITTE)
    await ok(client, "PUT", f"/jobs/{order['id']}/accept", driver)
    await ok(client, "PUT", f"/jobs/{order['id']}/start-pickup", driver, json={"point": MITTE})
    return Job(order["id"], customer, driver)


async def post_point(client: httpx.AsyncClient, job: Job, key: int, send_times: dict[int, float]) -> float:
    """PUT one tracking point; its send time is its ``recorded_at``. Returns the PUT's duration in ms."""
    sent = time.time()
    send_times[key] = sent
    body = {
        "lat": lat_of(key),
        "lng": TRACK_LNG,
        "heading_deg": 180.0,
        "speed_mps": 8.0,
        "recorded_at": datetime.fromtimestamp(sent, UTC).isoformat(),
    }
    await ok(client, "PUT", f"/jobs/{job.id}/tracking", job.driver_token, json=body)
    return (time.time() - sent) * 1000


# --- one scenario -------------------------------------------------------------------------


@dataclass
class Result:
    backend: str
    subscribers: int
    points: int
    delivered: int = 0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    rss_peak_mb: float = float("nan")
    rss_idle_mb: float = float("nan")
    rss_live_mb: float = float("nan")
    server_cpu_pct: float = float("nan")
    client_cpu_pct: float = float("nan")
    other_cpu_pct: float = float("nan")
    post_p50_ms: float = float("nan")
    post_p99_ms: float = float("nan")
    client_lag_p99_ms: float = float("nan")
    window_s: float = float("nan")
    puts_sent: int = 0
    puts_answered: int = 0
    undrained: int = 0
    duplicates: int = 0
    resubscribed: int = 0
    server_cpu_s: float = float("nan")
    server_sys_s: float = float("nan")
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)

    @property
    def expected(self) -> int:
        return self.subscribers * self.points


class RssSampler:
    """The server's resident set, sampled every ``period`` seconds."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        self.pid, self.period, self.peak = pid, period, 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> float:
        value = rss_mb(self.pid) or 0.0
        self.peak = max(self.peak, value)
        return value

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.period)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()


async def wait_until(predicate: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def client_processes(
    spec: WorkerSpec, procs: int, counters: Counters
) -> AsyncIterator[list[tuple[Any, Connection]]]:
    ctx = mp.get_context("spawn")
    workers: list[tuple[Any, Connection]] = []
    try:
        for i in range(procs):
            share = spec.count // procs + (i < spec.count % procs)
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=worker_entry,
                args=(
                    child,
                    WorkerSpec(spec.ws_url, spec.token, spec.job_id, share, spec.last_key),
                    counters,
                ),
                daemon=True,
            )
            process.start()
            child.close()
            workers.append((process, parent))
        yield workers
    finally:
        for process, pipe in workers:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
            pipe.close()


async def post_schedule(
    client: httpx.AsyncClient,
    job: Job,
    args: argparse.Namespace,
    send_times: dict[int, float],
    done: Callable[[], bool],
) -> tuple[list[float], int]:
    """Post the measured points open-loop on a fixed schedule, then wait until every subscriber
    has the last one, all within the window (the schedule plus ``--drain-timeout``): an
    overloaded server costs unanswered PUTs and missing deliveries, not an unbounded run.
    Returns the answered PUTs' durations in ms and how many PUTs were sent."""
    durations: list[float] = []
    in_flight = asyncio.Semaphore(args.max_in_flight)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + args.points * args.interval_ms / 1000 + args.drain_timeout

    async def one(key: int) -> None:
        try:
            durations.append(await post_point(client, job, key, send_times))
        finally:
            in_flight.release()

    tasks: list[asyncio.Task[None]] = []
    try:
        for key in range(args.points):
            await asyncio.sleep(max(0.0, start + key * args.interval_ms / 1000 - loop.time()))
            try:
                await asyncio.wait_for(in_flight.acquire(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            tasks.append(asyncio.create_task(one(key)))
        with contextlib.suppress(TimeoutError):
            await wait_until(
                lambda: done() and all(task.done() for task in tasks), deadline - loop.time(), ""
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return durations, len(tasks)


async def run_scenario(
    args: argparse.Namespace, backend: str, broadcast_url: str, subscribers: int
) -> Result:
    result = Result(backend, subscribers, args.points)
    procs = max(1, min(args.client_procs or (1 if subscribers <= 200 else 2), subscribers))
    counters = Counters.create(mp.get_context("spawn"))
    label = f"{backend}-{subscribers}"
    async with (
        running_server(broadcast_url, subscribers + 100, args, label) as server,
        httpx.AsyncClient(
            base_url=server.base_url, timeout=120, limits=httpx.Limits(max_connections=200)
        ) as client,
    ):
        try:
            job = await active_job(client)
            await server.snapshot()
            result.rss_idle_mb = rss_mb(server.pid) or float("nan")
            ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
            spec = WorkerSpec(ws_url, job.customer_token, job.id, subscribers, args.points - 1)
            with RssSampler(server.pid) as rss:
                async with client_processes(spec, procs, counters) as workers:

                    def all_(name: str) -> bool:
                        if not all(p.is_alive() for p, _ in workers):
                            raise RuntimeError(f"a client process died while waiting for {name}")
                        return getattr(counters, name).value + counters.failed.value >= subscribers

                    await wait_until(lambda: all_("connected"), 120, "the subscribers to connect")
                    send_times: dict[int, float] = {}
                    warmup_key, deadline = WARMUP_KEY, time.monotonic() + 60
                    while not all_("warm"):
                        if time.monotonic() > deadline:
                            raise TimeoutError("the subscriptions did not all go live within 60 s")
                        await post_point(client, job, warmup_key, send_times)
                        warmup_key += 1
                        await asyncio.sleep(0.2)
                    await asyncio.sleep(1.0)  # let the last warm-up fan-out finish
                    await server.snapshot()
                    result.rss_live_mb = rss.sample()
                    send_times.clear()

                    for _, pipe in workers:
                        pipe.send(("mark",))
                    client_pids = [p.pid for p, _ in workers]
                    own = [os.getpid(), server.pid, *client_pids]
                    server_sys_before = cpu_times(server.pid)[1]
                    before = (
                        cpu_seconds(server.pid),
                        sum(map(cpu_seconds, client_pids)),
                        sum(map(cpu_seconds, own)),
                        machine_busy_seconds(),
                        time.monotonic(),
                    )
                    window_start = time.time()
                    profiler = await start_profiler(args, server.pid, label)
                    try:
                        post_ms, result.puts_sent = await post_schedule(
                            client, job, args, send_times, lambda: all_("done")
                        )
                        post_ms.sort()
                        result.puts_answered = len(post_ms)
                    finally:
                        if profiler is not None:
                            await stop_process(profiler, signal.SIGINT, 60)
                    elapsed = time.monotonic() - before[4]
                    result.window = (window_start, time.time())
                    result.window_s = elapsed
                    result.server_cpu_s = cpu_seconds(server.pid) - before[0]
                    result.server_sys_s = cpu_times(server.pid)[1] - server_sys_before
                    result.server_cpu_pct = result.server_cpu_s / elapsed * 100
                    result.client_cpu_pct = (sum(map(cpu_seconds, client_pids)) - before[1]) / elapsed * 100
                    ours = sum(map(cpu_seconds, own)) - before[2]
                    result.other_cpu_pct = max(
                        0.0, (machine_busy_seconds() - before[3] - ours) / elapsed * 100
                    )
                    result.post_p50_ms = percentile(post_ms, 50)
                    result.post_p99_ms = percentile(post_ms, 99)
                    result.undrained = subscribers - counters.done.value
                    await server.snapshot()

                    for _, pipe in workers:
                        pipe.send(("stop", send_times))
                    latencies: list[float] = []
                    lag_p99: list[float] = []
                    for _, pipe in workers:
                        report = await asyncio.wait_for(asyncio.to_thread(pipe.recv), 60)
                        latencies.extend(report["latencies"])
                        result.duplicates += report["duplicates"]
                        result.resubscribed += report["resubscribed"]
                        lag_p99.append(report["lag_p99_ms"])
                        result.notes.extend(report["errors"][:3])
            latencies.sort()
            result.delivered = len(latencies)
            result.p50_ms = percentile(latencies, 50)
            result.p99_ms = percentile(latencies, 99)
            result.max_ms = latencies[-1] if latencies else float("nan")
            result.client_lag_p99_ms = max(lag_p99)
            result.failed = counters.failed.value
            result.rss_peak_mb = rss.peak
        except Exception:
            print(f"[{label}] server log tail:\n{server.log_tail()}", file=sys.stderr)
            raise
    if server.diagnostics_path is not None:
        report_diagnostics(server.diagnostics_path, result)
    return result


# --- diagnostics (--diagnose) -------------------------------------------------------------


async def start_profiler(args: argparse.Namespace, pid: int, label: str) -> asyncio.subprocess.Process | None:
    """py-spy sampling the server over the measured window, if asked for and installed."""
    if args.diagnose is None:
        return None
    binary = shutil.which("py-spy")
    if binary is None:
        print("  (py-spy not installed: no profile; pip install py-spy)")
        return None
    out = args.diagnose / f"pyspy-{label}.txt"
    return await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def report_diagnostics(path: Path, result: Result) -> None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"  diagnostics unavailable: {exc}")
        return
    start, end = result.window
    window = end - start
    print(
        f"  [{result.backend} x{result.subscribers}] garbage collections in the {window:.1f} s measured window:"
    )
    for generation in (0, 1, 2):
        pauses = sorted(p[2] * 1000 for p in data["pauses"] if start <= p[0] <= end and p[1] == generation)
        if pauses:
            print(
                f"    gen{generation}: {len(pauses)} runs, {sum(pauses):.0f} ms in all "
                f"({sum(pauses) / 10 / window:.1f}% of the window), longest {pauses[-1]:.1f} ms"
            )
    snapshots = data["snapshots"]
    if len(snapshots) >= 2:
        names = ["idle", "subscribed", "after the run"]
        counts = ", ".join(f"{names[i] if i < 3 else i}: {s['objects']:,}" for i, s in enumerate(snapshots))
        print(f"    GC-tracked objects: {counts}")
        idle, live = Counter(dict(snapshots[0]["kinds"])), Counter(dict(snapshots[1]["kinds"]))
        growth = (live - idle).most_common(12)
        print(f"    most added per subscriber (idle -> subscribed, /{result.subscribers}):")
        for kind, count in growth:
            print(f"      {count / result.subscribers:8.1f}  {kind}")
        if len(snapshots) >= 3:
            after = Counter(dict(snapshots[2]["kinds"]))
            print("    most added during the measured points (subscribed -> after the run):")
            for kind, count in (after - live).most_common(8):
                print(f"      {count:8d}  {kind}")


# --- redis --------------------------------------------------------------------------------


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.asynccontextmanager
async def redis_server(db: int) -> AsyncIterator[str | None]:
    """The local Redis on 6379, or a private one on a free loopback port if none answers."""
    if redis_answers(6379):
        yield f"redis://127.0.0.1:6379/{db}"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        *("--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # ten seconds at most
            if redis_answers(port):
                break
            await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/{db}"
    finally:
        await stop_process(process)


# --- the table ----------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("backend", lambda r: r.backend),
    ("subscribers", lambda r: str(r.subscribers)),
    ("points", lambda r: str(r.points)),
    ("delivered", lambda r: f"{r.delivered}/{r.expected} ({r.delivered / r.expected:.0%})"),
    ("p50 ms", lambda r: fmt(r.p50_ms)),
    ("p99 ms", lambda r: fmt(r.p99_ms)),
    ("server RSS MB", lambda r: fmt(r.rss_peak_mb)),
    ("max ms", lambda r: fmt(r.max_ms)),
    ("RSS idle/live MB", lambda r: f"{fmt(r.rss_idle_mb, 0)}/{fmt(r.rss_live_mb, 0)}"),
    ("PUTs answered", lambda r: f"{r.puts_answered}/{r.points}"),
    ("PUT p50/p99 ms", lambda r: f"{fmt(r.post_p50_ms, 0)}/{fmt(r.post_p99_ms, 0)}"),
    ("deliveries/s", lambda r: fmt(r.delivered / r.window_s, 0) if r.window_s == r.window_s else "-"),
    ("srv CPU us/deliv", lambda r: fmt(r.server_cpu_s * 1e6 / r.delivered, 0) if r.delivered else "-"),
    ("srv sys %", lambda r: fmt(r.server_sys_s * 100 / r.server_cpu_s, 0) if r.server_cpu_s else "-"),
    ("window s", lambda r: fmt(r.window_s)),
    (
        "CPU% srv/cli/other",
        lambda r: f"{fmt(r.server_cpu_pct, 0)}/{fmt(r.client_cpu_pct, 0)}/{fmt(r.other_cpu_pct, 0)}",
    ),
    ("cli lag p99 ms", lambda r: fmt(r.client_lag_p99_ms)),
]


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    rows = [[render(r) for _, render in COLUMNS] for r in results]
    widths = [max(len(name), *(len(row[i]) for row in rows)) for i, (name, _) in enumerate(COLUMNS)]
    print()
    print(" | ".join(name.ljust(w) for (name, _), w in zip(COLUMNS, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(
            " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print()
    for backend in dict.fromkeys(r.backend for r in results):
        runs = [r for r in results if r.backend == backend]
        base = next((r for r in runs if r.subscribers == 1), None)
        for r in runs:
            if r is base:
                continue
            if base is not None:
                print(
                    f"{backend}: {r.subscribers} subscribers vs 1: p50 x{r.p50_ms / base.p50_ms:.1f}, "
                    f"p99 x{r.p99_ms / base.p99_ms:.1f}, server RSS x{r.rss_peak_mb / base.rss_peak_mb:.2f}"
                )
            p99 = "met" if r.p99_ms < args.target_p99_ms else "MISSED"
            rss = "met" if r.rss_peak_mb < args.target_rss_mb else "MISSED"
            per_sub = (r.rss_live_mb - r.rss_idle_mb) * 1024 / r.subscribers
            print(
                f"{backend}: at {r.subscribers} subscribers p99 < {args.target_p99_ms:g} ms {p99}, "
                f"RSS < {args.target_rss_mb:g} MB {rss}; {per_sub:.0f} KB per open subscription, "
                f"+{r.rss_peak_mb - r.rss_live_mb:.0f} MB during the points"
            )
    for r in results:
        if r.failed or r.undrained or r.duplicates or r.resubscribed or r.notes:
            print(
                f"{r.backend} x{r.subscribers}: failed={r.failed} without-last-point={r.undrained} "
                f"duplicates={r.duplicates} resubscribed={r.resubscribed} {'; '.join(r.notes[:3])}"
            )
    print(
        f"\n{args.points} points every {args.interval_ms:g} ms (open loop). delivered: (subscriber, point) pairs "
        "received; a subscriber that lags gets only the newest position. latency: arrival in the subscriber "
        "- send time of the tracking PUT. server RSS: peak VmRSS of the server process; idle = job set up, "
        "live = subscriptions open, before the measured points. CPU%: of one core over the measured window, "
        "'other' = everything on the machine but this benchmark's processes; srv CPU us/deliv = server CPU time "
        "in the window / deliveries (load-independent cost), sys % = its share spent in the kernel. "
        "cli lag: client event-loop lag."
    )


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fan-out of driverLocation to many subscribers.")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--broadcast", choices=["memory", "redis", "both"], default="both")
    parser.add_argument("--interval-ms", type=float, default=50.0, help="time between tracking points")
    parser.add_argument("--max-in-flight", type=int, default=100, help="unanswered tracking PUTs at most")
    parser.add_argument(
        "--client-procs", type=int, default=0, help="client processes (default 1, 2 above 200)"
    )
    parser.add_argument("--redis-db", type=int, default=15)
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="window = the schedule + this many seconds"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the 1-subscriber baseline")
    parser.add_argument("--target-p99-ms", type=float, default=100.0)
    parser.add_argument("--target-rss-mb", type=float, default=300.0)
    parser.add_argument(
        "--keep-temp", action="store_true", help="keep each server's temp dir (log, database)"
    )
    parser.add_argument(
        "--diagnose",
        type=Path,
        metavar="DIR",
        help="also time the server's garbage collections, count its objects, py-spy it (raw stacks to DIR)",
    )
    args = parser.parse_args(argv)
    if args.subscribers < 1 or args.points < 1:
        parser.error("--subscribers and --points must be at least 1")
    if args.diagnose is not None:
        args.diagnose = args.diagnose.resolve()
        args.diagnose.mkdir(parents=True, exist_ok=True)
    return args


async def main_async(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    counts = [args.subscribers] if args.no_baseline or args.subscribers == 1 else [1, args.subscribers]
    backends = ["memory", "redis"] if args.broadcast == "both" else [args.broadcast]
    for backend in backends:
        async with contextlib.AsyncExitStack() as stack:
            url = (
                "memory://"
                if backend == "memory"
                else await stack.enter_async_context(redis_server(args.redis_db))
            )
            if url is None:
                print("redis: nothing answers on 127.0.0.1:6379 and redis-server is not installed; skipped")
                continue
            for count in counts:
                started = time.monotonic()
                print(f"{backend} ({url}): {count} subscriber(s), {args.points} points ...", flush=True)
                result = await run_scenario(args, backend, url, count)
                print(
                    f"  {time.monotonic() - started:.0f} s: p50 {fmt(result.p50_ms)} ms, p99 {fmt(result.p99_ms)} ms, "
                    f"{result.delivered}/{result.expected} delivered, server RSS {fmt(result.rss_peak_mb)} MB",
                    flush=True,
                )
                results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A socket is a file descriptor on each side: lift the soft limit for this process and the
    # client processes it starts (the server gets it too).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.subscribers * 2 + 1024))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    results = asyncio.run(main_async(args))
    if results:
        print_table(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
