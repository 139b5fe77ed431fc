"""The hot-path tables: closed-loop throughput per database with its goals, the core loop's step
latencies, and the capacity run with its goals."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence

from bench.common import percentile, print_table
from bench.hotpaths_capacity import CapacityResult
from bench.hotpaths_load import WrkResult
from bench.hotpaths_throughput import PathResult


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def ratios(result: PathResult) -> list[float]:
    return [a.rps / b.rps if b.rps else float("nan") for a, b in result.rounds]


def _both(a_side: list[WrkResult], b_side: list[WrkResult], what: Callable[[WrkResult], float]) -> str:
    return f"{_median([what(r) for r in a_side]):.0f}/{_median([what(r) for r in b_side]):.0f}"


def _latency(side: list[WrkResult]) -> str:
    return f"{_ms(_median([r.p50_ms for r in side]))}/{_ms(_median([r.p99_ms for r in side]))}"


def _failed(side: Sequence[WrkResult]) -> int:
    return sum(r.bad + r.socket_errors + r.timeouts for r in side)


def print_throughput(db: str, results: list[PathResult], seconds: float) -> None:
    print(f"\nClosed-loop throughput, {db} (wrk -t1 -c64, {seconds:g} s per run; medians over the rounds)")
    headers = ["path (A vs B)", "A req/s", "A p50/p99 ms", "B req/s", "B p50/p99 ms", "A/B median"]
    headers += ["A/B min", "non-2xx A/B", "srv CPU% A/B", "other CPU% A/B"]
    rows = []
    for result in results:
        a_side, b_side = [a for a, _ in result.rounds], [b for _, b in result.rounds]
        spec = result.spec
        rows.append(
            [
                f"{spec.name} ({spec.a_label} vs {spec.b_label})",
                f"{_median([r.rps for r in a_side]):,.0f}",
                _latency(a_side),
                f"{_median([r.rps for r in b_side]):,.0f}",
                _latency(b_side),
                f"{_median(ratios(result)):.2f}x",
                f"{min(ratios(result)):.2f}x",
                f"{_failed(a_side)}/{_failed(b_side)}",
                _both(a_side, b_side, lambda r: r.server_cpu_pct),
                _both(a_side, b_side, lambda r: r.other_cpu_pct),
            ]
        )
    print_table(headers, rows, bars=True)
    print("Goals:")
    for result in results:
        spec, median, low = result.spec, _median(ratios(result)), min(ratios(result))
        line = f"  {spec.name}: {spec.a_label}/{spec.b_label} {median:.2f}x >= {spec.goal:.1f}x"
        line += f": {_met(median >= spec.goal)}"
        if spec.floor is not None:
            line += f"; never below {spec.floor:.1f}x (min {low:.2f}x): {_met(low >= spec.floor)}"
        bad = _failed([r for pair in result.rounds for r in pair])
        if bad:
            line += f"; {bad} answers were not 2xx (or were errors): the ratio is not a fair one"
        print(line)


def print_loop(db: str, timings: dict[str, list[float]]) -> None:
    count = max((len(v) for v in timings.values()), default=0)
    print(f"\nCore loop, {db}: each step's latency over {count} walks, one request at a time")
    rows = []
    for step, values in timings.items():
        p50, p99 = percentile(values, 50), percentile(values, 99, nearest_rank=True)
        rows.append([step, _ms(p50), _ms(p99), _ms(max(values))])
    total = [sum(values[i] for values in timings.values()) for i in range(count)]
    rows.append(
        [
            "(whole loop)",
            _ms(percentile(total, 50)),
            _ms(percentile(total, 99, nearest_rank=True)),
            _ms(max(total, default=float("nan"))),
        ]
    )
    print_table(["step", "p50 ms", "p99 ms", "max ms"], rows, bars=True)


def print_capacity(result: CapacityResult, target_p99_ms: float, target_rss_mb: float) -> None:
    gen = result.generator
    print(f"\nCapacity: logistics serve --workers {result.workers}, open loop, {result.window_s:g} s window")
    rows, problems, worst_p99 = [], 0, 0.0
    for name in ("location", "track"):
        kind = gen[name]
        latencies = kind["latency_ms"]
        p99 = percentile(latencies, 99, nearest_rank=True)
        worst_p99 = max(worst_p99, p99 if latencies else float("inf"))
        problems += kind["non_2xx"] + kind["errors"] + kind["lost"]
        rows.append(
            [
                "PUT /location" if name == "location" else "GET /orders/:id/track",
                f"{kind['scheduled']:,} ({kind['scheduled_rps']:,.0f}/s)",
                f"{kind['answered']:,}",
                f"{kind['non_2xx']}/{kind['errors']}/{kind['lost']}",
                _ms(percentile(latencies, 50)),
                _ms(p99),
                _ms(max(latencies, default=float("nan"))),
            ]
        )
    headers = ["path", "scheduled", "answered", "non-2xx/err/lost", "p50 ms", "p99 ms", "max ms"]
    print_table(headers, rows, bars=True)
    late = gen["lateness_ms"]
    scheduled = sum(gen[n]["scheduled_rps"] for n in ("location", "track"))
    achieved = sum(gen[n]["sent_rps"] for n in ("location", "track"))
    print(
        f"Generator: {gen['cpu_pct']:.0f}% of its core, sent {achieved:,.0f}/s of {scheduled:,.0f}/s "
        f"scheduled over {gen['connections']} connections; send lateness p50 {_ms(percentile(late, 50))}, "
        f"p99 {_ms(percentile(late, 99, nearest_rank=True))}, max {_ms(max(late, default=float('nan')))} ms; "
        f"{gen['waited_for_connection']:,} sends waited for a free connection"
    )
    # The generator's own lag and CPU say whether it kept its schedule; a send rate below the
    # schedule with sends waiting for a connection is the server's doing (all 200 were busy).
    on_time = gen["cpu_pct"] < 80 and percentile(late, 99, nearest_rank=True) < 20
    verdict = "kept its schedule (outran the server)" if on_time else "fell behind its schedule"
    if achieved < 0.99 * scheduled and gen["waited_for_connection"]:
        verdict += "; the rate fell short because every connection was waiting on the server"
    print(f"  the generator {verdict}")
    print(
        f"CPU over the window: workers {gen['server_cpu_pct']:.0f}% of one core, the whole machine "
        f"{gen['machine_cpu_pct']:.0f}% of {100 * (os.cpu_count() or 1)}%"
    )
    rss = result.rss_peak_mb
    print(
        "Worker RSS (peak VmRSS): "
        + (", ".join(f"pid {pid} {mb:.0f} MB" for pid, mb in rss.items()) or "none seen")
    )
    print("Goals:")
    p99_met = _met(worst_p99 < target_p99_ms)
    print(f"  p99 < {target_p99_ms:g} ms on both paths (worst {_ms(worst_p99)} ms): {p99_met}")
    print(f"  nothing lost (non-2xx + errors + lost = {problems}): {_met(problems == 0)}")
    peak = max(rss.values(), default=float("inf"))
    print(f"  RSS per worker < {target_rss_mb:g} MB (peak {peak:.0f} MB): {_met(peak < target_rss_mb)}")
