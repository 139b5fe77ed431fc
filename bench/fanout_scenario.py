"""One run: a server (the service, the bare-send app, or ``serve --workers 2``), its jobs, N
subscribers, M points per job; what it costs and how late, how complete and in what order they
arrive."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import multiprocessing as mp
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import httpx

from bench.fanout_clients import Counters, SendTimes, Workers, WorkerSpec, client_processes
from bench.fanout_diagnose import report_diagnostics, start_profiler
from bench.fanout_driver import Job, active_job, post_schedule, wait_until, warm_up
from bench.fanout_measure import (
    NAN,
    CpuClock,
    RssSampler,
    Spread,
    rss_mb,
    run_seconds_between,
    thread_run_ns,
)
from bench.fanout_server import CLIENT_CORE, Server, bare_server, running_server, stop_process

# The bare app checks no token.
BARE_JOB = Job("bare-job", "-", "-")
# What each client process counts, added up over them.
COUNTED = (
    "duplicates",
    "resubscribed",
    "missing",
    "missing_subscribers",
    "out_of_order",
    "out_of_order_subscribers",
)


@dataclass
class Result:
    """One run's measurements; NaN (``-`` in the table) where it has none.

    ``run``: what served it (``bare``, ``memory``, ``redis``, ``spread redis``); ``latency``:
    arrival in a subscriber - send time of the tracking PUT, over every (subscriber, point) pair
    delivered; ``puts``: the answered PUTs' own durations; ``cpu``: the use over the measured
    window, whose ``time.time()`` bounds are ``window``; ``server_run_s``: the server's threads'
    CPU time in the window to the nanosecond (NaN if a thread ended in it). ``missing``: (subscriber, posted point)
    pairs that never arrived; ``out_of_order``: arrivals below a key the subscriber already had;
    ``*_subscribers``: how many subscribers had any.
    """

    run: str
    round: int
    jobs: int
    subscribers: int
    points: int
    pinned: bool
    delivered: int = 0
    latency: Spread = field(default_factory=Spread)
    puts: Spread = field(default_factory=Spread)
    rss_peak_mb: float = NAN
    rss_idle_mb: float = NAN
    rss_live_mb: float = NAN
    client_lag_p99_ms: float = NAN
    cpu: CpuClock = field(default_factory=CpuClock)
    server_run_s: float = NAN
    puts_sent: int = 0
    puts_answered: int = 0
    undrained: int = 0
    missing: int = 0
    missing_subscribers: int = 0
    out_of_order: int = 0
    out_of_order_subscribers: int = 0
    duplicates: int = 0
    resubscribed: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)

    @property
    def expected(self) -> int:
        return self.subscribers * self.points

    @property
    def cpu_precise(self) -> bool:
        return not math.isnan(self.server_run_s)

    @property
    def cpu_us_per_delivery(self) -> float:
        seconds = self.server_run_s if self.cpu_precise else self.cpu.server
        return seconds * 1e6 / self.delivered if self.delivered else NAN


@dataclass
class Deployed:
    """A server ready for subscribers: its jobs (each with its driver's and customer's token) and
    the processes whose CPU and resident set are the server's (its workers, if it has any)."""

    server: Server
    jobs: list[Job]
    pids: list[int]


@contextlib.asynccontextmanager
async def service(
    args: argparse.Namespace, broadcast_url: str, subscribers: int, label: str
) -> AsyncIterator[Deployed]:
    """The service with one active job set up over REST."""
    async with (
        running_server(broadcast_url, subscribers + 100, args, label) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=120) as client,
    ):
        job = await active_job(client)
        yield Deployed(server, [job], [server.pid])


@contextlib.asynccontextmanager
async def bare(args: argparse.Namespace, label: str) -> AsyncIterator[Deployed]:
    """The bare-send app; its one job needs no setting up (it checks no token)."""
    async with bare_server(args, label) as server:
        yield Deployed(server, [BARE_JOB], [server.pid])


async def collect(workers: Workers, send_times: SendTimes, result: Result) -> None:
    """End the client processes' run and add up what they measured."""
    for _, pipe in workers:
        pipe.send(("stop", send_times))
    latencies: list[float] = []
    lag_p99: list[float] = []
    for _, pipe in workers:
        report = await asyncio.wait_for(asyncio.to_thread(pipe.recv), 120)
        latencies.extend(report["latencies"])
        for name in COUNTED:
            setattr(result, name, getattr(result, name) + report[name])
        lag_p99.append(report["lag_p99_ms"])
        result.notes.extend(report["errors"][:3])
    result.delivered = len(latencies)
    result.latency = Spread.of(latencies)
    result.client_lag_p99_ms = max(lag_p99)


async def run_scenario(
    args: argparse.Namespace,
    deployment: AbstractAsyncContextManager[Deployed],
    result: Result,
    procs: int,
    label: str,
) -> Result:
    """Subscribe ``result.subscribers`` over the deployment's jobs, warm up, post the points, and
    fill in ``result``."""
    subscribers = result.subscribers
    counters = Counters.create(mp.get_context("spawn"))
    # Connecting and authorising is the server's work, one socket at a time: allow for many.
    setup_s = max(120.0, subscribers / 50)
    async with deployment as deployed:
        server = deployed.server
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=120, limits=httpx.Limits(max_connections=200)
            ) as client:
                await server.snapshot()
                result.rss_idle_mb = sum(rss_mb(pid) or NAN for pid in deployed.pids)
                ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
                jobs = [(job.id, job.customer_token) for job in deployed.jobs]
                core = CLIENT_CORE if args.pin else None
                spec = WorkerSpec(ws_url, jobs, 0, subscribers, args.points - 1, core)
                with RssSampler(deployed.pids) as rss:
                    async with client_processes(spec, procs, counters) as workers:
                        await measure(args, deployed, client, workers, counters, rss, result, label, setup_s)
                result.failed = counters.failed.value
                result.rss_peak_mb = rss.peak
        except Exception:
            print(f"[{label}] server log tail:\n{server.log_tail()}", file=sys.stderr)
            raise
    if server.diagnostics_path is not None:
        report_diagnostics(server.diagnostics_path, label, subscribers, result.window)
    return result


async def measure(
    args: argparse.Namespace,
    deployed: Deployed,
    client: httpx.AsyncClient,
    workers: Workers,
    counters: Counters,
    rss: RssSampler,
    result: Result,
    label: str,
    setup_s: float,
) -> None:
    server, subscribers = deployed.server, result.subscribers

    def all_(name: str) -> Callable[[], bool]:
        def check() -> bool:
            if not all(p.is_alive() for p, _ in workers):
                raise RuntimeError(f"a client process died while waiting for {name}")
            return bool(getattr(counters, name).value + counters.failed.value >= subscribers)

        return check

    await wait_until(all_("connected"), setup_s, "the subscribers to connect")
    await warm_up(client, deployed.jobs, all_("warm"), setup_s)
    await server.snapshot()
    result.rss_live_mb = rss.sample()

    for _, pipe in workers:
        pipe.send(("mark",))
    client_pids = [p.pid for p, _ in workers]
    send_times: SendTimes = {}
    threads = thread_run_ns(deployed.pids)
    before = CpuClock.read(deployed.pids, client_pids)
    window_start = time.time()
    profiler = await start_profiler(args, server.pid, label)
    try:
        put_ms, result.puts_sent, failures = await post_schedule(
            client, deployed.jobs, args, send_times, all_("done")
        )
        result.notes.extend(dict.fromkeys(failures))
    finally:
        if profiler is not None:
            await stop_process(profiler, signal.SIGINT, 60)
    result.cpu = CpuClock.read(deployed.pids, client_pids) - before
    result.server_run_s = run_seconds_between(threads, thread_run_ns(deployed.pids))
    result.window = (window_start, time.time())
    result.puts_answered = len(put_ms)
    result.puts = Spread.of(put_ms)
    result.undrained = subscribers - counters.done.value
    await server.snapshot()
    await collect(workers, send_times, result)
