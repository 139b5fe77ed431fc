"""Hot-path benchmark: the service's location and track paths against a bare baseline app,
GraphQL track against REST track, the whole core loop step by step, and (``--capacity``) a
two-worker deployment under the open-loop load of a fleet.

Run from the repository root with the venv active::

    python bench/hotpaths.py                          # SQLite and PostgreSQL, 10 s runs, 2 rounds
    python bench/hotpaths.py --db sqlite --seconds 5  # a quick look
    python bench/hotpaths.py --capacity               # logistics serve --workers 2, 10,000 drivers

For each database (SQLite in a temp dir; PostgreSQL ``logistics_bench``, dropped and created):

1. a fresh schema from ``logistics migrate``, then ``--drivers`` approved, online drivers at
   fresh positions in Berlin and ``--customers`` customers, each with a job in
   ``pickup_started`` (inserted directly, ``hotpaths_seed``); tokens from ``mint_token``;
2. the service (``uvicorn logistics.app:create_app --factory``, one process, no dispatch loop,
   no rate limit) and the baseline (``hotpaths_baseline``, one process), both pinned to core 0
   and up for the whole database; one request to each path of each must answer 204 and 200;
3. per path, rounds of A then B (``--rounds``), each run ``--warmup`` s unrecorded then
   ``--seconds`` s of ``wrk -t1 -c64`` pinned to core 1, rotating through the tokens;
4. the core loop walked ``--loop-iterations`` times on the service, one request at a time.

A/B is the throughput ratio of a round; the table gives its median and its minimum over the
rounds. With two cores and other work on the machine, trust ratios more than absolute figures,
and a run whose ``srv CPU%`` is far below 100 less than one at 100.

``--capacity`` replaces all of that with one run on PostgreSQL + Redis (``hotpaths_capacity``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import shutil
import sys
from pathlib import Path

if not __package__:
    # Run as ``python bench/hotpaths.py``, which puts bench/ itself on sys.path: the modules
    # beside this one are parts of the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.hotpaths_capacity import capacity
from bench.hotpaths_load import wrk_available
from bench.hotpaths_loop import core_loop
from bench.hotpaths_report import print_capacity, print_loop, print_throughput
from bench.hotpaths_seed import PG_URL, scratch_dir, seed
from bench.hotpaths_servers import Server, baseline, service
from bench.hotpaths_throughput import PATHS, PathResult, throughput, verify


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The service's hot paths against a bare baseline.")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--drivers", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unrecorded wrk run before each")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs per path")
    parser.add_argument("--loop-iterations", type=int, default=15, help="core-loop walks (0: none)")
    parser.add_argument("--pg-url", default=PG_URL, help="dropped and created afresh")
    parser.add_argument("--capacity", action="store_true", help="only the capacity run (PostgreSQL + Redis)")
    parser.add_argument("--capacity-seconds", type=float, default=30.0)
    parser.add_argument("--capacity-ramp", type=float, default=5.0)
    parser.add_argument("--capacity-drivers", type=int, default=10_000)
    parser.add_argument("--capacity-customers", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=200, help="the open-loop generator's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--target-p99-ms", type=float, default=100.0)
    parser.add_argument("--target-rss-mb", type=float, default=250.0)
    parser.add_argument("--keep-temp", action="store_true", help="keep the scratch dir (logs, SQLite)")
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = [p for p in args.paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown paths: {', '.join(unknown)}")
    if min(args.drivers, args.customers, args.capacity_drivers, args.capacity_customers, args.rounds) < 1:
        parser.error("--drivers, --customers, --capacity-drivers, --capacity-customers, --rounds: at least 1")
    if args.customers > args.drivers or args.capacity_customers > args.capacity_drivers:
        parser.error("one driver per customer's job: the customers cannot outnumber the drivers")
    return args


def _errors_in_log(server: Server) -> None:
    tail = server.log_tail(40)
    if "Traceback" in tail or "ERROR" in tail:
        print(f"  {server.label} log (tail):\n{tail}", flush=True)


async def one_database(
    db: str, args: argparse.Namespace, workdir: Path
) -> tuple[list[PathResult], dict[str, list[float]]]:
    print(f"{db}: seeding ...", flush=True)
    fleet = await seed(db, args.drivers, args.customers, args.pg_url, workdir)
    orm_module = "bench.hotpaths_baseline_orm"
    async with (
        service(fleet.url, workdir) as svc,
        baseline(fleet.url, workdir) as base,
        baseline(fleet.url, workdir, orm_module, "ORM baseline") as orm,
    ):
        await verify(fleet, svc, base)
        await verify(fleet, svc, orm)
        results = await throughput(fleet, svc, {"baseline": base, "ORM baseline": orm}, args)
        timings: dict[str, list[float]] = {}
        if args.loop_iterations > 0:
            print(f"  {db}: core loop x {args.loop_iterations} ...", flush=True)
            timings = await core_loop(svc.base_url, args.loop_iterations)
        _errors_in_log(svc)
        _errors_in_log(base)
        _errors_in_log(orm)
    return results, timings


async def main_async(args: argparse.Namespace) -> int:
    workdir = scratch_dir()
    try:
        if args.capacity:
            result = await capacity(args, workdir)
            if result is not None:
                print_capacity(result, args.target_p99_ms, args.target_rss_mb)
            return 0
        databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        done = []
        for db in databases:
            results, timings = await one_database(db, args, workdir)
            done.append((db, results, timings))
        for db, results, timings in done:
            print_throughput(db, results, args.seconds)
            if timings:
                print_loop(db, timings)
        return 0
    finally:
        if args.keep_temp:
            print(f"scratch files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_available():
        print("hotpaths: needs wrk and taskset on PATH", file=sys.stderr)
        return 2
    # 64 wrk connections per server, and 200 of the generator's: lift the soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
