"""The feed tables: every run, then the baseline beside N subscribers, and the goal."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable

from bench.common import print_table
from bench.feed_run import Result


def fmt(value: float, digits: int = 1) -> str:
    """``value`` rounded; ``-`` for NaN (nothing measured), ``lost`` for a percentile that falls
    on deliveries that never arrived."""
    if value != value:
        return "-"
    if math.isinf(value):
        return "lost"
    return f"{value:.{digits}f}"


def _per_delivery_us(r: Result) -> float:
    return r.cpu.server * 1e6 / r.received if r.received else math.nan


def _per_job_ms(r: Result) -> float:
    return r.cpu.server * 1e3 / r.booked if r.booked else math.nan


def _cpu(r: Result) -> str:
    return "/".join(fmt(r.cpu.percent(s), 0) for s in (r.cpu.server, r.cpu.clients, r.cpu.load, r.cpu.others))


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("run", lambda r: f"{r.side}{r.round}"),
    ("subscribers", lambda r: str(r.subscribers)),
    ("jobs booked/taken", lambda r: f"{r.booked}/{r.taken} of {r.planned}"),
    ("changes received", lambda r: f"{r.received}/{r.expected} ({r.received / max(1, r.expected):.0%})"),
    ("p50 ms", lambda r: fmt(r.latency.p50)),
    ("p99 ms", lambda r: fmt(r.latency.p99)),
    ("max ms", lambda r: fmt(r.latency.maximum)),
    ("p99 enter/leave ms", lambda r: f"{fmt(r.entered.p99)}/{fmt(r.left.p99)}"),
    ("order/accept p99 ms", lambda r: f"{fmt(r.orders.p99, 0)}/{fmt(r.accepts.p99, 0)}"),
    ("srv CPU us/deliv", lambda r: fmt(_per_delivery_us(r), 0)),
    ("srv CPU ms/job", lambda r: fmt(_per_job_ms(r))),
    ("srv RSS peak MB", lambda r: fmt(r.rss_peak_mb, 0)),
    ("CPU% srv/cli/load/other", _cpu),
    ("cli lag p99 ms", lambda r: fmt(r.lag_p99_ms)),
]

# The side-by-side summary: (label, value of a run); medians over the rounds.
SUMMARY: list[tuple[str, Callable[[Result], float]]] = [
    ("changes received %", lambda r: r.received / max(1, r.expected) * 100),
    ("p50 ms", lambda r: r.latency.p50),
    ("p99 ms", lambda r: r.latency.p99),
    ("max ms", lambda r: r.latency.maximum),
    ("p99 entering ms", lambda r: r.entered.p99),
    ("p99 leaving ms", lambda r: r.left.p99),
    ("order p99 ms", lambda r: r.orders.p99),
    ("accept p99 ms", lambda r: r.accepts.p99),
    ("server CPU us/delivery", _per_delivery_us),
    ("server CPU ms/job", _per_job_ms),
    ("server CPU %", lambda r: r.cpu.percent(r.cpu.server)),
    ("server RSS peak MB", lambda r: r.rss_peak_mb),
    ("server RSS live MB", lambda r: r.rss_live_mb),
    ("clients CPU %", lambda r: r.cpu.percent(r.cpu.clients)),
    ("job creators CPU %", lambda r: r.cpu.percent(r.cpu.load)),
    ("other CPU %", lambda r: r.cpu.percent(r.cpu.others)),
    ("client lag p99 ms", lambda r: r.lag_p99_ms),
]


def _median(values: list[float]) -> float:
    # inf sorts last and NaN is dropped: a lost p99 in most rounds stays lost.
    known = sorted(v for v in values if v == v)
    return statistics.median_low(known) if known else math.nan


def meets_goal(r: Result, target_ms: float) -> bool:
    """p99 under the target, nothing lost, and the load delivered: every job scheduled was booked
    and taken within the window (a server too slow to book them has not met the goal either)."""
    return r.latency.p99 < target_ms and r.received >= r.expected and r.booked == r.taken == r.planned


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print_table([name for name, _ in COLUMNS], [[show(r) for _, show in COLUMNS] for r in results], bars=True)
    sides = {side: [r for r in results if r.side == side] for side in dict.fromkeys(r.side for r in results)}
    headers = ["median of rounds", *(f"{runs[0].subscribers} subscriber(s)" for runs in sides.values())]
    rows = [
        [label, *(fmt(_median([value(r) for r in runs])) for runs in sides.values())]
        for label, value in SUMMARY
    ]
    print()
    print_table(headers, rows, bars=True)
    print()
    for r in results:
        if r.duplicates or r.strays or r.closed or r.resubscribed or r.notes:
            print(
                f"{r.side}{r.round} ({r.subscribers}): closed={r.closed} duplicates={r.duplicates} "
                f"strays={r.strays} resubscribed={r.resubscribed} {'; '.join(r.notes[:4])}"
            )
    measured = [r for r in results if r.subscribers == args.subscribers]
    met = [r for r in measured if meets_goal(r, args.target_p99_ms)]
    verdict = "met" if measured and len(met) == len(measured) else "MISSED"
    worst = max((r.latency.p99 for r in measured), default=math.nan)
    lost = sum(r.expected - r.received for r in measured if r.received < r.expected)
    short = sum(r.planned - r.taken for r in measured)
    print(
        f"\ngoal: {args.subscribers:,} subscribers of one area's availableJobs at {args.rate:g} jobs/s "
        f"booked and taken, p99 < {args.target_p99_ms:g} ms: {verdict} "
        f"({len(met)} of {len(measured)} rounds; worst p99 {fmt(worst)} ms; {lost:,} changes lost; "
        f"{short:,} jobs of the schedule not taken)"
    )
    baseline = [r for r in results if r.subscribers == 1]
    if baseline and measured and args.subscribers > 1:
        # What fan-out alone costs: the server's CPU per job beyond the baseline's, spread over
        # the changes the extra subscribers received (two per job each when nothing is lost).
        extra = _median([_per_job_ms(r) for r in measured]) - _median([_per_job_ms(r) for r in baseline])
        per_job = _median([r.received / max(1, r.booked) for r in measured]) - 2
        if per_job > 0:
            print(
                f"server CPU per job {fmt(extra)} ms above the baseline's: {fmt(extra * 1000 / per_job, 0)} us "
                f"per delivery to an extra subscriber"
            )
    print(
        f"\n{args.seconds:g} s of jobs at {args.rate:g}/s, each taken {args.dwell_ms:g} ms after its order "
        "was sent; every subscriber should see every job enter and leave. latency: arrival in the "
        "subscriber - send time of the order (entering) or of the accept (leaving); a change that never "
        "arrived counts as infinitely late ('lost'). srv CPU: the server's CPU time over the window, per "
        "change received and per job booked. CPU%: of one core over the window; load = the job creators "
        "(this process), other = the rest of the machine. cli lag: the clients' event-loop lag."
    )
