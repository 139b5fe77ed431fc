"""Part 3 (``--capacity``): ``logistics serve --workers 2`` on PostgreSQL with Redis, under the
open-loop load of a whole fleet: every driver PUTs its position every 4 s and every customer
GETs its track every 5 s.

The generator (``hotpaths_openloop``) runs as a process of its own pinned to core 1; the server
is not pinned (its workers share both cores with it, as they would share a real machine). The
workers' ``VmRSS`` is sampled every half second while the load runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.fanout_server import redis_answers
from bench.hotpaths_load import REST
from bench.hotpaths_seed import Fleet, seed
from bench.hotpaths_servers import LOAD_CORE, Server, children, multi_worker, rss_mb

LOCATION_PERIOD_S, TRACK_PERIOD_S = 4.0, 5.0
OPENLOOP = Path(__file__).resolve().parent / "hotpaths_openloop.py"


@dataclass
class CapacityResult:
    generator: dict[str, Any]
    workers: int
    rss_peak_mb: dict[int, float] = field(default_factory=dict)
    window_s: float = 0.0


async def _check(fleet: Fleet, server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        put = await client.put(
            f"{REST}/location",
            headers={"Authorization": f"Bearer {fleet.driver_tokens[0]}"},
            json={"lat": 52.5, "lng": 13.4},
        )
        got = await client.get(
            f"{REST}/orders/{fleet.job_ids[0]}/track",
            headers={"Authorization": f"Bearer {fleet.customer_tokens[0]}"},
        )
    if put.status_code != 204 or got.status_code != 200:
        raise RuntimeError(
            f"capacity: the seeded data does not serve: PUT {put.status_code} {put.text[:300]}, "
            f"GET {got.status_code} {got.text[:300]}"
        )


async def _sample_rss(server: Server, peaks: dict[int, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for pid in children(server.pid):
            peaks[pid] = max(peaks.get(pid, 0.0), rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def capacity(args: argparse.Namespace, workdir: Path) -> CapacityResult | None:
    host_port = args.redis_url.split("//", 1)[1].split("/", 1)[0]
    if not redis_answers(int(host_port.rpartition(":")[2] or 6379)):
        print(f"capacity: nothing answers at {args.redis_url}; skipped", flush=True)
        return None
    print(
        f"capacity: logistics serve --workers {args.workers}, PostgreSQL + {args.redis_url}, "
        f"{args.capacity_drivers:,} drivers / {LOCATION_PERIOD_S:g} s, "
        f"{args.capacity_customers:,} customers / {TRACK_PERIOD_S:g} s ...",
        flush=True,
    )
    fleet = await seed("postgresql", args.capacity_drivers, args.capacity_customers, args.pg_url, workdir)
    plan_path, result_path = workdir / "openloop-plan.json", workdir / "openloop-result.json"
    async with multi_worker(fleet.url, args.redis_url, workdir, args.workers) as server:
        await _check(fleet, server)
        plan = {
            "port": server.port,
            "driver_tokens": fleet.driver_tokens,
            "driver_points": fleet.driver_points,
            "customer_tokens": fleet.customer_tokens,
            "job_ids": fleet.job_ids,
            "location_period_s": LOCATION_PERIOD_S,
            "track_period_s": TRACK_PERIOD_S,
            "ramp_s": args.capacity_ramp,
            "seconds": args.capacity_seconds,
            "drain_s": 10.0,
            "connections": args.connections,
            "server_pids": children(server.pid),
        }
        plan_path.write_text(json.dumps(plan))
        peaks: dict[int, float] = {}
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample_rss(server, peaks, stop))
        process = await asyncio.create_subprocess_exec(
            *("taskset", "-c", LOAD_CORE, sys.executable, str(OPENLOOP), str(plan_path), str(result_path)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        stop.set()
        await sampler
        if process.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{output.decode(errors='replace')[-3000:]}")
        generator = json.loads(result_path.read_text())
        log = server.log_tail(15)
    if "Traceback" in log or "ERROR" in log:
        print(f"  server log (tail):\n{log}", flush=True)
    return CapacityResult(generator, args.workers, peaks, args.capacity_seconds)
