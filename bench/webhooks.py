"""Outbound webhooks: what an endpoint adds to a job's transition, and what one delivery worker
sends, how fast and how late.

Run from the repository root with the venv active::

    python bench/webhooks.py                          # SQLite and PostgreSQL, about 2 minutes
    python bench/webhooks.py --db sqlite --deliveries 500 --steady-seconds 5   # a quick look
    python bench/webhooks.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/other

For each database (SQLite in a temp file; PostgreSQL at ``--pg-url``, created if missing, its
tables dropped and re-created), a platform is built as the app builds it
(``app.build_platform``: no server, no dispatch loop, ``memory://`` broadcast) and jobs in
``pickup_started`` that a merchant ordered for itself are inserted directly, with their
drivers. A transition is one unit of work as a driver's step makes it: load the job,
``lifecycle.record_transition`` to the next status (timeline row, ``jobUpdated``, the feed
check and the webhook events), commit. The merchant's endpoint, when there is one, is a row of
``webhook_endpoints`` for every event type, pointing at the receiver.

1. Cost of an endpoint: ``--rounds`` (2) pairs A B, A without any endpoint, B with the
   merchant's; each walks ``--cost-jobs`` (60) fresh jobs through the six steps to
   ``completed`` (seven events a job), one step of every job at a time, and times each
   transaction (``perf_counter``) and the process's CPU (``process_time``: on SQLite all the
   database work, on PostgreSQL the client side only). No worker runs.
2. One worker: ``--deliveries`` (2,000) events committed first (four single-event steps per
   job, jobs interleaved), then ``WebhookWorker.run_once`` (batch ``--batch``) called until all
   are sent: deliveries/s, and CPU per delivery of this process and (local server) of the
   PostgreSQL backends. Then, latency: the worker's own loop (``start()``) while transitions
   are committed open loop at each of ``--steady-rates`` (50 and 100/s) for ``--steady-seconds``
   (10 s); each event's latency is the receiver's arrival time minus ``time.time()`` just after
   its commit, so the ``webhooks_due`` wake-up, the claim, the signed POST and the loop's
   sharing with the transitions are all in it.
3. Retries (unless ``--no-retries``): the receiver answers 500 to ``--fail-share`` (10 %) of
   requests at random, ``WEBHOOK_RETRY_BASE_S`` is ``--retry-base-s`` (0.2 s); ``--retry-events``
   (400) events are committed and the worker runs until each has one 2xx answer (or 60 s).
   Checked: every event answered 2xx exactly once, in commit order per job, and the database's
   attempt counts match the requests the receiver saw.

The receiver (``bench/webhooks_support.py``) is a bare asyncio HTTP/1.1 server in its own
process, pinned to core 0 (``taskset``); this process (producer and worker) is pinned to core 1
unless ``--no-pin``. PostgreSQL is not pinned: on a two-core machine it shares both. With other
work on the machine, trust the ratios and the CPU figures more than wall-clock throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

if not __package__:
    # Run as ``python bench/webhooks.py``: the modules beside this one are parts of the
    # ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import percentile
from bench.dispatch_fleet import create_tables, ensure_database
from bench.webhooks_report import CostRound, Result, Steady, report
from bench.webhooks_support import (
    WALK,
    Jobs,
    Receiver,
    add_endpoint,
    backends_cpu,
    backends_delta,
    clear_webhooks,
    commit_steps,
    count_events,
    event_keys,
    machine_busy_s,
    seed_jobs,
    transition,
)
from logistics.app import GC_THRESHOLDS, build_platform
from logistics.config import Settings
from logistics.models import WebhookDelivery
from logistics.platform import Platform
from logistics.webhooks.worker import BATCH, WebhookWorker

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/logistics_bench"
DRAIN_S = 15.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs of part 1")
    parser.add_argument("--cost-jobs", type=int, default=60, help="jobs walked per round of part 1")
    parser.add_argument("--deliveries", type=int, default=2000, help="events sent in the throughput run")
    parser.add_argument("--batch", type=int, default=BATCH, help="the worker's claim batch")
    parser.add_argument("--steady-rates", default="50,100", help="transitions a second, comma separated")
    parser.add_argument("--steady-seconds", type=float, default=10.0)
    parser.add_argument("--retry-events", type=int, default=400)
    parser.add_argument("--fail-share", type=float, default=0.1)
    parser.add_argument("--retry-base-s", type=float, default=0.2)
    parser.add_argument("--no-retries", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()
    args.steady_rates = [float(rate) for rate in args.steady_rates.split(",") if rate]
    if min(args.rounds, args.cost_jobs, args.deliveries, args.retry_events) < 1:
        parser.error("--rounds, --cost-jobs, --deliveries and --retry-events: at least 1")
    return args


def bench_settings(url: str, storage: Path, args: argparse.Namespace) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        database_url=url,
        broadcast_url="memory://",
        storage_dir=storage,
        dispatch_loop=False,
        webhook_retry_base_s=args.retry_base_s,
        webhook_allow_private=True,
    )


# --- part 1 ---------------------------------------------------------------------------------------


async def transition_cost(
    platform: Platform, jobs: Jobs, receiver: Receiver, args: argparse.Namespace
) -> list[CostRound]:
    rounds = []
    await clear_webhooks(platform)
    await add_endpoint(platform, receiver.url, platform.settings)
    for job_id in jobs.take(10):  # warm-up: caches, statements, the pools
        for status in WALK:
            await transition(platform, jobs, job_id, status)
    for _ in range(args.rounds):
        for label in ("A", "B"):
            await clear_webhooks(platform)
            if label == "B":
                await add_endpoint(platform, receiver.url, platform.settings)
            ids = jobs.take(args.cost_jobs)
            walls = []
            cpu = time.process_time()
            for status in WALK:
                for job_id in ids:
                    started = time.perf_counter()
                    await transition(platform, jobs, job_id, status)
                    walls.append(time.perf_counter() - started)
            rounds.append(CostRound(label, walls, time.process_time() - cpu, await count_events(platform)))
            print(f"  part 1 {label}: p50 {rounds[-1].p50_us:,.0f} us", flush=True)
    await clear_webhooks(platform)
    return rounds


# --- part 2 ---------------------------------------------------------------------------------------


async def throughput(
    platform: Platform, jobs: Jobs, receiver: Receiver, args: argparse.Namespace, result: Result
) -> None:
    await clear_webhooks(platform)
    await add_endpoint(platform, receiver.url, platform.settings)
    worker = WebhookWorker(platform, batch=args.batch)
    try:
        for job_id, status in commit_steps(jobs, 25):  # warm-up: connections
            await transition(platform, jobs, job_id, status)
        while await worker.run_once():
            pass
        await receiver.reset()
        for job_id, status in commit_steps(jobs, args.deliveries):
            await transition(platform, jobs, job_id, status)
        before = await backends_cpu(platform.db)
        busy, rcv = machine_busy_s(), receiver.cpu_s()
        wall, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while sent < args.deliveries:
            got = await worker.run_once()
            if not got:
                break
            sent += got
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = await backends_cpu(platform.db)
        busy, rcv = machine_busy_s() - busy, receiver.cpu_s() - rcv
    finally:
        await worker.stop()
    arrivals = await receiver.arrivals()
    delivered = len({event_id for event_id, _, status in arrivals if status == 200})
    server, opened = backends_delta(before, after)
    result.figures.update(
        sent=sent,
        delivered=delivered,
        per_s=sent / wall,
        cpu_us=cpu / sent * 1e6,
        server_us=server / sent * 1e6,
        opened=opened,
        receiver_pct=rcv / wall * 100,
        other_pct=max(0.0, busy - cpu - rcv - (0.0 if math.isnan(server) else server)) / wall * 100,
    )
    # At least one event a transition: completing the dropoff commits two (the step, the delivery).
    if delivered < args.deliveries:
        result.notes.append(f"throughput: {delivered} events answered 200 for {args.deliveries} transitions")


async def steady(
    platform: Platform, jobs: Jobs, receiver: Receiver, args: argparse.Namespace, rate: float
) -> Steady:
    await clear_webhooks(platform)
    await add_endpoint(platform, receiver.url, platform.settings)
    await receiver.reset()
    n = round(rate * args.steady_seconds)
    plan = commit_steps(jobs, n)
    committed: dict[tuple[str, str], float] = {}
    late: list[float] = []
    worker = WebhookWorker(platform, batch=args.batch)
    worker.start()
    try:
        await asyncio.sleep(0.2)
        start = time.monotonic() + 0.05
        wall, cpu = time.perf_counter(), time.process_time()
        for i, (job_id, status) in enumerate(plan):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            late.append(time.monotonic() - due)
            await transition(platform, jobs, job_id, status)
            committed[(job_id, status.value)] = time.time()
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline:
            if len(await receiver.arrivals()) >= n:
                break
            await asyncio.sleep(0.1)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await worker.stop()
    keys = await event_keys(platform)
    latencies = [
        at - committed[keys[event_id]] for event_id, at, status in await receiver.arrivals() if status == 200
    ]
    ms = [latency * 1000 for latency in latencies]
    return Steady(
        rate=rate,
        n=n,
        got=len(latencies),
        p50=percentile(ms, 50, nearest_rank=True),
        p99=percentile(ms, 99, nearest_rank=True),
        max=max(ms, default=math.nan),
        late_p99=percentile(late, 99) * 1000,
        cpu_pct=cpu / wall * 100,
    )


# --- part 3 ---------------------------------------------------------------------------------------


async def retries(
    platform: Platform, jobs: Jobs, receiver: Receiver, args: argparse.Namespace, result: Result
) -> None:
    await clear_webhooks(platform)
    await add_endpoint(platform, receiver.url, platform.settings)
    await receiver.reset(fail=args.fail_share, seed=args.seed)
    plan = commit_steps(jobs, args.retry_events)
    for job_id, status in plan:
        await transition(platform, jobs, job_id, status)
    keys = await event_keys(platform)
    worker = WebhookWorker(platform, batch=args.batch)
    started = time.monotonic()
    worker.start()
    try:
        while time.monotonic() - started < 60:
            arrivals = await receiver.arrivals()
            if len({event_id for event_id, _, code in arrivals if code == 200}) >= len(keys):
                break
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
    finally:
        await worker.stop()
    arrivals = await receiver.arrivals()
    ok = Counter(event_id for event_id, _, code in arrivals if code == 200)
    # Per job, the statuses in the order their 2xx arrived, against the order they were committed.
    arrived: dict[str, list[str]] = defaultdict(list)
    for event_id, _, code in sorted(arrivals, key=lambda arrival: arrival[1]):
        if code == 200:
            job_id, reported = keys[event_id]
            arrived[job_id].append(reported)
    expected: dict[str, list[str]] = defaultdict(list)
    for job_id, step in plan:
        expected[job_id].append(step.value)
    async with platform.db.session(write=False) as session:
        states = Counter((await session.execute(select(col(WebhookDelivery.status)))).scalars())
        attempts = (await session.execute(select(func.sum(col(WebhookDelivery.attempts))))).scalar_one()
    result.figures.update(
        retry_events=len(keys),
        retry_requests=len(arrivals),
        retry_500=sum(code == 500 for _, _, code in arrivals),
        retry_once=sum(count == 1 for count in ok.values()),
        retry_dupes=sum(count > 1 for count in ok.values()),
        retry_missing=len(set(keys) - set(ok)),
        retry_disorder=sum(arrived[job_id] != steps for job_id, steps in expected.items()),
        retry_db_delivered=states["delivered"],
        retry_attempts_match=float(attempts == len(arrivals)),
        retry_s=took,
    )


# --- the run --------------------------------------------------------------------------------------


async def run_database(
    name: str, url: str, args: argparse.Namespace, tmp: Path, receiver: Receiver
) -> Result:
    if name == "postgres":
        await ensure_database(url)
    await create_tables(url)
    platform = build_platform(bench_settings(url, tmp / f"storage-{name}", args))
    await platform.pubsub.connect()
    result = Result(name)
    try:
        events = [25, args.deliveries, args.retry_events]
        events += [round(rate * args.steady_seconds) for rate in args.steady_rates]
        n_jobs = 10 + 2 * args.rounds * args.cost_jobs + sum(math.ceil(n / 4) for n in events)
        jobs = await seed_jobs(platform, n_jobs, 50, args.seed)
        print(f"{name}: {n_jobs:,} jobs seeded", flush=True)
        # As the app's lifespan does once start-up is over.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        result.cost = await transition_cost(platform, jobs, receiver, args)
        await throughput(platform, jobs, receiver, args, result)
        print(f"  part 2: {result.figures['per_s']:,.0f} deliveries/s", flush=True)
        for rate in args.steady_rates:
            result.steady.append(await steady(platform, jobs, receiver, args, rate))
            print(f"  part 2: p99 {result.steady[-1].p99:,.1f} ms at {rate:g}/s", flush=True)
        if not args.no_retries:
            await retries(platform, jobs, receiver, args, result)
            print(f"  part 3: all delivered in {result.figures['retry_s']:.1f} s", flush=True)
    finally:
        gc.unfreeze()
        await platform.pubsub.disconnect()
        await platform.hub.close()
        await platform.db.dispose()
    return result


async def main_async(args: argparse.Namespace, receiver_core: int | None) -> None:
    results = []
    receiver = Receiver(receiver_core)
    await receiver.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
            targets = []
            if args.db in ("sqlite", "both"):
                targets.append(("sqlite", f"sqlite+aiosqlite:///{Path(tmp) / 'webhooks.db'}"))
            if args.db in ("postgres", "both"):
                targets.append(("postgres", args.pg_url))
            for name, url in targets:
                results.append(await run_database(name, url, args, Path(tmp), receiver))
    finally:
        await receiver.stop()
    report(results, args)


def main() -> None:
    args = parse_args()
    receiver_core = None
    cores = sorted(os.sched_getaffinity(0))
    if not args.no_pin and len(cores) >= 2:
        # Before any thread starts (aiosqlite's inherit it): this process on one core, the
        # receiver on another.
        receiver_core = cores[0]
        os.sched_setaffinity(0, {cores[1]})
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args, receiver_core))


if __name__ == "__main__":
    main()
