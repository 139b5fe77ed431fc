"""Dispatch benchmark: nearest-driver search through H3 cells, and greedy vs optimal assignment.

Run from the repository root with the venv active::

    python bench/dispatch.py                                 # 1k/10k/100k drivers, both databases
    python bench/dispatch.py --sizes 1000,10000 --queries 200 --db sqlite
    python bench/dispatch.py --db postgres --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench

Part 1, nearest-driver selection. For each database (SQLite in a temporary directory; PostgreSQL
at ``--pg-url``, whose tables are dropped and re-created) and each size N, the ``drivers`` table
is filled with N online, approved drivers at uniformly random points inside the Berlin service
area (bulk inserts through SQLAlchemy core, ``h3_cell`` from ``logistics.geo.cell_of``, a fresh
``location_recorded_at``, a mix of vehicle types). Random pickup points inside the same area are
then searched for the vehicle types a small job allows (``vehicle_types_for("bicycle")``, every
type) with the engine's settings (``location_stale_after_s`` 120 s, ``dispatch_max_radius_m``
10 km):

- ``nearest_drivers`` (the H3 ring search) for ``--queries`` points, after a warm-up;
- ``nearest_drivers_full_scan`` (measure every eligible driver) in the same run, for the same
  points (at most ``--scan-queries-large`` of them above 10,000 drivers: one scan loads them all).

Each call runs in a read session whose transaction is already open (``await
session.connection()`` before the clock starts), so a latency is the search alone: its queries,
the row loading and the distance pass. Both the wall-clock time and the CPU time of this process
are recorded (``time.process_time``: the event loop and aiosqlite's worker thread, so all of an
SQLite search but only the client side of a PostgreSQL one); on a busy machine the CPU time is
the steadier measure. ``SELECT 1`` through the same kind of session gives the floor one statement
costs on this machine. The H3 and full-scan numbers of a size come from the same run, on the same
points. An untimed pass checks that both methods pick the same nearest driver (on the points both
searched) and counts the SQL statements each H3 search sends. ``--want 3 --lock`` searches as
dispatch does (three candidates, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

PostgreSQL is ``ANALYZE``d after each load, as autovacuum would soon do after such an insert;
SQLite gets no ``ANALYZE`` (the app never runs one), so its planner works without statistics.

Part 2, a simulated city. Snapshots of D drivers and J jobs at random points in the region.
Greedy dispatch (each job, in arrival order, gets the nearest still-free driver, as the engine
does) against the optimal assignment of the same snapshot (``scipy.optimize.linear_sum_assignment``
on the haversine distance matrix): the mean pickup distance of each and their ratio.

Only the given PostgreSQL database is touched; the SQLite file is removed on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
from sqlalchemy import delete, event, insert, literal, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel, col

import logistics.models  # noqa: F401  (registers every table on the metadata)
from logistics.config import Region, Settings
from logistics.db import Database
from logistics.dispatch.candidates import (
    eligible_drivers,
    nearest_drivers,
    nearest_drivers_full_scan,
    vehicle_types_for,
)
from logistics.geo import H3_RESOLUTION, cell_of, haversine_m, in_region
from logistics.models import Driver
from logistics.models.base import new_id

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench"
# Share of the fleet per vehicle type.
VEHICLE_MIX = {"bicycle": 0.35, "motorbike": 0.25, "car": 0.30, "van": 0.10}
SMALL_JOB_VEHICLE = "bicycle"
INSERT_CHUNK = 5_000


# --- the region --------------------------------------------------------------------------


class PointSampler:
    """Uniformly random points inside a region's service area (rejection sampling)."""

    def __init__(self, region: Region, rng: random.Random) -> None:
        self.region = region
        self.rng = rng
        ring = region.service_area[0]
        self.min_lng = min(p[0] for p in ring)
        self.max_lng = max(p[0] for p in ring)
        self.min_lat = min(p[1] for p in ring)
        self.max_lat = max(p[1] for p in ring)

    def __call__(self) -> tuple[float, float]:
        while True:
            lat = self.rng.uniform(self.min_lat, self.max_lat)
            lng = self.rng.uniform(self.min_lng, self.max_lng)
            if in_region(self.region, lat, lng):
                return lat, lng


def berlin() -> Region:
    settings = Settings(_env_file=None, regions_file=None)  # type: ignore[call-arg]
    region = settings.region("berlin")
    assert region.id == "berlin"
    return region


# --- the database ------------------------------------------------------------------------


async def create_tables(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.drop_all)
        await conn.run_sync(SQLModel.metadata.create_all)
    await engine.dispose()


def driver_rows(n: int, sample: PointSampler, rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    types = list(VEHICLE_MIX)
    weights = list(VEHICLE_MIX.values())
    for i in range(n):
        lat, lng = sample()
        vehicle_type = rng.choices(types, weights)[0]
        # Positions a few seconds to a minute old: all fresh (the engine's limit is 120 s).
        recorded = now - timedelta(seconds=rng.uniform(1, 60))
        yield {
            "id": new_id(),
            "user_id": f"bench-driver-{i}",
            "status": "approved",
            "name": f"Driver {i}",
            "phone": f"+4915{i:09d}",
            "vehicle_type": vehicle_type,
            "vehicle": {"type": vehicle_type, "make": "Bench", "plate": f"B-{i}"},
            "licence": {"number": f"L{i}", "expires": "2030-01-01"},
            "insurance": {"policy": f"P{i}", "expires": "2030-01-01"},
            "online": True,
            "online_since": recorded - timedelta(hours=1),
            "lat": lat,
            "lng": lng,
            "h3_cell": cell_of(lat, lng),
            "accuracy_m": 10.0,
            "heading_deg": 0.0,
            "speed_mps": 0.0,
            "location_recorded_at": recorded,
            "rating_sum": 0,
            "rating_count": 0,
            "completed_jobs": 0,
            "created_at": now - timedelta(days=30),
            "updated_at": recorded,
        }


async def load_drivers(
    db: Database, n: int, sample: PointSampler, rng: random.Random, now: datetime
) -> float:
    """Replace the drivers table with ``n`` fresh online drivers; seconds taken."""
    started = time.perf_counter()
    rows = driver_rows(n, sample, rng, now)
    async with db.write_engine.begin() as conn:
        await conn.execute(delete(Driver))
        while chunk := [row for _, row in zip(range(INSERT_CHUNK), rows, strict=False)]:
            await conn.execute(insert(Driver), chunk)
    if not db.is_sqlite:
        async with db.write_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE drivers")
    return time.perf_counter() - started


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Search:
    lat: float
    lng: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Timing:
    wall_ms: float
    # CPU time of this process (event loop and the aiosqlite worker thread): what the search
    # costs here whatever else the machine runs. For PostgreSQL the server's share is not in it.
    cpu_ms: float
    ids: list[str]
    statements: int


class Searcher:
    def __init__(self, db: Database, *, now: datetime, want: int, lock: bool = False) -> None:
        self.db = db
        self.now = now
        self.want = want
        # As the engine does on PostgreSQL: FOR UPDATE SKIP LOCKED on the rows the rings read.
        self.lock = lock and not db.is_sqlite
        self.kwargs: dict[str, Any] = {
            "vehicle_types": vehicle_types_for(SMALL_JOB_VEHICLE),
            "now": now,
            "max_age_s": 120,
            "max_radius_m": 10_000,
            "want": want,
        }

    async def h3(self, point: Search, statements: Callable[[], int] | None = None) -> Timing:
        async with self.db.session(write=False) as session:
            await session.connection()  # BEGIN before the clock starts
            sent = statements() if statements else 0
            cpu, started = time.process_time(), time.perf_counter()
            found = await nearest_drivers(
                session, lat=point.lat, lng=point.lng, lock=self.lock, **self.kwargs
            )
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            sent = (statements() if statements else 0) - sent
        return Timing(elapsed * 1000, cpu * 1000, [c.driver.id for c in found], sent)

    async def trivial(self) -> Timing:
        """``SELECT 1`` through the same session: the floor one statement costs here."""
        async with self.db.session(write=False) as session:
            await session.connection()
            cpu, started = time.process_time(), time.perf_counter()
            await session.execute(select(literal(1)))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return Timing(elapsed * 1000, cpu * 1000, [], 1)

    async def scan(self, point: Search) -> Timing:
        async with self.db.session(write=False) as session:
            await session.connection()
            cpu, started = time.process_time(), time.perf_counter()
            found = await nearest_drivers_full_scan(session, lat=point.lat, lng=point.lng, **self.kwargs)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return Timing(elapsed * 1000, cpu * 1000, [c.driver.id for c in found], 0)


@contextmanager
def count_statements(db: Database) -> Iterator[Callable[[], int]]:
    engine = db.read_engine.sync_engine
    count = 0

    def on_execute(*_args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield lambda: count
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


async def ring_query_plan(db: Database, point: Search, now: datetime) -> list[str]:
    """The plan of the query one ring step sends (the first ring around ``point``)."""
    cells = list(h3.grid_disk(h3.latlng_to_cell(point.lat, point.lng, H3_RESOLUTION), 1))
    query = (
        eligible_drivers(
            vehicle_types=vehicle_types_for(SMALL_JOB_VEHICLE),
            fresh_since=now - timedelta(seconds=120),
            now=now,
            job_id=None,
        )
        .with_only_columns(col(Driver.id), col(Driver.lat), col(Driver.lng))
        .where(col(Driver.h3_cell).in_(cells))
    )
    sql = str(query.compile(db.read_engine.sync_engine, compile_kwargs={"literal_binds": True}))
    async with db.read_engine.connect() as conn:
        if db.is_sqlite:
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            return [row[3] for row in rows]
        rows = await conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        return [row[0] for row in rows]


@dataclass
class SizeResult:
    db: str
    drivers: int
    load_s: float
    floor_ms: list[float]
    floor_cpu_ms: list[float]
    h3_ms: list[float]
    h3_cpu_ms: list[float]
    scan_ms: list[float]
    scan_cpu_ms: list[float]
    agree: int
    compared: int
    statements: float
    found: int
    load_avg: tuple[float, float]
    plan: list[str]


async def measure_size(
    db: Database, name: str, n: int, args: argparse.Namespace, sample: PointSampler, rng: random.Random
) -> SizeResult:
    now = datetime.now(UTC)
    load_s = await load_drivers(db, n, sample, rng, now)
    searcher = Searcher(db, now=now, want=args.want, lock=args.lock)
    points = [Search(*sample()) for _ in range(args.queries)]
    scan_n = args.queries if n <= 10_000 else min(args.queries, args.scan_queries_large)
    warm = [Search(*sample()) for _ in range(args.warmup)]

    for point in warm:
        await searcher.h3(point)
    for point in warm[: max(3, args.warmup // 10 if n > 10_000 else args.warmup)]:
        await searcher.scan(point)

    load_before = os.getloadavg()[0]
    gc.collect()
    floor = [await searcher.trivial() for _ in range(len(points))]
    h3 = [await searcher.h3(point) for point in points]
    gc.collect()
    scans = [await searcher.scan(point) for point in points[:scan_n]]
    load_after = os.getloadavg()[0]

    agree = sum(1 for a, b in zip(h3, scans, strict=False) if a.ids[:1] == b.ids[:1])
    found = sum(1 for t in h3 if t.ids)

    # Untimed: SQL statements per H3 search (ring queries, and one to load the drivers chosen).
    sample_points = points[: min(len(points), 100)]
    with count_statements(db) as statements:
        counted = [await searcher.h3(point, statements) for point in sample_points]
    per_search = statistics.fmean(t.statements for t in counted)

    plan = await ring_query_plan(db, points[0], now)
    return SizeResult(
        name,
        n,
        load_s,
        [t.wall_ms for t in floor],
        [t.cpu_ms for t in floor],
        [t.wall_ms for t in h3],
        [t.cpu_ms for t in h3],
        [t.wall_ms for t in scans],
        [t.cpu_ms for t in scans],
        agree,
        len(scans),
        per_search,
        found,
        (load_before, load_after),
        plan,
    )


async def run_database(
    name: str, url: str, args: argparse.Namespace, region: Region, seed: int
) -> list[SizeResult]:
    await create_tables(url)
    db = Database(url)
    rng = random.Random(seed)
    sample = PointSampler(region, rng)
    results = []
    try:
        for n in args.sizes:
            result = await measure_size(db, name, n, args, sample, rng)
            results.append(result)
            print(
                f"  [{name}] {n:>7,} drivers loaded in {result.load_s:5.1f} s; "
                f"H3 p50 {percentile(result.h3_ms, 50):.3f} ms, "
                f"scan p50 {percentile(result.scan_ms, 50):.2f} ms; load average "
                f"{result.load_avg[0]:.1f} -> {result.load_avg[1]:.1f} on {os.cpu_count()} CPUs",
                flush=True,
            )
    finally:
        await db.dispose()
    return results


# --- part 2: a simulated city ------------------------------------------------------------


@dataclass
class CityResult:
    drivers: int
    jobs: int
    trials: int
    greedy_m: float
    optimal_m: float
    greedy_p90_m: float
    optimal_p90_m: float
    greedy_max_m: float
    optimal_max_m: float


def simulate_city(drivers: int, jobs: int, trials: int, sample: PointSampler) -> CityResult:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    greedy_all: list[float] = []
    optimal_all: list[float] = []
    for _ in range(trials):
        fleet = [sample() for _ in range(drivers)]
        orders = [sample() for _ in range(jobs)]  # in arrival order
        matrix = np.array([[haversine_m(jl, jg, dl, dg) for dl, dg in fleet] for jl, jg in orders])

        free = set(range(drivers))
        for j in range(jobs):
            if not free:
                break
            row = matrix[j]
            best = min(free, key=lambda d: (row[d], d))
            free.remove(best)
            greedy_all.append(float(row[best]))

        rows, cols = linear_sum_assignment(matrix)
        optimal_all.extend(float(v) for v in matrix[rows, cols])

    return CityResult(
        drivers,
        jobs,
        trials,
        statistics.fmean(greedy_all),
        statistics.fmean(optimal_all),
        percentile(greedy_all, 90),
        percentile(optimal_all, 90),
        max(greedy_all),
        max(optimal_all),
    )


# --- output ------------------------------------------------------------------------------


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def latency_rows(results: list[SizeResult], cpu: bool) -> list[list[str]]:
    rows = []
    for r in results:
        h3_ms, scan_ms = (r.h3_cpu_ms, r.scan_cpu_ms) if cpu else (r.h3_ms, r.scan_ms)
        floor_ms = r.floor_cpu_ms if cpu else r.floor_ms
        h50, h99 = percentile(h3_ms, 50), percentile(h3_ms, 99)
        s50, s99 = percentile(scan_ms, 50), percentile(scan_ms, 99)
        f50, f99 = percentile(floor_ms, 50), percentile(floor_ms, 99)
        row = [
            r.db,
            f"{r.drivers:,}",
            f"{f50:.3f}",
            f"{f99:.3f}",
            f"{len(h3_ms)}",
            f"{h50:.3f}",
            f"{h99:.3f}",
        ]
        row += [f"{h50 / f50:.1f}x"]
        row += [f"{len(scan_ms)}", f"{s50:.2f}", f"{s99:.2f}", f"{s50 / h50:.1f}x", f"{s99 / h99:.1f}x"]
        if not cpu:
            row += [f"{r.statements:.2f}", f"{r.agree}/{r.compared}", f"{r.found}/{len(h3_ms)}"]
        rows.append(row)
    return rows


LATENCY_HEADERS = ["db", "drivers", "SELECT 1 p50", "SELECT 1 p99", "n", "H3 p50", "H3 p99", "H3/SELECT 1"]
LATENCY_HEADERS += ["n scan", "scan p50", "scan p99"]
LATENCY_HEADERS += ["scan/H3 p50", "scan/H3 p99"]


def growth_rows(results: list[SizeResult], cpu: bool) -> list[list[str]]:
    by_key = {(r.db, r.drivers): r for r in results}
    rows = []
    for name in dict.fromkeys(r.db for r in results):
        small, large = by_key.get((name, 10_000)), by_key.get((name, 100_000))
        if small is None or large is None:
            continue
        pick = (lambda r: r.h3_cpu_ms) if cpu else (lambda r: r.h3_ms)
        scan = (lambda r: r.scan_cpu_ms) if cpu else (lambda r: r.scan_ms)
        g50 = percentile(pick(large), 50) / percentile(pick(small), 50)
        g99 = percentile(pick(large), 99) / percentile(pick(small), 99)
        s50 = percentile(scan(large), 50) / percentile(scan(small), 50)
        p99 = percentile(pick(large), 99)
        rows.append(
            [
                name,
                "CPU" if cpu else "wall",
                f"{g50:.2f}x",
                f"{g99:.2f}x",
                f"{s50:.1f}x",
                "yes" if g50 < 2 and g99 < 2 else "NO",
                f"{p99:.3f}",
                "yes" if p99 < 2 else "NO",
            ]
        )
    return rows


def report_search(results: list[SizeResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"1. Nearest-driver selection (want={args.want}, vehicle types of a small job, radius 10 km"
        f"{', PostgreSQL H3 with FOR UPDATE SKIP LOCKED' if args.lock else ''}): H3 ring search vs full scan"
    )
    print()
    print("   a) wall-clock latency, ms")
    print()
    print_table([*LATENCY_HEADERS, "SQL/search", "same nearest", "found"], latency_rows(results, cpu=False))
    print()
    print(
        "   b) CPU time of the benchmark process per search, ms (SQLite: all of it; PostgreSQL: client side)"
    )
    print()
    print_table(LATENCY_HEADERS, latency_rows(results, cpu=True))
    loads = ", ".join(f"{r.db} {r.drivers:,}: {r.load_avg[0]:.1f}->{r.load_avg[1]:.1f}" for r in results)
    print()
    print(f"   load average (1 min) over each measurement on {os.cpu_count()} CPUs: {loads}")

    rows = growth_rows(results, cpu=False) + growth_rows(results, cpu=True)
    if rows:
        print()
        print("   Growth of the H3 search from 10,000 to 100,000 drivers (goal: under 2x; p99 under 2 ms)")
        print()
        print_table(
            ["db", "time", "H3 p50", "H3 p99", "scan p50", "H3 < 2x", "H3 p99 @100k", "< 2 ms"],
            rows,
        )

    for r in {r.db: r for r in results}.values():
        print()
        print(f"   Plan of one ring query (the first ring), {r.db}, {r.drivers:,} drivers:")
        for line in r.plan:
            print(f"     {line}")


def report_city(results: list[CityResult]) -> None:
    print()
    print("2. Simulated city: greedy (nearest free driver, jobs in arrival order) vs optimal")
    print("   (linear_sum_assignment); pickup distances in metres, over all trials")
    print()
    rows = [
        [
            f"{r.drivers}",
            f"{r.jobs}",
            f"{r.trials}",
            f"{r.greedy_m:,.0f}",
            f"{r.optimal_m:,.0f}",
            f"{r.greedy_m / r.optimal_m:.3f}",
            f"{r.greedy_p90_m:,.0f}",
            f"{r.optimal_p90_m:,.0f}",
            f"{r.greedy_max_m:,.0f}",
            f"{r.optimal_max_m:,.0f}",
        ]
        for r in results
    ]
    print_table(
        [
            "drivers",
            "jobs",
            "trials",
            "greedy mean",
            "optimal mean",
            "greedy/optimal",
            "greedy p90",
            "optimal p90",
            "greedy max",
            "optimal max",
        ],
        rows,
    )


# --- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="driver counts, comma separated")
    parser.add_argument("--queries", type=int, default=500, help="timed H3 searches per size")
    parser.add_argument(
        "--scan-queries-large", type=int, default=50, help="timed full scans per size above 10,000 drivers"
    )
    parser.add_argument("--warmup", type=int, default=50, help="untimed searches before measuring")
    parser.add_argument("--want", type=int, default=1, help="drivers asked for (the engine asks for 3)")
    parser.add_argument(
        "--lock",
        action="store_true",
        help="PostgreSQL: H3 search with FOR UPDATE SKIP LOCKED, as dispatch runs it",
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--city", default="200x150,1000x800", help="DxJ snapshot sizes for part 2")
    parser.add_argument("--city-trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--skip-search", action="store_true", help="only part 2")
    parser.add_argument("--skip-city", action="store_true", help="only part 1")
    args = parser.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    args.city = [tuple(int(x) for x in size.split("x")) for size in args.city.split(",") if size]
    return args


async def ensure_database(url: str) -> None:
    """Create the benchmark's own database if it is missing (its tables get dropped)."""
    base, _, name = url.rpartition("/")
    engine = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def main() -> None:
    args = parse_args()
    region = berlin()
    results: list[SizeResult] = []
    if not args.skip_search:
        with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
            targets = []
            if args.db in ("sqlite", "both"):
                targets.append(("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'dispatch.db'}"))
            if args.db in ("postgres", "both"):
                await ensure_database(args.pg_url)
                targets.append(("postgres", args.pg_url))
            for name, url in targets:
                print(f"{name}: {url}", flush=True)
                results += await run_database(name, url, args, region, args.seed)
        report_search(results, args)

    if not args.skip_city:
        sample = PointSampler(region, random.Random(args.seed + 1))
        city = [simulate_city(d, j, args.city_trials, sample) for d, j in args.city]
        report_city(city)


if __name__ == "__main__":
    asyncio.run(main())
