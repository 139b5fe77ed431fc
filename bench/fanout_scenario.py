"""One scenario: a server, one job, N subscribers, M points; what it costs and how late they arrive."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from pathlib import Path

import httpx

from bench.common import percentile
from bench.fanout_clients import WARMUP_KEY, Counters, Workers, WorkerSpec, client_processes
from bench.fanout_diagnose import report_diagnostics, start_profiler
from bench.fanout_driver import Job, active_job, post_point, post_schedule, wait_until
from bench.fanout_server import running_server, stop_process

NAN = float("nan")


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


@dataclass(frozen=True)
class Spread:
    """Median, 99th percentile and maximum of durations in ms; nearest rank, so each is one of them."""

    p50: float = NAN
    p99: float = NAN
    maximum: float = NAN

    @classmethod
    def of(cls, durations: list[float]) -> Spread:
        if not durations:
            return cls()
        p50, p99 = (percentile(durations, q, nearest_rank=True) for q in (50, 99))
        return cls(p50, p99, max(durations))


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds used so far by the server (``server_sys`` of them in the kernel), the client
    processes, all of the benchmark's processes and the whole machine, at ``wall`` on the monotonic
    clock. An earlier reading subtracted from a later one gives the use in between."""

    wall: float = NAN
    server: float = NAN
    server_sys: float = NAN
    clients: float = NAN
    ours: float = NAN
    machine: float = NAN

    @classmethod
    def read(cls, server_pid: int, client_pids: list[int]) -> CpuClock:
        user, system = cpu_times(server_pid)
        clients = sum(map(cpu_seconds, client_pids))
        ours = cpu_seconds(os.getpid()) + user + system + clients
        return cls(time.monotonic(), user + system, system, clients, ours, machine_busy_seconds())

    def __sub__(self, earlier: CpuClock) -> CpuClock:
        return CpuClock(*(now - then for now, then in zip(astuple(self), astuple(earlier), strict=True)))

    def percent(self, seconds: float) -> float:
        """CPU ``seconds`` as a percentage of one core over the span ``wall``."""
        return seconds / self.wall * 100

    @property
    def others(self) -> float:
        """CPU seconds the machine spent outside the benchmark's processes."""
        return max(0.0, self.machine - self.ours)


@dataclass
class Result:
    """One scenario's measurements; NaN (``-`` in the table) where it has none.

    ``latency``: arrival in a subscriber - send time of the tracking PUT, over every (subscriber,
    point) pair delivered; ``puts``: the answered PUTs' own durations; ``cpu``: the use over the
    measured window, whose ``time.time()`` bounds are ``window``.
    """

    backend: str
    subscribers: int
    points: int
    delivered: int = 0
    latency: Spread = field(default_factory=Spread)
    puts: Spread = field(default_factory=Spread)
    rss_peak_mb: float = NAN
    rss_idle_mb: float = NAN
    rss_live_mb: float = NAN
    client_lag_p99_ms: float = NAN
    cpu: CpuClock = field(default_factory=CpuClock)
    puts_sent: int = 0
    puts_answered: int = 0
    undrained: int = 0
    duplicates: int = 0
    resubscribed: int = 0
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


async def warm_up(client: httpx.AsyncClient, job: Job, live: Callable[[], bool]) -> None:
    """Post warm-up points until every subscription has delivered one, so all are known to be live."""
    key, deadline = WARMUP_KEY, time.monotonic() + 60
    while not live():
        if time.monotonic() > deadline:
            raise TimeoutError("the subscriptions did not all go live within 60 s")
        await post_point(client, job, key, {})
        key += 1
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # let the last warm-up fan-out finish


async def collect(workers: Workers, send_times: dict[int, float], result: Result) -> None:
    """End the client processes' run and add up what they measured."""
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
    result.delivered = len(latencies)
    result.latency = Spread.of(latencies)
    result.client_lag_p99_ms = max(lag_p99)


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
            result.rss_idle_mb = rss_mb(server.pid) or NAN
            ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
            spec = WorkerSpec(ws_url, job.customer_token, job.id, subscribers, args.points - 1)
            with RssSampler(server.pid) as rss:
                async with client_processes(spec, procs, counters) as workers:

                    def all_(name: str) -> bool:
                        if not all(p.is_alive() for p, _ in workers):
                            raise RuntimeError(f"a client process died while waiting for {name}")
                        return getattr(counters, name).value + counters.failed.value >= subscribers

                    await wait_until(lambda: all_("connected"), 120, "the subscribers to connect")
                    await warm_up(client, job, lambda: all_("warm"))
                    await server.snapshot()
                    result.rss_live_mb = rss.sample()

                    for _, pipe in workers:
                        pipe.send(("mark",))
                    client_pids = [p.pid for p, _ in workers]
                    send_times: dict[int, float] = {}
                    before = CpuClock.read(server.pid, client_pids)
                    window_start = time.time()
                    profiler = await start_profiler(args, server.pid, label)
                    try:
                        put_ms, result.puts_sent = await post_schedule(
                            client, job, args, send_times, lambda: all_("done")
                        )
                    finally:
                        if profiler is not None:
                            await stop_process(profiler, signal.SIGINT, 60)
                    result.cpu = CpuClock.read(server.pid, client_pids) - before
                    result.window = (window_start, time.time())
                    result.puts_answered = len(put_ms)
                    result.puts = Spread.of(put_ms)
                    result.undrained = subscribers - counters.done.value
                    await server.snapshot()
                    await collect(workers, send_times, result)
            result.failed = counters.failed.value
            result.rss_peak_mb = rss.peak
        except Exception:
            print(f"[{label}] server log tail:\n{server.log_tail()}", file=sys.stderr)
            raise
    if server.diagnostics_path is not None:
        report_diagnostics(server.diagnostics_path, f"{backend} x{subscribers}", subscribers, result.window)
    return result
