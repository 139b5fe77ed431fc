"""Part 1: closed-loop throughput of each hot path, A against B, rounds alternating A B A B.

A is what is measured, B what it is compared with: the service against the bare baseline for
``location`` and ``track``, and the service's GraphQL ``trackOrder`` against its own REST track
for ``graphql-track``. Before every measured run the same side gets ``--warmup`` seconds of the
same load, not recorded, so that neither side inherits the other's caches or a cold pool.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import httpx

from bench.hotpaths_load import REST, TRACK_QUERY, WrkResult, run_wrk, write_script
from bench.hotpaths_seed import Fleet, scratch_dir
from bench.hotpaths_servers import Server


@dataclass(frozen=True)
class PathSpec:
    name: str
    a_label: str
    b_label: str
    a_mode: str
    b_mode: str
    # The goal on the median ratio A/B, and the floor no round may fall under (None: no floor).
    goal: float
    floor: float | None = None


PATHS = {
    "location": PathSpec("location", "service", "baseline", "location", "location", 1.0, 0.8),
    "track": PathSpec("track", "service", "baseline", "track", "track", 0.8),
    "graphql-track": PathSpec("graphql-track", "GraphQL", "REST", "graphql", "track", 0.8),
    # The same two paths against the bare app on SQLAlchemy Core (``hotpaths_baseline_orm``).
    "location-orm": PathSpec("location-orm", "service", "ORM baseline", "location", "location", 1.0, 0.8),
    "track-orm": PathSpec("track-orm", "service", "ORM baseline", "track", "track", 0.8),
}


@dataclass
class PathResult:
    spec: PathSpec
    rounds: list[tuple[WrkResult, WrkResult]] = field(default_factory=list)


async def verify(fleet: Fleet, service: Server, baseline: Server) -> None:
    """One real request to every path on each server; stops the run if any answer is wrong."""
    driver = {"Authorization": f"Bearer {fleet.driver_tokens[0]}"}
    customer = {"Authorization": f"Bearer {fleet.customer_tokens[0]}"}
    track = f"{REST}/orders/{fleet.job_ids[0]}/track"
    problems = []
    for server in (service, baseline):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            put = await client.put(f"{REST}/location", headers=driver, json={"lat": 52.5, "lng": 13.4})
            if put.status_code != 204:
                problems.append(f"{server.label} PUT /location: {put.status_code} {put.text[:300]}")
            got = await client.get(track, headers=customer)
            if got.status_code != 200:
                problems.append(f"{server.label} GET track: {got.status_code} {got.text[:300]}")
            elif server is service and (got.json().get("driver") is None or got.json().get("eta") is None):
                problems.append(f"service GET track: no driver or ETA in {got.text[:300]}")
            if server is service:
                body = {"query": TRACK_QUERY, "variables": {"id": fleet.job_ids[0]}}
                gql = await client.post("/graphql", headers=customer, json=body)
                if gql.status_code != 200 or "errors" in gql.json() or not gql.json().get("data"):
                    problems.append(f"service GraphQL trackOrder: {gql.status_code} {gql.text[:300]}")
    if problems:
        raise RuntimeError(f"{fleet.db}: the seeded data does not serve:\n  " + "\n  ".join(problems))
    print(f"  verified: both servers answer 204 and 200 ({fleet.db})", flush=True)


def _show(label: str, result: WrkResult) -> str:
    return (
        f"{label} {result.rps:,.0f} req/s p50 {result.p50_ms:.1f} p99 {result.p99_ms:.1f} ms"
        f" (CPU srv {result.server_cpu_pct:.0f}% other {result.other_cpu_pct:.0f}%, non-2xx {result.bad},"
        f" socket errors {result.socket_errors}, timeouts {result.timeouts})"
    )


async def throughput(
    fleet: Fleet, service: Server, baselines: dict[str, Server], args: argparse.Namespace
) -> list[PathResult]:
    servers = {"service": service, "GraphQL": service, "REST": service, **baselines}
    scripts_dir = scratch_dir()
    results = []
    for name in args.paths:
        spec = PATHS[name]
        scripts = {mode: write_script(mode, fleet, scripts_dir) for mode in {spec.a_mode, spec.b_mode}}
        sides = ((spec.a_label, spec.a_mode), (spec.b_label, spec.b_mode))
        result = PathResult(spec)
        for round_no in range(1, args.rounds + 1):
            measured = []
            for label, mode in sides:
                if args.warmup > 0:
                    await run_wrk(servers[label], scripts[mode], args.warmup)
                measured.append(await run_wrk(servers[label], scripts[mode], args.seconds))
            a, b = measured
            result.rounds.append((a, b))
            ratio = a.rps / b.rps if b.rps else float("nan")
            print(
                f"  {fleet.db} {name} round {round_no}: {_show(spec.a_label, a)}; "
                f"{_show(spec.b_label, b)}; ratio {ratio:.2f}",
                flush=True,
            )
        results.append(result)
    for path in scripts_dir.iterdir():
        path.unlink()
    scripts_dir.rmdir()
    return results
