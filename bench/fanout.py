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

The parts: ``fanout_server`` (the server and Redis processes), ``fanout_driver`` (the job and the
points, over REST), ``fanout_clients`` (the subscriber processes), ``fanout_scenario`` (one run and
its measurements), ``fanout_report`` (the table), ``fanout_diagnose`` (``--diagnose``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import time
from pathlib import Path

if not __package__:
    # Run as ``python bench/fanout.py``, which puts bench/ itself on sys.path: the modules beside
    # this one are parts of the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout_report import fmt, print_report
from bench.fanout_scenario import Result, run_scenario
from bench.fanout_server import redis_server


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
                    f"  {time.monotonic() - started:.0f} s: p50 {fmt(result.latency.p50)} ms, "
                    f"p99 {fmt(result.latency.p99)} ms, {result.delivered}/{result.expected} delivered, "
                    f"server RSS {fmt(result.rss_peak_mb)} MB",
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
        print_report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
