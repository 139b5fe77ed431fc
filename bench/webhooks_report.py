"""What a run of ``bench/webhooks.py`` found, and the tables it prints."""

from __future__ import annotations

import argparse
import math
import statistics
from dataclasses import dataclass, field

from bench.common import percentile, print_table
from bench.webhooks_support import SATURATED_MS

# --- what a run found, and its tables ---------------------------------------------------


@dataclass
class CostRound:
    label: str  # A: no endpoint, B: the merchant's
    walls: list[float]
    cpu_s: float
    events: int

    @property
    def p50_us(self) -> float:
        return percentile(self.walls, 50) * 1e6

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / len(self.walls) * 1e6


@dataclass
class Steady:
    rate: float
    n: int
    got: int  # answered 200
    p50: float  # ms, commit to arrival
    p99: float
    max: float
    late_p99: float  # ms the producer started a transition after its schedule
    cpu_pct: float  # this process (transitions and worker), of one core


@dataclass
class Result:
    db: str
    cost: list[CostRound] = field(default_factory=list)
    steady: list[Steady] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def cost_summary(result: Result) -> tuple[float, float, float]:
    """Medians over the rounds of A's and B's p50, and of the rounds' B/A."""
    a = [r.p50_us for r in result.cost if r.label == "A"]
    b = [r.p50_us for r in result.cost if r.label == "B"]
    return (
        statistics.median(a),
        statistics.median(b),
        statistics.median(y / x for x, y in zip(a, b, strict=True)),
    )


def n(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def report_database(result: Result, args: argparse.Namespace) -> None:
    f = result.figures
    print(f"\n{result.db}: 1. a transition without (A) and with (B) the merchant's endpoint")
    pairs = list(zip(result.cost[::2], result.cost[1::2], strict=True))
    rows = [
        [str(i + 1), n(a.p50_us), n(b.p50_us), f"{b.p50_us / a.p50_us:.2f}x", n(a.cpu_us), n(b.cpu_us)]
        for i, (a, b) in enumerate(pairs)
    ]
    for row, (_, b) in zip(rows, pairs, strict=True):
        row.append(f"{b.events / len(b.walls):.2f}")
    a_p50, b_p50, ratio = cost_summary(result)
    rows.append(["median", n(a_p50), n(b_p50), f"{ratio:.2f}x", "", "", ""])
    print_table(["round", "A p50 us", "B p50 us", "B/A", "A CPU us", "B CPU us", "B events/step"], rows)
    print(f"\n{result.db}: 2. one worker, {args.deliveries:,} events committed, batch {args.batch}")
    headers = ["deliveries/s", "answered 200", "CPU us/delivery", "PG CPU us/delivery", "PG backends started"]
    headers += ["receiver CPU%", "others CPU%"]
    row = [n(f["per_s"]), n(f["delivered"]), n(f["cpu_us"]), n(f["server_us"]), n(f["opened"])]
    print_table(headers, [[*row, n(f["receiver_pct"]), n(f["other_pct"])]])
    print(f"\n{result.db}: 2. commit to arrival, the worker's own loop, transitions at a steady rate")
    headers = ["rate/s", "events", "arrived", "p50 ms", "p99 ms", "max ms", "late p99 ms", "process CPU%"]
    rows = [
        [
            f"{st.rate:g}",
            f"{st.n:,}",
            f"{st.got:,}",
            *(n(v, 1) for v in (st.p50, st.p99, st.max, st.late_p99)),
        ]
        for st in result.steady
    ]
    for row, st in zip(rows, result.steady, strict=True):
        row.append(n(st.cpu_pct))
    print_table(headers, rows)
    if "retry_events" in f:
        print(f"\n{result.db}: 3. the receiver answers 500 to {args.fail_share:.0%} of requests")
        headers = ["events", "requests", "500s", "2xx once", "2xx twice+", "never", "out of order"]
        agrees = f["retry_attempts_match"] and f["retry_db_delivered"] == f["retry_events"]
        row = [n(f[key]) for key in ("retry_events", "retry_requests", "retry_500", "retry_once")]
        row += [n(f[key]) for key in ("retry_dupes", "retry_missing", "retry_disorder")]
        print_table(
            [*headers, "DB agrees", "all in s"], [[*row, "yes" if agrees else "NO", n(f["retry_s"], 1)]]
        )
    for note in result.notes:
        print(f"  ! {note}")


def summary(result: Result) -> str:
    a, b, ratio = cost_summary(result)
    f = result.figures
    text = (
        f"{result.db}: an endpoint adds {b - a:,.0f} us per transition ({ratio:.2f}x); "
        f"{f['per_s']:,.0f} deliveries/s at {f['cpu_us']:,.0f} us CPU each"
    )
    for st in result.steady:
        text += f", p99 {st.p99:,.0f} ms at {st.rate:g}/s"
        if st.late_p99 > SATURATED_MS:
            text += f" (saturated: transitions up to {st.late_p99 / 1000:.1f} s late)"
    if "retry_events" in f:
        once = f["retry_once"] == f["retry_events"] and not f["retry_disorder"] and not f["retry_dupes"]
        text += f", every event once and in order despite 500s: {'yes' if once else 'NO'}"
    return text


LEGEND = """\
CPU: this process's (process_time; on PostgreSQL the client side only). PG CPU: the local
server's backends for the database (/proc; a backend that ended during the run is missed).
late p99: how late the producer started a transition against its schedule (high: this
process's core was saturated). others CPU%: the rest of the machine, in % of one core."""


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(LEGEND)
    for result in results:
        report_database(result, args)
    print()
    print("Summary: " + "; ".join(summary(result) for result in results))
