"""Part 3 of ``dispatch.py``: the in-memory driver index (``logistics.dispatch.index``).

a) On the fleet part 1 loaded into each database: the index built from it (``rebuild``, as a
   process does on start and after a lost subscription), then searched for the same points
   as the SQL ring search, with the same rule (vehicle types of a small job, 120 s freshness,
   10 km), asking for ``--want`` drivers. Same nearest driver as SQL is counted.
b) Pure, without a database: synthetic fleets of 100,000 and 1,000,000 drivers (a third of
   them busy, the vehicle mix of part 1), to see how a search grows with density, what a
   position update costs and what a full build costs in memory and time.

CPU time is ``time.process_time`` around each call (the index runs on the event loop's
thread, so that is all it costs); the p99 is over ``--queries`` searches after a warm-up.
"""

from __future__ import annotations

import gc
import random
import resource
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.common import percentile, print_table
from bench.dispatch_fleet import VEHICLE_MIX, PointSampler
from logistics.db import Database
from logistics.dispatch.index import DriverIndex
from logistics.job import feed

SMALL_JOB = frozenset(feed.vehicle_types_for("bicycle"))
MAX_AGE_S = 120
RADIUS_M = 10_000.0


@dataclass
class IndexOnDb:
    build_s: float
    drivers: int
    cpu_us: list[float]
    ids: list[list[str]]


def _search(index: DriverIndex, lat: float, lng: float, now: datetime, want: int) -> tuple[float, list[str]]:
    cpu = time.process_time()
    found = index.nearest(
        lat, lng, vehicle_types=SMALL_JOB, now=now, max_age_s=MAX_AGE_S, radius_m=RADIUS_M, want=want
    )
    return (time.process_time() - cpu) * 1e6, [facts.id for facts, _ in found]


async def index_on_db(db: Database, points: list[tuple[float, float]], now: datetime, want: int) -> IndexOnDb:
    index = DriverIndex()
    started = time.perf_counter()
    await index.rebuild(db)
    build_s = time.perf_counter() - started
    for lat, lng in points[:50]:
        _search(index, lat, lng, now, want)
    gc.collect()
    timed = [_search(index, lat, lng, now, want) for lat, lng in points]
    return IndexOnDb(build_s, len(index), [cpu for cpu, _ in timed], [ids for _, ids in timed])


@dataclass
class Growth:
    drivers: int
    build_s: float
    rss_mb: float
    search_us: dict[int, list[float]]
    move_us: float


def synthetic_fleet(
    n: int, sample: PointSampler, rng: random.Random, now: datetime
) -> list[feed.DriverFacts]:
    types, weights = list(VEHICLE_MIX), list(VEHICLE_MIX.values())
    fleet = []
    for i in range(n):
        lat, lng = sample()
        fleet.append(
            feed.DriverFacts(
                id=f"driver-{i:07d}",
                user_id=f"user-{i}",
                vehicle_type=rng.choices(types, weights)[0],
                lat=lat,
                lng=lng,
                position_at=now - timedelta(seconds=rng.uniform(1, 60)),
                busy=rng.random() < 1 / 3,
            )
        )
    return fleet


def _moves(index: DriverIndex, fleet: list[feed.DriverFacts], rng: random.Random, now: datetime) -> float:
    """CPU per position update, as pings arrive: a random driver each time, moved the way a
    ping five seconds after the last one moves it (up to about 70 m, at 50 km/h)."""
    pings = []
    for i in range(50_000):
        facts = fleet[rng.randrange(len(fleet))]
        assert facts.lat is not None and facts.lng is not None
        step_lat, step_lng = rng.uniform(-0.0005, 0.0005), rng.uniform(-0.0008, 0.0008)
        pings.append(
            (facts.id, facts.lat + step_lat, facts.lng + step_lng, now + timedelta(seconds=5, microseconds=i))
        )
    gc.collect()
    cpu = time.process_time()
    for driver_id, lat, lng, at in pings:
        index.move(driver_id, lat, lng, at)
    return (time.process_time() - cpu) * 1e6 / len(pings)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def growth(sizes: list[int], queries: int, sample: PointSampler, rng: random.Random) -> list[Growth]:
    now = datetime.now(UTC)
    points = [sample() for _ in range(queries)]
    results = []
    for n in sizes:
        fleet = synthetic_fleet(n, sample, rng, now)
        gc.collect()
        before = _rss_mb()
        index = DriverIndex()
        started = time.perf_counter()
        index.replace_all(fleet)
        build_s = time.perf_counter() - started
        rss_mb = _rss_mb() - before
        search_us: dict[int, list[float]] = {}
        for want in (3, 16):
            for lat, lng in points[:50]:
                _search(index, lat, lng, now, want)
            search_us[want] = [_search(index, lat, lng, now, want)[0] for lat, lng in points]
        move_us = _moves(index, fleet, rng, now)
        results.append(Growth(n, build_s, rss_mb, search_us, move_us))
        print(f"  [index] {n:>9,} drivers built in {build_s:.2f} s", flush=True)
        del fleet, index
    return results


def report_index(
    on_db: list[tuple[str, int, IndexOnDb, list[float], list[list[str]]]], grown: list[Growth]
) -> None:
    """``on_db``: (database, drivers, the index's timings, SQL H3 CPU ms, SQL H3 ids)."""
    print()
    print("3. In-memory driver index (logistics.dispatch.index)")
    if on_db:
        print()
        print("   a) built from the database part 1 loaded, searched for the same points as the SQL rings")
        print()
        rows = []
        for db, n, idx, sql_cpu_ms, sql_ids in on_db:
            p50, p99 = percentile(idx.cpu_us, 50), percentile(idx.cpu_us, 99)
            same = sum(1 for a, b in zip(idx.ids, sql_ids, strict=False) if a[:1] == b[:1])
            rows.append(
                [
                    db,
                    f"{n:,}",
                    f"{idx.build_s:.2f}",
                    f"{p50:.0f}",
                    f"{p99:.0f}",
                    f"{percentile(sql_cpu_ms, 50) * 1000 / p50:.0f}x",
                    f"{percentile(sql_cpu_ms, 99) * 1000 / p99:.0f}x",
                    f"{same}/{min(len(idx.ids), len(sql_ids))}",
                    "yes" if p99 < 500 else "NO",
                ]
            )
        print_table(
            [
                *["db", "drivers", "build s", "CPU p50 us", "CPU p99 us", "SQL/index p50"],
                *["SQL/index p99", "same nearest", "p99 < 0.5 ms"],
            ],
            rows,
        )
    if grown:
        print()
        print("   b) synthetic fleets in memory (a third busy): search CPU, update cost, build")
        print()
        rows = []
        base = grown[0]
        for g in grown:
            row = [f"{g.drivers:,}", f"{g.build_s:.2f}", f"{g.rss_mb:,.0f}", f"{g.move_us:.1f}"]
            for want in (3, 16):
                p99 = percentile(g.search_us[want], 99)
                row += [f"{percentile(g.search_us[want], 50):.0f}", f"{p99:.0f}"]
                row.append(f"{p99 / percentile(base.search_us[want], 99):.2f}x")
            rows.append(row)
        print_table(
            [
                *["drivers", "build s", "RSS +MB", "move us"],
                *["want 3 p50 us", "p99 us", "p99 vs first"],
                *["want 16 p50 us", "p99 us", "p99 vs first"],
            ],
            rows,
        )
        print()
        print("   goal: p99 under 500 us at 100,000 drivers; ten times the drivers under 2x the time")
