"""The fan-out table, the comparison with the baseline, and the goals met or missed."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench.common import print_table
from bench.fanout_scenario import Result


def fmt(value: float, digits: int = 1) -> str:
    """``value`` rounded, or ``-`` for NaN (nothing measured)."""
    return "-" if value != value else f"{value:.{digits}f}"


COLUMNS: list[tuple[str, Callable[[Result], str]]] = [
    ("backend", lambda r: r.backend),
    ("subscribers", lambda r: str(r.subscribers)),
    ("points", lambda r: str(r.points)),
    ("delivered", lambda r: f"{r.delivered}/{r.expected} ({r.delivered / r.expected:.0%})"),
    ("p50 ms", lambda r: fmt(r.latency.p50)),
    ("p99 ms", lambda r: fmt(r.latency.p99)),
    ("server RSS MB", lambda r: fmt(r.rss_peak_mb)),
    ("max ms", lambda r: fmt(r.latency.maximum)),
    ("RSS idle/live MB", lambda r: f"{fmt(r.rss_idle_mb, 0)}/{fmt(r.rss_live_mb, 0)}"),
    ("PUTs answered", lambda r: f"{r.puts_answered}/{r.points}"),
    ("PUT p50/p99 ms", lambda r: f"{fmt(r.puts.p50, 0)}/{fmt(r.puts.p99, 0)}"),
    ("deliveries/s", lambda r: fmt(r.delivered / r.cpu.wall, 0)),
    ("srv CPU us/deliv", lambda r: fmt(r.cpu.server * 1e6 / r.delivered, 0) if r.delivered else "-"),
    ("srv sys %", lambda r: fmt(r.cpu.server_sys * 100 / r.cpu.server, 0) if r.cpu.server else "-"),
    ("window s", lambda r: fmt(r.cpu.wall)),
    (
        "CPU% srv/cli/other",
        lambda r: "/".join(fmt(r.cpu.percent(s), 0) for s in (r.cpu.server, r.cpu.clients, r.cpu.others)),
    ),
    ("cli lag p99 ms", lambda r: fmt(r.client_lag_p99_ms)),
]


def print_report(results: list[Result], args: argparse.Namespace) -> None:
    """The table, then each backend against its baseline and the goals, then what went wrong."""
    print()
    print_table(
        [name for name, _ in COLUMNS], [[render(r) for _, render in COLUMNS] for r in results], bars=True
    )
    print()
    for backend in dict.fromkeys(r.backend for r in results):
        runs = [r for r in results if r.backend == backend]
        base = next((r for r in runs if r.subscribers == 1), None)
        for r in runs:
            if r is base:
                continue
            if base is not None:
                print(
                    f"{backend}: {r.subscribers} subscribers vs 1: p50 x{r.latency.p50 / base.latency.p50:.1f}, "
                    f"p99 x{r.latency.p99 / base.latency.p99:.1f}, server RSS x{r.rss_peak_mb / base.rss_peak_mb:.2f}"
                )
            p99 = "met" if r.latency.p99 < args.target_p99_ms else "MISSED"
            rss = "met" if r.rss_peak_mb < args.target_rss_mb else "MISSED"
            per_sub = (r.rss_live_mb - r.rss_idle_mb) * 1024 / r.subscribers
            print(
                f"{backend}: at {r.subscribers} subscribers p99 < {args.target_p99_ms:g} ms {p99}, "
                f"RSS < {args.target_rss_mb:g} MB {rss}; {per_sub:.0f} KB per open subscription, "
                f"+{r.rss_peak_mb - r.rss_live_mb:.0f} MB during the points"
            )
    for r in results:
        if r.failed or r.undrained or r.duplicates or r.resubscribed or r.notes:
            print(
                f"{r.backend} x{r.subscribers}: failed={r.failed} without-last-point={r.undrained} "
                f"duplicates={r.duplicates} resubscribed={r.resubscribed} {'; '.join(r.notes[:3])}"
            )
    print(
        f"\n{args.points} points every {args.interval_ms:g} ms (open loop). delivered: (subscriber, point) pairs "
        "received; a subscriber that lags gets only the newest position. latency: arrival in the subscriber "
        "- send time of the tracking PUT. server RSS: peak VmRSS of the server process; idle = job set up, "
        "live = subscriptions open, before the measured points. CPU%: of one core over the measured window, "
        "'other' = everything on the machine but this benchmark's processes; srv CPU us/deliv = server CPU time "
        "in the window / deliveries (load-independent cost), sys % = its share spent in the kernel. "
        "cli lag: client event-loop lag."
    )
