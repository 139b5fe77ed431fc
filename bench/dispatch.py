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
- ``nearest_drivers(..., full_scan=True)`` (measure every eligible driver) in the same run, for the same
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

Part 3, the in-memory driver index that dispatch searches instead of SQL: built from each
database part 1 loaded and searched for the same points, then on synthetic fleets of
``--index-sizes`` drivers in memory (see ``dispatch_index``).

The parts: ``dispatch_fleet`` (the region's points, the drivers' tables), ``dispatch_search``
(part 1), ``dispatch_city`` (part 2), ``dispatch_index`` (part 3), ``dispatch_report`` (the
tables).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

if not __package__:
    # Run as ``python bench/dispatch.py``, which puts bench/ itself on sys.path: the modules beside
    # this one are parts of the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dispatch_city import simulate_city
from bench.dispatch_fleet import PointSampler, berlin, ensure_database
from bench.dispatch_index import growth, report_index
from bench.dispatch_report import report_city, report_search
from bench.dispatch_search import SizeResult, run_database

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench"


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
    parser.add_argument("--skip-city", action="store_true", help="no part 2")
    parser.add_argument(
        "--index-sizes", default="100000,1000000", help="synthetic fleets for part 3 b), comma separated"
    )
    args = parser.parse_args()
    args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    args.index_sizes = [int(s.replace("_", "")) for s in args.index_sizes.split(",") if s]
    args.city = [tuple(int(x) for x in size.split("x")) for size in args.city.split(",") if size]
    return args


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
    grown = growth(
        args.index_sizes,
        args.queries,
        PointSampler(region, random.Random(args.seed + 2)),
        random.Random(args.seed),
    )
    report_index([(r.db, r.drivers, r.index, r.h3_cpu_ms, r.h3_ids) for r in results], grown)

    if not args.skip_city:
        sample = PointSampler(region, random.Random(args.seed + 1))
        city = [simulate_city(d, j, args.city_trials, sample) for d, j in args.city]
        report_city(city)


if __name__ == "__main__":
    asyncio.run(main())
