"""Part 1: nearest-driver search, the H3 rings against a full scan, timed on the same points."""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
from sqlalchemy import event, literal, select
from sqlmodel import col

from bench.common import percentile
from bench.dispatch_fleet import PointSampler, create_tables, load_drivers
from bench.dispatch_index import IndexOnDb, index_on_db
from logistics.config import Region
from logistics.db import Database
from logistics.dispatch.candidates import eligible_drivers, nearest_drivers
from logistics.geo import H3_RESOLUTION
from logistics.job.feed import vehicle_types_for
from logistics.models import Driver

SMALL_JOB_VEHICLE = "bicycle"


@dataclass
class Search:
    lat: float
    lng: float


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
            found = await nearest_drivers(
                session, lat=point.lat, lng=point.lng, full_scan=True, **self.kwargs
            )
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
    h3_ids: list[list[str]]
    index: IndexOnDb


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
    index = await index_on_db(db, [(p.lat, p.lng) for p in points], now, args.want)
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
        [t.ids for t in h3],
        index,
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
