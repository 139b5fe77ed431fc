"""One run: a fresh world, N subscribers, the jobs of the window; how late every feed change
arrived and what the run cost the server."""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from pathlib import Path

import httpx

from bench.fanout_measure import RssSampler, cpu_seconds, machine_busy_seconds
from bench.feed_clients import Counters, client_processes, collect
from bench.feed_load import JobRecord, plan, run_schedule, wait_for_count, warm_up
from bench.feed_seed import CENTER, feed_server, seed
from bench.hotpaths_servers import rss_mb

NAN = float("nan")
PLAN_SEED = 20_240_708
# Probes until every subscription is live (5 s each at most), then the final one.
WARMUP_JOBS = 12


@dataclass(frozen=True)
class Spread:
    """Median, 99th percentile and maximum in ms, nearest rank over the deliveries expected: a
    missing one counts as infinitely late (``inf``), so a p99 is finite only if 99% arrived."""

    p50: float = NAN
    p99: float = NAN
    maximum: float = NAN

    @classmethod
    def of(cls, values: Sequence[float], missing: int = 0) -> Spread:
        ordered = sorted(values)
        total = len(ordered) + max(0, missing)
        if not total:
            return cls()

        def rank(q: float) -> float:
            index = max(1, math.ceil(q / 100 * total))
            return ordered[index - 1] if index <= len(ordered) else math.inf

        return cls(rank(50), rank(99), math.inf if missing > 0 else ordered[-1])


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds of the server, the client processes, this process (the job creators) and the
    whole machine at ``wall`` (monotonic); a later reading minus an earlier is the use between."""

    wall: float = NAN
    server: float = NAN
    clients: float = NAN
    load: float = NAN
    machine: float = NAN

    @classmethod
    def read(cls, server_pid: int, client_pids: list[int]) -> CpuUse:
        clients = sum(cpu_seconds(pid) for pid in client_pids)
        return cls(
            time.monotonic(),
            cpu_seconds(server_pid),
            clients,
            cpu_seconds(os.getpid()),
            machine_busy_seconds(),
        )

    def __sub__(self, earlier: CpuUse) -> CpuUse:
        return CpuUse(*(now - then for now, then in zip(astuple(self), astuple(earlier), strict=True)))

    @property
    def others(self) -> float:
        return max(0.0, self.machine - self.server - self.clients - self.load)

    def percent(self, seconds: float) -> float:
        return seconds / self.wall * 100


@dataclass
class Result:
    side: str
    round: int
    subscribers: int
    planned: int
    started: int = 0
    booked: int = 0
    taken: int = 0
    received_entered: int = 0
    received_left: int = 0
    latency: Spread = field(default_factory=Spread)
    entered: Spread = field(default_factory=Spread)
    left: Spread = field(default_factory=Spread)
    orders: Spread = field(default_factory=Spread)
    accepts: Spread = field(default_factory=Spread)
    rss_idle_mb: float = NAN
    rss_live_mb: float = NAN
    rss_peak_mb: float = NAN
    cpu: CpuUse = field(default_factory=CpuUse)
    lag_p99_ms: float = NAN
    duplicates: int = 0
    strays: int = 0
    closed: int = 0
    resubscribed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.subscribers * (self.booked + self.taken)

    @property
    def received(self) -> int:
        return self.received_entered + self.received_left


def _tally(result: Result, records: list[JobRecord], totals: dict[str, object]) -> None:
    result.booked = sum(r.job_id is not None for r in records)
    result.taken = sum(r.taken for r in records)
    result.orders = Spread.of([r.order_ms for r in records if r.job_id is not None])
    result.accepts = Spread.of([r.accept_ms for r in records if r.taken])
    result.notes += list(dict.fromkeys(r.error for r in records if r.error))[:3]
    entered, left = totals["entered"], totals["left"]
    assert isinstance(entered, array) and isinstance(left, array)
    result.received_entered, result.received_left = len(entered), len(left)
    missing_entered = result.subscribers * result.booked - len(entered)
    missing_left = result.subscribers * result.taken - len(left)
    result.entered = Spread.of(entered, missing_entered)
    result.left = Spread.of(left, missing_left)
    result.latency = Spread.of([*entered, *left], missing_entered + missing_left)
    for name in ("duplicates", "strays", "closed", "resubscribed"):
        value = totals.get(name, 0)
        assert isinstance(value, int)
        setattr(result, name, value)
    lag = totals["lag_p99_ms"]
    assert isinstance(lag, float)
    result.lag_p99_ms = lag
    errors = totals["errors"]
    assert isinstance(errors, list)
    result.notes += errors[:3]


async def run_once(args: argparse.Namespace, side: str, round_no: int, subscribers: int) -> Result:
    jobs = max(1, round(args.rate * args.seconds))
    result = Result(side, round_no, subscribers, jobs)
    # The warm-up jobs' records come after the window's.
    records = plan(jobs + WARMUP_JOBS, args.radius_m, PLAN_SEED)
    workdir = Path(tempfile.mkdtemp(prefix="logistics-feed-"))
    procs = max(1, min(args.client_procs, subscribers))
    counters = Counters.create(mp.get_context("spawn"), procs)
    area = (*CENTER, args.radius_m)
    try:
        population = await seed(workdir, subscribers, jobs + WARMUP_JOBS, args.radius_m)
        async with (
            feed_server(population.url, workdir, args.broadcast_url) as server,
            httpx.AsyncClient(
                base_url=server.base_url,
                timeout=60,
                limits=httpx.Limits(max_connections=args.max_in_flight + 10),
            ) as http,
        ):
            try:
                result.rss_idle_mb = rss_mb(server.pid)
                tokens = population.subscriber_tokens
                with RssSampler([server.pid]) as rss:
                    async with client_processes(
                        "127.0.0.1", server.port, tokens, area, procs, counters
                    ) as workers:

                        def count(name: str) -> int:
                            if not all(process.is_alive() for process, _ in workers):
                                raise RuntimeError("a client process died")
                            return int(getattr(counters, name).value + counters.failed.value)

                        await wait_for_count(lambda: count("connected"), subscribers, 180, "subscribed")
                        if counters.failed.value:
                            raise RuntimeError(
                                f"{counters.failed.value} of {subscribers} subscribers could not subscribe"
                            )

                        def announce_final(job_id: str) -> None:
                            for _, pipe in workers:
                                pipe.send(("final", job_id))

                        await warm_up(
                            http,
                            population,
                            records[jobs:],
                            jobs,
                            lambda: count("warm"),
                            lambda: count("cooled"),
                            announce_final,
                            subscribers,
                        )
                        result.rss_live_mb = rss.sample()
                        for _, pipe in workers:
                            pipe.send(("mark",))
                        await asyncio.sleep(0.2)  # the mark reaches the clients before the first job

                        def all_arrived(done: list[JobRecord]) -> bool:
                            changes = sum(r.job_id is not None for r in done) + sum(r.taken for r in done)
                            return counters.total_recorded() >= subscribers * changes

                        client_pids = [process.pid for process, _ in workers]
                        before = CpuUse.read(server.pid, client_pids)
                        measured = records[:jobs]
                        result.started = await run_schedule(http, population, measured, args, all_arrived)
                        result.cpu = CpuUse.read(server.pid, client_pids) - before
                        # Only answered requests count: an accept cut off by the window's end may or
                        # may not have taken its job, so its leaving is neither expected nor counted.
                        send_times = {
                            r.job_id: (r.order_sent, r.accept_sent if r.taken else None)
                            for r in measured
                            if r.job_id is not None
                        }
                        totals = await collect(workers, send_times)
                result.rss_peak_mb = rss.peak
                _tally(result, measured, totals)
                if "Traceback" in server.log_tail(200):
                    result.notes.append(f"server log has a traceback ({server.log_path})")
            except Exception:
                print(f"server log tail:\n{server.log_tail()}", file=sys.stderr)
                raise
    finally:
        if args.keep_temp:
            print(f"    files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result
