"""``--spread``: 10,000 subscribers over 100 jobs (100 per job) on ``logistics serve --workers 2``.

Per run, a fresh SQLite file gets ``--spread-jobs`` drivers (approved, online) and as many
customers, each with a job in ``pickup_started`` assigned to its own driver, inserted directly by
``hotpaths_seed`` (100 jobs over REST would take minutes and exercise dispatch, not fan-out).
The server is ``python -m logistics.cli serve --workers N`` with the service's environment
(``fanout_server.server_env``'s settings, the seed's JWT secret) and the broadcast on
``redis://127.0.0.1:6379/<--redis-db>`` (memory:// cannot reach the other worker's sockets).
Every driver posts one point per ``--interval-ms``, driver ``j`` ``j/100`` of an interval after
the first. Its workers (the children of the serve process) are measured together: their CPU and
the sum of their ``VmRSS``.

Nothing is pinned: two workers need both cores, so the clients and the driver share them.
This module imports the service (the seed builds its rows with it), so ``fanout`` imports it
only for ``--spread``: the client processes re-import ``fanout``'s modules and need none of it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator

import httpx

from bench.fanout_driver import Job
from bench.fanout_report import summary
from bench.fanout_scenario import Deployed, Result, run_scenario
from bench.fanout_server import Server, free_port, redis_server, scratch
from bench.hotpaths_seed import PG_URL, seed, service_env
from bench.hotpaths_servers import children
from bench.hotpaths_servers import server as start_server

SUBSCRIBERS_PER_CLIENT_PROCESS = 2_500


async def workers_of(supervisor: Server, count: int, limit_s: float = 60) -> list[int]:
    """The worker pids, once all ``count`` are up and answering (``/readyz`` reaches any one)."""
    deadline = time.monotonic() + limit_s
    while len(pids := children(supervisor.pid)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(pids)} of {count} workers after {limit_s:.0f} s:\n{supervisor.log_tail()}"
            )
        await asyncio.sleep(0.2)
    async with httpx.AsyncClient(base_url=supervisor.base_url, timeout=30) as client:
        for _ in range(4 * count):
            (await client.get("/readyz", headers={"Connection": "close"})).raise_for_status()
    return pids


@contextlib.asynccontextmanager
async def spread_service(
    args: argparse.Namespace, broadcast_url: str, per_job: int, label: str
) -> AsyncIterator[Deployed]:
    async with scratch(args) as workdir:
        fleet = await seed(args.spread_db, args.spread_jobs, args.spread_jobs, PG_URL, workdir)
        env = service_env(
            fleet.url,
            LOGISTICS_BROADCAST_URL=broadcast_url,
            LOGISTICS_DRIVER_AUTO_APPROVE="true",
            # A job's subscribers all hold its customer's token: the per-user limit must admit them.
            LOGISTICS_WS_MAX_CONNECTIONS_PER_USER=str(per_job + 100),
            LOGISTICS_STORAGE_DIR=str(workdir / "storage"),
        )
        port = free_port()
        command = [sys.executable, "-m", "logistics.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--workers", str(args.workers), "--no-access-log"]
        async with start_server("serve", command, env, workdir, port) as running:
            server = Server(running.process, running.base_url, running.log_path, None)
            pids = await workers_of(server, args.workers)
            jobs = [
                Job(job_id, customer, driver)
                for job_id, customer, driver in zip(
                    fleet.job_ids, fleet.customer_tokens, fleet.driver_tokens, strict=True
                )
            ]
            yield Deployed(server, jobs, pids)


async def run_spread(args: argparse.Namespace) -> list[Result]:
    """``--rounds`` rounds of the baseline (one subscriber per job) and then N per job."""
    per_job_counts = [args.spread_per_job] if args.no_baseline else [1, args.spread_per_job]
    results: list[Result] = []
    print(
        f"spread: logistics serve --workers {args.workers}, {args.spread_jobs} jobs, not pinned "
        "(the workers need both cores; clients and drivers share them)",
        flush=True,
    )
    async with redis_server(args.redis_db) as url:
        if url is None:
            print("spread: nothing answers on 127.0.0.1:6379 and redis-server is not installed; skipped")
            return results
        for round_ in range(1, args.rounds + 1):
            for per_job in per_job_counts:
                total = per_job * args.spread_jobs
                procs = args.client_procs or max(2, -(-total // SUBSCRIBERS_PER_CLIENT_PROCESS))
                label = f"spread-{per_job}x{args.spread_jobs}-r{round_}"
                print(
                    f"round {round_}: spread redis ({url}): {args.spread_jobs} jobs x {per_job} = {total} "
                    f"subscribers in {procs} client processes, {args.points} points per job ...",
                    flush=True,
                )
                started = time.monotonic()
                result = Result("spread redis", round_, args.spread_jobs, total, args.points, False)
                deployment = spread_service(args, url, per_job, label)
                await run_scenario(args, deployment, result, procs, label)
                print(f"  {time.monotonic() - started:.0f} s: {summary(result)}", flush=True)
                results.append(result)
    return results
