"""The tables of ``dispatch_batch.py``: per scenario, greedy, batched and the hindsight optimum
side by side, and each goal of the issue met or missed."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.common import percentile, print_table
from bench.dispatch_batch_sim import Run

WINDOW_S = 2.0  # the window the goals are stated for


@dataclass
class Capacity:
    per_min: float  # orders a minute
    busy: float  # share of the fleet on a trip at that throughput
    pickup_m: float  # the nominal pickup there
    trip_s: float  # the mean trip there


@dataclass
class SteadyCase:
    load: float
    drivers: int
    capacity: Capacity
    runs: list[Run]


@dataclass
class SolveTiming:
    drivers: int
    jobs: int
    solve_ms: list[float]
    greedy_ms: list[float]
    edges: float
    matched: float
    greedy_matched: float
    vs_all_edges: float | None  # total pickup with the nearest drivers only / with every edge


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def figure(value: float, spec: str) -> str:
    return "-" if math.isnan(value) else format(value, spec)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def all_waits(run: Run) -> list[float]:
    return run.waits_s + run.unserved_waits_s


def run_row(run: Run, optimum: Run | None) -> list[str]:
    ratio = mean(run.pickups_m) / mean(optimum.pickups_m) if optimum else math.nan
    waits = all_waits(run)
    return [
        run.policy,
        f"{len(run.waits_s)}/{run.orders}",
        figure(mean(run.pickups_m), ",.0f"),
        figure(percentile(run.pickups_m, 90), ",.0f"),
        figure(ratio, ".3f"),
        f"{percentile(waits, 50):.1f}",
        f"{percentile(waits, 99):.1f}",
        f"{max(waits, default=0):.1f}",
        f"{percentile(run.solve_ms, 50):.2f}" if run.solve_ms else "-",
        f"{max(run.solve_ms):.2f}" if run.solve_ms else "-",
    ]


RUN_HEADERS = ["policy", "served", "pickup mean m", "p90 m", "/optimum"]
RUN_HEADERS += ["offer p50 s", "p99 s", "max s", "solve p50 ms", "max ms"]


def by_policy(runs: list[Run]) -> dict[str, Run]:
    return {r.policy: r for r in runs}


def report_burst(title: str, runs: list[Run], trials: int) -> dict[str, Run]:
    print()
    print(f"{title} ({trials} trials, figures over all of their orders)")
    print()
    named = by_policy(runs)
    optimum = named["hindsight optimum"]
    print_table(RUN_HEADERS, [run_row(r, optimum if r is not optimum else None) for r in runs])
    return named


def report_small_burst(runs: list[Run], trials: int) -> list[tuple[str, str, str]]:
    named = report_burst("1. A burst in one window: 300 drivers, 200 orders in 2 s", runs, trials)
    batched, optimum = named[f"batched {WINDOW_S:g} s"], named["hindsight optimum"]
    ratio = mean(batched.pickups_m) / mean(optimum.pickups_m)
    median = percentile(all_waits(batched), 50)
    return [
        ("1 burst: batched mean pickup within 5% of optimal", f"{ratio:.3f}x", verdict(ratio <= 1.05)),
        ("1 burst: batched median order-to-offer under 5 s", f"{median:.2f} s", verdict(median < 5)),
    ]


def report_large_burst(runs: list[Run], trials: int) -> list[tuple[str, str, str]]:
    named = report_burst("3. A large burst: 1,000 drivers, 800 orders at 32/s", runs, trials)
    optimum, greedy = named["hindsight optimum"], named["greedy"]
    greedy_ratio = mean(greedy.pickups_m) / mean(optimum.pickups_m)
    goals = []
    for run in runs:
        if run.policy.startswith("batched"):
            ratio = mean(run.pickups_m) / mean(optimum.pickups_m)
            goals.append(
                (
                    f"3 large burst: {run.policy} ratio to optimal beside greedy's",
                    f"{ratio:.3f} vs {greedy_ratio:.3f}",
                    "below greedy" if ratio < greedy_ratio else "NOT below greedy",
                )
            )
    return goals


def report_steady(cases: list[SteadyCase], minutes: float, warmup_min: float) -> list[tuple[str, str, str]]:
    print()
    print(
        f"2. Steady state near saturation: {minutes:g} measured minutes after {warmup_min:g} of warm-up; "
        "pickups of the offers made in them, waits of the orders arriving in them"
    )
    goals = []
    for case in cases:
        print()
        cap = case.capacity
        print(
            f"   load {case.load:.0%} of what {case.drivers:,} drivers can serve ({cap.per_min:.1f} orders/min, "
            f"at {cap.busy:.0%} busy: nominal pickup {cap.pickup_m:,.0f} m, trip {cap.trip_s:.0f} s): "
            f"{case.load * cap.per_min:.1f} orders/min; hindsight optimum n/a (drivers are reused)"
        )
        print()
        rows = []
        for run in case.runs:
            waits = all_waits(run)
            slow = sum(w > 3 * WINDOW_S for w in waits)
            rows.append(
                [*run_row(run, None), f"{slow}", f"{len(run.unserved_waits_s)}", f"{run.starved_max_s:.1f}"]
            )
        print_table([*RUN_HEADERS, "> 3 windows", "left", "starved max s"], rows)
        named = by_policy(case.runs)
        greedy, batched = named["greedy"], named[f"batched {WINDOW_S:g} s"]
        share = mean(batched.pickups_m) / mean(greedy.pickups_m)
        goals.append(
            (
                f"2 steady {case.load:.0%}: batched mean pickup at most half of greedy's",
                f"{figure(share, '.2f')}x",
                verdict(share <= 0.5),
            )
        )
        goals.append(
            (
                f"2 steady {case.load:.0%}: no job waits > 3 windows with an eligible driver free",
                f"{batched.starved_max_s:.1f} s",
                verdict(batched.starved_max_s <= 3 * WINDOW_S),
            )
        )
    return goals


LIMIT_MS = {(1_000, 800): 50.0, (5_000, 4_000): 250.0}


def report_solve(timings: list[SolveTiming]) -> list[tuple[str, str, str]]:
    print()
    print("4. One window's solve on random instances (edges, matching and result; greedy beside it)")
    print()
    rows, goals = [], []
    for t in timings:
        p99 = percentile(t.solve_ms, 99)
        limit = LIMIT_MS.get((t.drivers, t.jobs))
        rows.append(
            [
                f"{t.drivers:,} x {t.jobs:,}",
                f"{len(t.solve_ms)}",
                f"{t.edges:,.0f}",
                f"{t.matched:,.0f}",
                f"{t.greedy_matched:,.0f}",
                f"{percentile(t.solve_ms, 50):.1f}",
                f"{p99:.1f}",
                f"{max(t.solve_ms):.1f}",
                f"{percentile(t.greedy_ms, 50):.1f}",
                "-" if t.vs_all_edges is None else f"{t.vs_all_edges:.4f}",
            ]
        )
        if limit is not None:
            goals.append(
                (
                    f"4 solve {t.drivers:,} x {t.jobs:,}: p99 under {limit:g} ms",
                    f"{p99:.1f} ms",
                    verdict(p99 < limit),
                )
            )
    print_table(
        [
            "drivers x jobs",
            "runs",
            "edges",
            "matched",
            "greedy matched",
            "solve p50 ms",
            "p99 ms",
            "max ms",
            "greedy p50 ms",
            "pickup/all edges",
        ],
        rows,
    )
    return goals


def report_goals(goals: list[tuple[str, str, str]]) -> None:
    print()
    print("Goals")
    print()
    print_table(["goal", "measured", "verdict"], [list(g) for g in goals], bars=True)
