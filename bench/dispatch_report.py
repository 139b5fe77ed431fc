"""The dispatch benchmark's tables: search latencies and their growth, and the city's distances."""

from __future__ import annotations

import argparse
import os

from bench.common import percentile, print_table
from bench.dispatch_city import CityResult
from bench.dispatch_search import SizeResult


def latency_rows(results: list[SizeResult], cpu: bool) -> list[list[str]]:
    rows = []
    for r in results:
        h3_ms, scan_ms = (r.h3_cpu_ms, r.scan_cpu_ms) if cpu else (r.h3_ms, r.scan_ms)
        floor_ms = r.floor_cpu_ms if cpu else r.floor_ms
        h50, h99 = percentile(h3_ms, 50), percentile(h3_ms, 99)
        s50, s99 = percentile(scan_ms, 50), percentile(scan_ms, 99)
        f50, f99 = percentile(floor_ms, 50), percentile(floor_ms, 99)
        row = [
            r.db,
            f"{r.drivers:,}",
            f"{f50:.3f}",
            f"{f99:.3f}",
            f"{len(h3_ms)}",
            f"{h50:.3f}",
            f"{h99:.3f}",
        ]
        row += [f"{h50 / f50:.1f}x"]
        row += [f"{len(scan_ms)}", f"{s50:.2f}", f"{s99:.2f}", f"{s50 / h50:.1f}x", f"{s99 / h99:.1f}x"]
        if not cpu:
            row += [f"{r.statements:.2f}", f"{r.agree}/{r.compared}", f"{r.found}/{len(h3_ms)}"]
        rows.append(row)
    return rows


LATENCY_HEADERS = ["db", "drivers", "SELECT 1 p50", "SELECT 1 p99", "n", "H3 p50", "H3 p99", "H3/SELECT 1"]
LATENCY_HEADERS += ["n scan", "scan p50", "scan p99"]
LATENCY_HEADERS += ["scan/H3 p50", "scan/H3 p99"]


def growth_rows(results: list[SizeResult], cpu: bool) -> list[list[str]]:
    by_key = {(r.db, r.drivers): r for r in results}
    rows = []
    for name in dict.fromkeys(r.db for r in results):
        small, large = by_key.get((name, 10_000)), by_key.get((name, 100_000))
        if small is None or large is None:
            continue
        pick = (lambda r: r.h3_cpu_ms) if cpu else (lambda r: r.h3_ms)
        scan = (lambda r: r.scan_cpu_ms) if cpu else (lambda r: r.scan_ms)
        g50 = percentile(pick(large), 50) / percentile(pick(small), 50)
        g99 = percentile(pick(large), 99) / percentile(pick(small), 99)
        s50 = percentile(scan(large), 50) / percentile(scan(small), 50)
        p99 = percentile(pick(large), 99)
        rows.append(
            [
                name,
                "CPU" if cpu else "wall",
                f"{g50:.2f}x",
                f"{g99:.2f}x",
                f"{s50:.1f}x",
                "yes" if g50 < 2 and g99 < 2 else "NO",
                f"{p99:.3f}",
                "yes" if p99 < 2 else "NO",
            ]
        )
    return rows


def report_search(results: list[SizeResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"1. Nearest-driver selection (want={args.want}, vehicle types of a small job, radius 10 km"
        f"{', PostgreSQL H3 with FOR UPDATE SKIP LOCKED' if args.lock else ''}): H3 ring search vs full scan"
    )
    print()
    print("   a) wall-clock latency, ms")
    print()
    print_table([*LATENCY_HEADERS, "SQL/search", "same nearest", "found"], latency_rows(results, cpu=False))
    print()
    print(
        "   b) CPU time of the benchmark process per search, ms (SQLite: all of it; PostgreSQL: client side)"
    )
    print()
    print_table(LATENCY_HEADERS, latency_rows(results, cpu=True))
    loads = ", ".join(f"{r.db} {r.drivers:,}: {r.load_avg[0]:.1f}->{r.load_avg[1]:.1f}" for r in results)
    print()
    print(f"   load average (1 min) over each measurement on {os.cpu_count()} CPUs: {loads}")

    rows = growth_rows(results, cpu=False) + growth_rows(results, cpu=True)
    if rows:
        print()
        print("   Growth of the H3 search from 10,000 to 100,000 drivers (goal: under 2x; p99 under 2 ms)")
        print()
        print_table(
            ["db", "time", "H3 p50", "H3 p99", "scan p50", "H3 < 2x", "H3 p99 @100k", "< 2 ms"],
            rows,
        )

    for r in {r.db: r for r in results}.values():
        print()
        print(f"   Plan of one ring query (the first ring), {r.db}, {r.drivers:,} drivers:")
        for line in r.plan:
            print(f"     {line}")


def report_city(results: list[CityResult]) -> None:
    print()
    print("2. Simulated city: greedy (nearest free driver, jobs in arrival order) vs optimal")
    print("   (linear_sum_assignment); pickup distances in metres, over all trials")
    print()
    rows = [
        [
            f"{r.drivers}",
            f"{r.jobs}",
            f"{r.trials}",
            f"{r.greedy_m:,.0f}",
            f"{r.optimal_m:,.0f}",
            f"{r.greedy_m / r.optimal_m:.3f}",
            f"{r.greedy_p90_m:,.0f}",
            f"{r.optimal_p90_m:,.0f}",
            f"{r.greedy_max_m:,.0f}",
            f"{r.optimal_max_m:,.0f}",
        ]
        for r in results
    ]
    print_table(
        [
            "drivers",
            "jobs",
            "trials",
            "greedy mean",
            "optimal mean",
            "greedy/optimal",
            "greedy p90",
            "optimal p90",
            "greedy max",
            "optimal max",
        ],
        rows,
    )
