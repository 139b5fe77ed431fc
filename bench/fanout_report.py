"""The fan-out tables: every run, then each goal with the baseline and the bare-send limit beside it."""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import print_table
from bench.fanout_scenario import Result


def fmt(value: float, digits: int = 1) -> str:
    """``value`` rounded, or ``-`` for NaN (nothing measured)."""
    return "-" if value != value else f"{value:.{digits}f}"


def summary(r: Result) -> str:
    """One line on a run just finished."""
    return (
        f"p50 {fmt(r.latency.p50)} ms, p99 {fmt(r.latency.p99)} ms, {r.delivered}/{r.expected} delivered, "
        f"{r.out_of_order} out of order, server RSS {fmt(r.rss_peak_mb)} MB, "
        f"{fmt(r.cpu_us_per_delivery, 1)} us server CPU per delivery"
    )


def _subscribers(r: Result) -> str:
    return f"{r.subscribers} ({r.subscribers // r.jobs}x{r.jobs} jobs)" if r.jobs > 1 else str(r.subscribers)


def _share(count: int, subscribers: int) -> str:
    return f"{count}/{subscribers}"


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("run", lambda r: r.run),
    ("round", lambda r: str(r.round)),
    ("subscribers", _subscribers),
    ("points", lambda r: str(r.points)),
    ("delivered", lambda r: f"{r.delivered}/{r.expected} ({r.delivered / r.expected:.0%})"),
    ("missing/subs", lambda r: _share(r.missing, r.missing_subscribers)),
    ("out of order/subs", lambda r: _share(r.out_of_order, r.out_of_order_subscribers)),
    ("p50 ms", lambda r: fmt(r.latency.p50)),
    ("p99 ms", lambda r: fmt(r.latency.p99)),
    ("max ms", lambda r: fmt(r.latency.maximum)),
    ("server RSS MB", lambda r: fmt(r.rss_peak_mb)),
    ("RSS idle/live MB", lambda r: f"{fmt(r.rss_idle_mb, 0)}/{fmt(r.rss_live_mb, 0)}"),
    ("PUTs answered", lambda r: f"{r.puts_answered}/{r.points * r.jobs}"),
    ("PUT p50/p99 ms", lambda r: f"{fmt(r.puts.p50, 0)}/{fmt(r.puts.p99, 0)}"),
    ("deliveries/s", lambda r: fmt(r.delivered / r.cpu.wall, 0)),
    ("srv CPU us/deliv", lambda r: fmt(r.cpu_us_per_delivery) + ("" if r.cpu_precise else "*")),
    ("srv sys %", lambda r: fmt(r.cpu.server_sys * 100 / r.cpu.server, 0) if r.cpu.server else "-"),
    ("window s", lambda r: fmt(r.cpu.wall)),
    (
        "CPU% srv/cli/other",
        lambda r: "/".join(fmt(r.cpu.percent(s), 0) for s in (r.cpu.server, r.cpu.clients, r.cpu.others)),
    ),
    ("cli lag p99 ms", lambda r: fmt(r.client_lag_p99_ms)),
]


def median(values: list[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return statistics.median(present) if present else math.nan


def ratios(runs: list[Result], against: list[Result], figure: Callable[[Result], float]) -> list[float]:
    """``figure`` of each run over that of the run it is compared with in the same round."""
    by_round = {r.round: r for r in against}
    return [figure(r) / figure(by_round[r.round]) for r in runs if r.round in by_round]


def ratio_text(values: list[float]) -> str:
    """The median ratio, and each round's when there are several (the spread is the noise)."""
    if not values or all(math.isnan(v) for v in values):
        return "-"
    text = f"x{median(values):.2f}"
    return text + f" ({', '.join(f'{v:.2f}' for v in values)})" if len(values) > 1 else text


@dataclass(frozen=True)
class Goal:
    name: str
    target: str
    figure: Callable[[Result], float]
    met: Callable[[float], bool] | None
    digits: int = 1
    # Counts are added up over the rounds (a goal of none lost means none in any round);
    # measures are medians over the rounds.
    counted: bool = False

    def value(self, runs: list[Result]) -> float:
        values = [self.figure(r) for r in runs]
        if not values:
            return math.nan
        return float(sum(values)) if self.counted else median(values)

    def text(self, runs: list[Result]) -> str:
        if self.counted and runs:
            expected = sum(r.expected for r in runs)
            return f"{self.value(runs):.0f}" + (f"/{expected}" if self.name == "delivered" else "")
        return fmt(self.value(runs), self.digits)


def goals(args: argparse.Namespace) -> list[Goal]:
    cpu_target = f"< {args.target_cpu_us:g}" if not args.spread else "-"
    cpu_met = (lambda v: v < args.target_cpu_us) if not args.spread else None
    return [
        Goal(
            "p99 ms", f"< {args.target_p99_ms:g}", lambda r: r.latency.p99, lambda v: v < args.target_p99_ms
        ),
        Goal("p50 ms", "-", lambda r: r.latency.p50, None),
        Goal("srv CPU us/deliv", cpu_target, lambda r: r.cpu_us_per_delivery, cpu_met),
        Goal(
            "server RSS MB",
            f"< {args.target_rss_mb:g}",
            lambda r: r.rss_peak_mb,
            lambda v: v < args.target_rss_mb,
        ),
        Goal("delivered", "all", lambda r: r.delivered, None, counted=True),
        Goal("missing", "0", lambda r: r.missing, lambda v: v == 0, counted=True),
        Goal("out of order", "0", lambda r: r.out_of_order, lambda v: v == 0, counted=True),
    ]


def goal_table(args: argparse.Namespace, service: str, results: list[Result]) -> None:
    """One service's goals: its N-subscriber figure, the 1-per-job baseline's and the bare
    send's beside it, and the ratios to both, each taken within a round."""
    runs = [r for r in results if r.run == service]
    top = max(r.subscribers for r in runs)
    main = [r for r in runs if r.subscribers == top]
    base = [r for r in runs if r.subscribers == r.jobs and r.subscribers < top]
    bare = [r for r in results if r.run == "bare" and r.subscribers == top]
    rounds = len({r.round for r in main})
    print(
        f"\n{service}: {_subscribers(main[0])} subscribers, {args.points} points per job every "
        f"{args.interval_ms:g} ms; {'medians over ' + str(rounds) + ' rounds' if rounds > 1 else 'one round'}"
        f"{'; counts summed over the rounds' if rounds > 1 else ''}"
    )
    headers = [
        "goal",
        "target",
        service,
        "baseline (1/job)",
        "bare send",
        "vs baseline",
        "vs bare",
        "verdict",
    ]
    rows = []
    for goal in goals(args):
        value = goal.value(main)
        verdict = "-" if goal.met is None else ("met" if goal.met(value) else "MISSED")
        if goal.name == "delivered":
            verdict = "met" if main and value == sum(r.expected for r in main) else "MISSED"
        comparable = not goal.counted
        rows.append(
            [
                goal.name,
                goal.target,
                goal.text(main),
                goal.text(base) if base else "-",
                goal.text(bare) if bare else "-",
                ratio_text(ratios(main, base, goal.figure)) if comparable else "-",
                ratio_text(ratios(main, bare, goal.figure)) if comparable else "-",
                verdict,
            ]
        )
    if bare:
        cpu = ratios(main, bare, lambda r: r.cpu_us_per_delivery)
        ok = bool(cpu) and median(cpu) <= args.target_cpu_ratio
        rows.append(
            [
                "srv CPU vs bare",
                f"<= {args.target_cpu_ratio:g}x",
                ratio_text(cpu),
                "-",
                "x1",
                "-",
                "-",
                "met" if ok else "MISSED",
            ]
        )
    marginal = [m for m in (_marginal_us(r, base) for r in main) if m == m]
    if marginal:
        rows.append(
            [
                "srv CPU us/extra deliv",
                "-",
                fmt(median(marginal)),
                "x0",
                "-",
                "-",
                "-",
                "-",
            ]
        )
    print_table(headers, rows, bars=True)


def _marginal_us(run: Result, base: list[Result]) -> float:
    """The server's CPU per delivery above what the same round's baseline spent anyway (its
    timers, the dispatch loop, the tracking requests): what one more subscriber costs."""
    same = [b for b in base if b.round == run.round and b.cpu.wall > 0]
    if not same or run.delivered <= same[0].delivered:
        return math.nan
    b = same[0]
    extra_cpu = run.cpu.server - b.cpu.server * run.cpu.wall / b.cpu.wall
    return extra_cpu * 1e6 / (run.delivered - b.delivered)


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    """Every run, then the goals per service, then what went wrong, then what the columns mean."""
    print()
    print_table(
        [name for name, _ in COLUMNS], [[render(r) for _, render in COLUMNS] for r in results], bars=True
    )
    for service in dict.fromkeys(r.run for r in results if r.run != "bare"):
        goal_table(args, service, results)
    print()
    for r in results:
        if r.failed or r.undrained or r.duplicates or r.resubscribed or r.notes:
            print(
                f"{r.run} x{r.subscribers} round {r.round}: failed={r.failed} without-last-point={r.undrained} "
                f"duplicates={r.duplicates} resubscribed={r.resubscribed} {'; '.join(r.notes[:3])}"
            )
    if args.spread:
        placement = (
            f"Not pinned: logistics serve --workers {args.workers} needs both cores, so the client "
            "processes and the drivers share them with its workers. No bare send: its sockets would be "
            "split over two processes that share nothing."
        )
    elif results[0].pinned:
        placement = (
            "Pinned: every server (service and bare) on core 0 (taskset -c 0), the client processes and "
            f"the driver on core 1. Bare send: fanout_bare, '{args.bare_fanout}' mode."
        )
    else:
        placement = (
            f"Not pinned (--no-pin, or cores 0 and 1 unavailable). Bare send: '{args.bare_fanout}' mode."
        )
    notes = [
        placement,
        f"{args.points} points per job every {args.interval_ms:g} ms, open loop.",
        "delivered: (subscriber, point) pairs received; missing: posted points a subscriber never received "
        "(a lagging subscriber gets only the newest position); out of order: arrivals below a point the "
        "subscriber already had; /subs: subscribers with any.",
        "latency: arrival in the subscriber - send time of the tracking PUT.",
        "server RSS: peak VmRSS of the server (--spread: of the sum over its workers); idle = jobs set up, "
        "live = subscriptions open, before the measured points.",
        "srv CPU us/deliv: the server's CPU time in the window / deliveries, from its threads' schedstat (ns); "
        "'*': a thread ended in the window, so from /proc/<pid>/stat (10 ms ticks). sys %: its kernel share.",
        "CPU%: of one core over the window; 'other' = the machine outside this benchmark (high: noisy "
        "figures). cli lag: the client processes' event-loop lag.",
        "Goals: medians over the rounds; 'vs': the ratio to the baseline (one subscriber per job) or to the "
        "bare send of the same round, median (each round's).",
    ]
    print("\n".join(notes))
