"""Feed benchmark: N drivers subscribed to the ``availableJobs`` feed of one area while jobs are
booked and taken at a steady rate; a 1-subscriber baseline in the same run.

Run from the repository root with the venv active::

    python bench/feed.py                                  # 1,000 subscribers, 20 jobs/s, 20 s, 2 rounds
    python bench/feed.py --subscribers 200 --seconds 10 --rounds 1

Goal: 1,000 subscribers on the feed of one area while 20 jobs a second are created and taken,
p99 under 200 ms.

Each run (rounds alternate A B A B: A = 1 subscriber, B = N):

1. a fresh SQLite database from ``logistics migrate`` with N approved van drivers (the
   subscribers) and one car driver per job (the takers), inserted directly (``feed_seed``);
2. the service (``uvicorn logistics.app:create_app --factory``) pinned to core 0 with ``taskset``,
   jobs straight to the open feed (``LOGISTICS_DISPATCH_MAX_OFFERS=0``, why in ``feed_seed``);
   this process, the client processes and so the job creators run on core 1;
3. N subscribers in client processes, each a different driver with its own token and socket,
   subscribe to ``availableJobs(lat, lng, radiusM)`` of the same area (graphql-transport-ws,
   ``{"Authorization": "Bearer <token>"}`` in ``connection_init``);
4. warm-up jobs, booked and taken, until every subscriber has seen one enter, then one more
   that every subscriber must see leave;
5. jobs booked (quote, then order) open-loop at ``--rate`` for ``--seconds``, each accepted by a
   taker ``--dwell-ms`` after its order was sent (``feed_load``); every subscriber timestamps
   every change. Latency = arrival - send time of the order (entering) or of the accept
   (leaving), both ``time.time()`` on this machine;
6. the server's CPU and peak ``VmRSS``, the clients' and the machine's CPU over the window.

The parts: ``feed_seed`` (the database, the tokens, the server), ``feed_ws`` (a lean websocket
client), ``feed_clients`` (the subscriber processes), ``feed_load`` (the jobs over REST),
``feed_run`` (one run and its measurements), ``feed_report`` (the tables).

Only loopback traffic; every process the benchmark starts is stopped on the way out. It talks
to the server over HTTP and websockets only (the setup writes to the database directly), so it
measures any implementation of the fan-out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import time
from pathlib import Path

if not __package__:
    # Run as ``python bench/feed.py``, which puts bench/ itself on sys.path: the modules beside
    # this one are parts of the ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.feed_report import fmt, print_report
from bench.feed_run import Result, run_once
from bench.hotpaths_servers import LOAD_CORE, SERVER_CORE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="availableJobs subscribers while jobs are booked and taken.")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="jobs booked (and taken) per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="the booking schedule's length")
    parser.add_argument("--dwell-ms", type=float, default=1000.0, help="order sent -> accept sent")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs (A: 1 subscriber, B: N)")
    parser.add_argument("--radius-m", type=int, default=5000, help="the watched area's radius")
    parser.add_argument("--max-in-flight", type=int, default=200, help="jobs between booking and taken")
    parser.add_argument(
        "--drain-timeout", type=float, default=10.0, help="window = the schedule + dwell + this many seconds"
    )
    parser.add_argument("--client-procs", type=int, default=1, help="subscriber processes (all on core 1)")
    parser.add_argument("--broadcast-url", default="memory://")
    parser.add_argument("--target-p99-ms", type=float, default=200.0)
    parser.add_argument("--keep-temp", action="store_true", help="keep each run's temp dir (log, database)")
    args = parser.parse_args(argv)
    if min(args.subscribers, args.rounds, args.client_procs, args.max_in_flight) < 1:
        parser.error("--subscribers, --rounds, --client-procs, --max-in-flight: at least 1")
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    return args


async def main_async(args: argparse.Namespace) -> list[Result]:
    sides = [("A", 1), ("B", args.subscribers)] if args.subscribers > 1 else [("B", 1)]
    results = []
    for round_no in range(1, args.rounds + 1):
        for side, subscribers in sides:
            started = time.monotonic()
            print(f"{side}{round_no}: {subscribers} subscriber(s) ...", flush=True)
            r = await run_once(args, side, round_no, subscribers)
            print(
                f"    {time.monotonic() - started:.0f} s: {r.received}/{r.expected} changes, "
                f"p50 {fmt(r.latency.p50)} ms, p99 {fmt(r.latency.p99)} ms, "
                f"jobs {r.booked}/{r.taken} of {r.planned}, CPU% server {fmt(r.cpu.percent(r.cpu.server), 0)} "
                f"other {fmt(r.cpu.percent(r.cpu.others), 0)}",
                flush=True,
            )
            results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        print("feed: needs taskset and two cores (the server on one, the load on the other)", file=sys.stderr)
        return 2
    # The server is started under taskset on its core; everything else the benchmark starts
    # (client processes, migrate) inherits this process's core.
    if int(LOAD_CORE) not in os.sched_getaffinity(0) or int(SERVER_CORE) not in os.sched_getaffinity(0):
        print(f"feed: needs cores {SERVER_CORE} and {LOAD_CORE}", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {int(LOAD_CORE)})
    # A socket is a file descriptor on each side: lift the soft limit for this process and the
    # client processes it starts (the server gets it too).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, args.subscribers * 2 + 1024))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    results = asyncio.run(main_async(args))
    print_report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
