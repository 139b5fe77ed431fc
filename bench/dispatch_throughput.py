"""Dispatch throughput: can one process keep up with N new jobs a second in batched dispatch?

The goal measured: "100 new jobs a second are dispatched on one core without the window falling
behind". In ``DISPATCH_MODE=batch`` the dispatch loop runs ``dispatch.loop.run_once`` once every
``dispatch_window_s`` (2 s): it flushes buffered positions, expires due offers, then
``dispatch.batch.match_window`` reads the waiting jobs, finds free drivers in the process's
in-memory driver index, solves a min-cost matching (again, without them, if the database
refuses some pairs) and writes one offer per match. A window falls behind when that pass takes
longer than the window itself.

Run from the repository root with the venv active, pinned to one core::

    taskset -c 1 python bench/dispatch_throughput.py                    # SQLite and PostgreSQL
    taskset -c 1 python bench/dispatch_throughput.py --db sqlite --rates 10 --windows 2 --drivers 500
    taskset -c 1 python bench/dispatch_throughput.py --db postgres --pg-url postgresql+asyncpg://...
    python bench/dispatch_throughput.py --db sqlite --rates 100 --profile /tmp/window.prof

How. For each database (SQLite in a temporary file; PostgreSQL at ``--pg-url``, default the
``logistics_bench`` database, whose tables are dropped and re-created), ``--drivers`` approved
online drivers are bulk-loaded at uniformly random points of the Berlin service area
(``dispatch_fleet.load_drivers``: 35 % bicycles, 25 % motorbikes, 30 % cars, 10 % vans). A
platform is built as the app builds it (``app.build_platform``) with ``dispatch_mode=batch``, no
background loop, an in-memory broker, offers that never expire during the run and a clock the
benchmark moves by hand; the driver index is started (``driver_sync.start``: subscribed and
built from the database) and the garbage collector tuned as the app's lifespan does. Then, for
each rate R (jobs a second), ``--windows`` windows, each:

1. untimed: R x window_s new cash orders, priced like quotes (``pricing.price_trip``; their
   parcels need a bicycle, motorbike, car or van in 55/20/20/5 %), in ``searching`` and due for
   dispatch, created evenly over the window at random pickup points, inserted in one Core
   ``INSERT``; the clock moves on by the window;
2. timed: ``await run_once(platform)``, with ``time.perf_counter`` (wall) and
   ``time.process_time`` (CPU of this process, every thread: on SQLite the whole database work,
   on PostgreSQL only the client side). Around it, from ``/proc``: on a local PostgreSQL the CPU
   of the server's backends for this database, and the CPU other processes used meanwhile on
   the cores this one may run on (``others on core``: the database server, when it ran there,
   or another program, which makes the wall time suspect);
3. untimed: every offer the window made is taken back as a cancelled order would (offer
   ``withdrawn``, job ``cancelled``) in one transaction whose commit marks those drivers for the
   index, as any change made through the app does.

Why step 3: every window then faces the same fleet, all of it free, so the windows of a rate
are alike and the rates comparable. Left pending, each window's offers would take its drivers
out of the next ones (3,000 drivers hold 2,000 offers after ten windows at 100/s), and a later
window would search a thinner fleet. The drivers offered are still marked, so each window
reads them again before searching (``DriverIndex.refresh``), the work a live system does for the
drivers that changed since the last window. Jobs a window leaves unmatched stay in the pool for
the next (column ``pool``: the jobs a window read). Between rates the offers and jobs are
deleted, the drivers' positions stamped afresh and the index rebuilt; one untimed window at the
first rate warms the caches first.

The table gives, per database and rate, the windows' wall and CPU time (p50 and max), the
server's CPU, the share of the window the median pass used, the CPU per job (this process's
plus the server's) and the rate it would take to fill one core at that cost (a linear
extrapolation), the others' CPU on its core, and whether every window finished within the
window; the goal line judges the 100 jobs/s rate by its worst window: its wall time, and its
CPU with the server's, both shorter than the window.

Caveats. No HTTP: jobs are inserted directly, not booked through the API (no quote, no timeline
row, no events of their own), and nobody answers the offers. One process, with no other load
on it: a server also answers requests and pushes events on the same core. No pings either:
nothing is buffered for the window's position flush, which in production writes the fleet's
latest positions first. The whole fleet is free and fresh in every window, the easiest case
for the index search (a busier fleet makes it walk more rings). ``process_time`` on PostgreSQL
leaves out the server, which ``taskset`` does not pin either: the server runs on another core,
its CPU is read from ``/proc`` only when it is local (a backend the pool opens during a pass is
missed), and "one core" then means client and server CPU added up, not a measured one-core
run. Offers go to an in-memory broker with no subscriber. With ``--profile`` the timed passes
run under cProfile (main thread only, not aiosqlite's), which inflates them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

if not __package__:
    # Run as ``python bench/dispatch_throughput.py``: the modules beside this one are parts of
    # the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile, print_table
from bench.dispatch_fleet import PointSampler, berlin, create_tables, ensure_database, load_drivers
from bench.dispatch_throughput_jobs import (
    cpu_mark,
    insert_jobs,
    job_rows,
    pool_size,
    release_offers,
    reset_fleet,
)
from logistics.app import GC_THRESHOLDS, build_platform
from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench"
GOAL_RATE = 100.0
# Offers live this long: none expires during a run.
OFFER_TTL_S = 86_400


class Clock:
    """The platform's clock, moved by hand a window at a time."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Window:
    jobs: int  # new this window
    pool: int  # waiting when the pass ran: the new ones and any left over
    offers: int
    wall_s: float
    cpu_s: float
    server_s: float | None  # the PostgreSQL backends' CPU (local server only)
    others_s: float | None  # CPU others used on this process's cores meanwhile


@dataclass
class RateRun:
    db: str
    rate: float
    window_s: float
    windows: list[Window] = field(default_factory=list)

    @property
    def keeps_up(self) -> bool:
        return all(w.wall_s < self.window_s for w in self.windows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--drivers", type=int, default=3000)
    parser.add_argument("--rates", default="50,100,200", help="new jobs a second, comma separated")
    parser.add_argument("--windows", type=int, default=10, help="timed windows per rate")
    parser.add_argument("--window", type=float, default=None, help="seconds (default: dispatch_window_s)")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the timed passes into FILE")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]
    return args


def bench_settings(url: str, storage: Path, window_s: float | None, windows: int) -> Settings:
    """The app's settings for batched dispatch, with the loop off and offers that never expire.
    Positions are stamped at the start of each rate; should a rate last longer than they stay
    fresh (120 s by default), they are allowed to stay fresh for it."""
    base = Settings(_env_file=None)
    window = window_s or base.dispatch_window_s
    return Settings(
        _env_file=None,
        env="test",
        database_url=url,
        broadcast_url="memory://",
        storage_dir=storage,
        dispatch_mode="batch",
        dispatch_loop=False,
        dispatch_window_s=window,
        offer_ttl_s=OFFER_TTL_S,
        location_stale_after_s=max(base.location_stale_after_s, math.ceil((windows + 2) * window) + 30),
    )


async def one_window(
    platform: Platform,
    clock: Clock,
    rate: float,
    sample: PointSampler,
    rng: random.Random,
    profiler: cProfile.Profile | None,
) -> Window:
    window_s = platform.settings.dispatch_window_s
    n = round(rate * window_s)
    await insert_jobs(platform.db, job_rows(n, sample, rng, platform.settings, clock.now, window_s))
    clock.advance(window_s)
    pool = await pool_size(platform.db, clock.now)
    before = await cpu_mark(platform.db)
    if profiler is not None:
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    _expired, offers = await run_once(platform)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    after = await cpu_mark(platform.db, before.pids)
    server = others = None
    if before.server_s is not None and after.server_s is not None:
        server = after.server_s - before.server_s
    if before.busy_s is not None and after.busy_s is not None:
        others = max(0.0, after.busy_s - before.busy_s - cpu)
    # Let the index's publisher send the marks this pass committed, outside the clock.
    for _ in range(3):
        await asyncio.sleep(0)
    await release_offers(platform)
    return Window(n, pool, offers, wall, cpu, server, others)


async def run_database(
    name: str, url: str, args: argparse.Namespace, tmp: Path, profiler: cProfile.Profile | None
) -> list[RateRun]:
    rng = random.Random(args.seed)
    sample = PointSampler(berlin(), rng)
    if name == "postgres":
        await ensure_database(url)
    await create_tables(url)
    settings = bench_settings(url, tmp / f"storage-{name}", args.window, args.windows)
    platform = build_platform(settings)
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    platform.clock = clock
    loaded_s = await load_drivers(platform.db, args.drivers, sample, rng, clock.now)
    await platform.pubsub.connect()
    await platform.driver_sync.start()
    runs: list[RateRun] = []
    try:
        if not platform.drivers.ready:
            raise RuntimeError("the driver index was not built: dispatch would search in SQL")
        print(
            f"{name}: {args.drivers:,} drivers loaded in {loaded_s:.1f} s, "
            f"index holds {len(platform.drivers):,}; window {settings.dispatch_window_s:g} s",
            flush=True,
        )
        # As the app's lifespan does once start-up is over.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        await reset_fleet(platform)
        await one_window(platform, clock, args.rates[0], sample, rng, None)  # warm-up
        for rate in args.rates:
            await reset_fleet(platform)
            run = RateRun(name, rate, settings.dispatch_window_s)
            for _ in range(args.windows):
                run.windows.append(await one_window(platform, clock, rate, sample, rng, profiler))
            runs.append(run)
            worst = max(w.wall_s for w in run.windows)
            print(f"  {rate:g} jobs/s: worst window {worst * 1000:.1f} ms", flush=True)
    finally:
        await platform.driver_sync.stop()
        await platform.pubsub.disconnect()
        await platform.hub.close()
        await platform.db.dispose()
        gc.unfreeze()
    return runs


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def run_row(run: RateRun) -> list[str]:
    walls = [w.wall_s for w in run.windows]
    cpus = [w.cpu_s for w in run.windows]
    servers = [w.server_s for w in run.windows if w.server_s is not None]
    others = [w.others_s for w in run.windows if w.others_s is not None]
    jobs = statistics.fmean(w.jobs for w in run.windows)
    # This process's CPU and, where it could be read, the database server's.
    both = [w.cpu_s + (w.server_s or 0.0) for w in run.windows]
    per_job = percentile(both, 50) / jobs if jobs else math.nan
    over = sum(w >= run.window_s for w in walls)
    return [
        run.db,
        f"{run.rate:g}",
        f"{jobs:,.0f}",
        f"{statistics.fmean(w.pool for w in run.windows):,.1f}",
        f"{statistics.fmean(w.offers for w in run.windows):,.1f}",
        ms(percentile(walls, 50)),
        ms(max(walls)),
        ms(percentile(cpus, 50)),
        ms(max(cpus)),
        ms(percentile(servers, 50)) if servers else "-",
        f"{percentile(walls, 50) / run.window_s:.1%}",
        f"{per_job * 1000:.2f}",
        f"{1 / per_job:,.0f}" if per_job > 0 else "-",
        ms(max(others)) if others else "-",
        "keeps up" if run.keeps_up else f"FALLS BEHIND ({over}/{len(walls)} over)",
    ]


HEADERS = ["db", "jobs/s", "jobs/window", "pool", "offers", "wall p50 ms", "wall max ms", "CPU p50 ms"]
HEADERS += ["CPU max ms", "server CPU p50 ms", "window used", "CPU/job ms", "jobs/s at 1 core"]
HEADERS += ["others on core max ms", "verdict"]
LEGEND = """\
CPU: this process's (process_time). server CPU: the PostgreSQL backends' (local server, /proc).
window used: wall p50 / window. CPU/job: p50 of (CPU + server CPU) per window / jobs per window;
jobs/s at 1 core: its inverse, a linear extrapolation. others on core: CPU other processes
used on this process's cores during a pass (/proc/stat, 10 ms ticks; the PostgreSQL server
counts when it ran there): on SQLite, well above a few ticks means the core was shared and the
wall times are suspect."""


def report(runs: list[RateRun], args: argparse.Namespace) -> None:
    print()
    print(
        f"Batched dispatch, one pass (run_once) per window: {args.drivers:,} drivers, "
        f"{args.windows} windows per rate"
    )
    print(LEGEND)
    print()
    print_table(HEADERS, [run_row(run) for run in runs])
    print()
    for db in dict.fromkeys(run.db for run in runs):
        goal = next((r for r in runs if r.db == db and r.rate == GOAL_RATE), None)
        if goal is None:
            print(f"{GOAL_RATE:g} jobs/s on one core ({db}): not measured (no {GOAL_RATE:g} in --rates)")
            continue
        # One core: each window's wall time, and its CPU with the server's, within the window.
        worst = max(w.wall_s for w in goal.windows)
        worst_cpu = max(w.cpu_s + (w.server_s or 0.0) for w in goal.windows)
        met = goal.keeps_up and worst_cpu < goal.window_s
        print(
            f"{GOAL_RATE:g} jobs/s on one core ({db}): {'met' if met else 'MISSED'} (worst window"
            f" {ms(worst)} ms wall, {ms(worst_cpu)} ms CPU{' with the server' if db != 'sqlite' else ''},"
            f" of {goal.window_s * 1000:,.0f} ms)"
        )


async def main() -> None:
    args = parse_args()
    profiler = cProfile.Profile() if args.profile else None
    runs: list[RateRun] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        targets = []
        if args.db in ("sqlite", "both"):
            targets.append(("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'throughput.db'}"))
        if args.db in ("postgres", "both"):
            targets.append(("postgres", args.pg_url))
        for name, url in targets:
            runs += await run_database(name, url, args, Path(tmp), profiler)
    report(runs, args)
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print()
        print(f"cProfile of the timed passes (main thread only), saved to {args.profile}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    asyncio.run(main())
