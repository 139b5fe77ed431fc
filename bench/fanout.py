"""Fan-out benchmark: drivers' positions to many ``driverLocation`` subscribers, against the
bare-send limit.

Run from the repository root with the venv active::

    python bench/fanout.py                      # 1,000 subscribers, 50 points at 1/s, both backends
    python bench/fanout.py --rounds 2 --broadcast memory
    python bench/fanout.py --subscribers 200 --points 10
    python bench/fanout.py --spread             # 100 jobs x 100 subscribers, serve --workers 2
    python bench/fanout.py --diagnose /tmp/fanout-diag   # plus GC pauses, object counts, py-spy

Single job (the default). Each of ``--rounds`` rounds runs, in this order:

* the bare send (``fanout_bare``: a raw ASGI app under the same uvicorn command line that
  answers graphql-transport-ws and sends one prebuilt frame per point to every socket) with N
  subscribers, unless ``--no-bare``;
* per broadcast backend (``memory://`` and ``redis://127.0.0.1:6379/<db>``) the service with
  1 subscriber (the baseline, unless ``--no-baseline``) and with N.

so that bare and service runs alternate and each ratio is taken within one round. Per run:

1. a fresh server: the service (``uvicorn logistics.app:create_app --factory`` on a free
   loopback port, a fresh SQLite file migrated with ``logistics migrate`` first, the per-user
   connection limit raised above N), or the bare app; ``/readyz`` answers first;
2. the service gets one active job over REST: a customer's quote and cash order, a driver
   registered with uploaded documents (auto-approved), online, who accepts and starts the pickup;
3. the subscribers open in separate client processes (``websockets``, graphql-transport-ws,
   the customer's token in ``connection_init``), one socket and one ``driverLocation(jobId)``
   subscription each;
4. warm-up points until every subscriber has received one (every subscription is live), then
   M measured points on a fixed schedule (``--interval-ms``, default 1,000);
5. every subscriber records when each point arrives, and counts arrivals out of order and points
   that never came. A point's key is encoded in its latitude and its send time kept in a table
   (it is also the point's ``recorded_at``). Latency = arrival - send time, both ``time.time()``;
6. the server's ``VmRSS`` (``/proc/<pid>/status``) is sampled every 50 ms, and the CPU time of
   the server, the clients and the whole machine read over the measured window.

Pinned (unless ``--no-pin``): each server on core 0 (``taskset -c 0``), this process, its
driver and the client processes on core 1 (``sched_setaffinity``).

``--spread`` (``fanout_spread``): ``--spread-jobs`` (100) seeded jobs x ``--spread-per-job``
(100) subscribers on ``logistics serve --workers 2`` with Redis and PostgreSQL (``--spread-db``), a point per second per job, the
100 drivers' phases spread over the second; baseline 1 subscriber per job; not pinned.

The schedule is open-loop: a point is posted at its time even if earlier PUTs have not been
answered yet (at most ``--max-in-flight``), as a driver's phone would. A closed loop (wait for
the answer, then post the next) would slow the driver down exactly when the server is slow and
hide that delay from the latencies.

``driverLocation`` keeps only the newest unread position per subscriber, so a subscriber that
falls behind skips points; at one point a second none should be skipped, so every posted point
that did not arrive counts as missing. The last point is never coalesced away, so the run waits
until every subscriber has it (at most ``--drain-timeout`` seconds).

Only loopback traffic; every process the benchmark starts is stopped on the way out.

The parts: ``fanout_server`` (the server, bare-send and Redis processes), ``fanout_bare`` (the
bare-send app), ``fanout_driver`` (the job and the points, over REST), ``fanout_clients`` (the
subscriber processes), ``fanout_scenario`` (one run), ``fanout_measure`` (RSS, CPU, spreads),
``fanout_spread`` (``--spread``), ``fanout_report`` (the tables), ``fanout_diagnose``
(``--diagnose``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

if not __package__:
    # Run as ``python bench/fanout.py``, which puts bench/ itself on sys.path: the modules beside
    # this one are parts of the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout_report import print_report, summary
from bench.fanout_scenario import Result, bare, run_scenario, service
from bench.fanout_server import CLIENT_CORE, SERVER_CORE, redis_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fan-out of driverLocation to many subscribers.")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--points", type=int, default=50, help="measured points per job")
    parser.add_argument("--broadcast", choices=["memory", "redis", "both"], default="both")
    parser.add_argument("--interval-ms", type=float, default=1000.0, help="time between a job's points")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of bare, baseline, service runs")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-send runs")
    parser.add_argument(
        "--bare-fanout",
        choices=["loop", "tasks"],
        default="loop",
        help="bare send: one loop over the sockets per point, or a task per socket",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the 1-subscriber(-per-job) baseline")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and the clients to cores"
    )
    parser.add_argument("--max-in-flight", type=int, default=100, help="unanswered tracking PUTs at most")
    parser.add_argument(
        "--client-procs",
        type=int,
        default=0,
        help="client processes (default 1, 2 above 200; --spread: one per 2,500, at least 2)",
    )
    parser.add_argument("--redis-db", type=int, default=15)
    parser.add_argument(
        "--drain-timeout", type=float, default=30.0, help="window = the schedule + this many seconds"
    )
    parser.add_argument("--spread", action="store_true", help="many jobs on serve --workers 2 instead")
    parser.add_argument("--spread-jobs", type=int, default=100)
    parser.add_argument("--spread-per-job", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2, help="--spread: the server's workers")
    parser.add_argument(
        "--spread-db",
        choices=["postgresql", "sqlite"],
        default="postgresql",
        help="--spread: the database (PostgreSQL, as several workers are deployed; database logistics_bench)",
    )
    parser.add_argument("--target-p99-ms", type=float, help="default 100 (--spread: 250)")
    parser.add_argument("--target-rss-mb", type=float, help="default 300 (--spread: 600, all workers)")
    parser.add_argument("--target-cpu-us", type=float, default=30.0, help="server CPU per delivery")
    parser.add_argument("--target-cpu-ratio", type=float, default=2.0, help="server CPU per delivery / bare")
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
    if min(args.subscribers, args.points, args.rounds, args.spread_jobs, args.spread_per_job) < 1:
        parser.error(
            "--subscribers, --points, --rounds, --spread-jobs and --spread-per-job must be at least 1"
        )
    if args.spread and args.diagnose is not None:
        parser.error("--diagnose needs a single uvicorn process: not with --spread")
    if args.target_p99_ms is None:
        args.target_p99_ms = 250.0 if args.spread else 100.0
    if args.target_rss_mb is None:
        args.target_rss_mb = 600.0 if args.spread else 300.0
    args.pin = not args.no_pin and not args.spread and {SERVER_CORE, CLIENT_CORE} <= os.sched_getaffinity(0)
    if args.diagnose is not None:
        args.diagnose = args.diagnose.resolve()
        args.diagnose.mkdir(parents=True, exist_ok=True)
    return args


async def single_job(args: argparse.Namespace) -> list[Result]:
    """``--rounds`` rounds of: bare N, then per backend the service with 1 and with N."""
    results: list[Result] = []
    counts = [args.subscribers] if args.no_baseline or args.subscribers == 1 else [1, args.subscribers]
    backends = ["memory", "redis"] if args.broadcast == "both" else [args.broadcast]
    n = args.subscribers
    procs = {count: max(1, min(args.client_procs or (1 if count <= 200 else 2), count)) for count in counts}
    async with contextlib.AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        for backend in backends:
            if backend == "memory":
                urls[backend] = "memory://"
            elif (url := await stack.enter_async_context(redis_server(args.redis_db))) is not None:
                urls[backend] = url
            else:
                print("redis: nothing answers on 127.0.0.1:6379 and redis-server is not installed; skipped")
        for round_ in range(1, args.rounds + 1):
            plan = [] if args.no_bare else [("bare", "", n)]
            plan += [(backend, url, count) for backend, url in urls.items() for count in counts]
            for run, url, count in plan:
                label = f"{run}-{count}-r{round_}"
                where = f" ({url})" if url else f" ({args.bare_fanout})"
                print(
                    f"round {round_}: {run}{where}: {count} subscriber(s), {args.points} points ...",
                    flush=True,
                )
                started = time.monotonic()
                result = Result(run, round_, 1, count, args.points, args.pin)
                deployment = bare(args, label) if run == "bare" else service(args, url, count, label)
                await run_scenario(args, deployment, result, procs[count], label)
                print(f"  {time.monotonic() - started:.0f} s: {summary(result)}", flush=True)
                results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A socket is a file descriptor on each side: lift the soft limit for this process and the
    # client processes and servers it starts (each of them has a limit of its own).
    total = args.spread_jobs * args.spread_per_job if args.spread else args.subscribers
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, total * 2 + 1024))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if args.pin:
        # Inherited by the client processes and any helper; the servers re-pin with taskset.
        os.sched_setaffinity(0, {CLIENT_CORE})
    if args.spread:
        from bench.fanout_spread import run_spread

        results = asyncio.run(run_spread(args))
    else:
        results = asyncio.run(single_job(args))
    if results:
        print_report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
