"""What the simulator counts, and how it shows it: one status line rewritten in place on a
terminal, a plain line every few seconds into a pipe or a file, and messages above it."""

from __future__ import annotations

import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

# Where an order stands, as far as the simulator has seen it.
PAYING, SEARCHING, OFFERED, UNDER_WAY, COMPLETED, CANCELLED = (
    "paying",
    "searching",
    "offered",
    "under way",
    "completed",
    "cancelled",
)
# Currencies without minor units; every other is shown with two decimals.
ZERO_DECIMALS = {"JPY", "KRW", "CLP", "ISK", "VND", "HUF"}
# Enough of the first errors to see what is wrong, without burying the status line.
ERRORS_SHOWN = 5
PLAIN_EVERY_S = 5.0


def money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMALS:
        return f"{currency} {amount}"
    return f"{currency} {amount / 100:.2f}"


@dataclass
class Stats:
    currency: str = "EUR"
    started: float = field(default_factory=time.monotonic)
    placed: int = 0
    states: dict[str, str] = field(default_factory=dict)  # order id -> state
    prices: dict[str, int] = field(default_factory=dict)  # order id -> price (minor units)
    rejected: int = 0
    lost_races: int = 0
    errors: int = 0
    moved: int = 0  # the prices of completed orders
    tips: int = 0
    ratings: int = 0
    began: bool = False  # the demo reached the server and started

    def track(self, order_id: str, price: int, state: str) -> None:
        self.placed += 1
        self.prices[order_id] = price
        self.states[order_id] = state

    def move(self, order_id: str, state: str) -> None:
        """A new state for one of this run's orders (others, say a earlier run's, are not counted)."""
        before = self.states.get(order_id)
        if before is None or before in (COMPLETED, CANCELLED):
            return
        self.states[order_id] = state
        if state == COMPLETED:
            self.moved += self.prices.get(order_id, 0)

    def count(self, state: str) -> int:
        return Counter(self.states.values())[state]

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def line(self, width: int | None = None) -> str:
        """The status line; within ``width`` columns when given (a line longer than the
        terminal wraps, and ``\r`` then rewrites only its last part)."""
        seconds = int(self.elapsed())
        clock = f"[{seconds // 60:02d}:{seconds % 60:02d}]"
        counts = Counter(self.states.values())
        line = (
            f"{clock} orders {self.placed} | "
            f"searching {counts[SEARCHING] + counts[PAYING]} | offered {counts[OFFERED]} | "
            f"under way {counts[UNDER_WAY]} | completed {counts[COMPLETED]} | "
            f"rejected offers {self.rejected} | errors {self.errors} | "
            f"moved {money(self.moved, self.currency)} (tips {money(self.tips, self.currency)})"
        )
        if width is None or len(line) <= width:
            return line
        short = (
            f"{clock} ord {self.placed} srch {counts[SEARCHING] + counts[PAYING]} off {counts[OFFERED]} "
            f"way {counts[UNDER_WAY]} done {counts[COMPLETED]} rej {self.rejected} err {self.errors} "
            f"{money(self.moved, self.currency)}"
        )
        return short[:width]

    def summary(self) -> str:
        return (
            f"Demo stopped after {self.elapsed():.0f} s: {_n(self.placed, 'order')} placed, "
            f"{self.count(COMPLETED)} completed, {self.count(CANCELLED)} cancelled at the end, "
            f"{_n(self.rejected, 'offer')} rejected, {_n(self.ratings, 'rating')}, "
            f"{_n(self.errors, 'error')}; {money(self.moved, self.currency)} moved, "
            f"{money(self.tips, self.currency)} in tips."
        )


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


class Console:
    """Prints messages and the status line without them trampling each other."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.tty = out.isatty()
        self.shown = False  # a status line is on screen (TTY only)
        self.last_plain = 0.0
        self.errors_shown = 0

    def say(self, text: str) -> None:
        """A line that stays, above the status line."""
        if self.tty and self.shown:
            self.out.write("\r\x1b[K")
            self.shown = False
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, text: str, stats: Stats) -> None:
        stats.errors += 1
        if self.errors_shown < ERRORS_SHOWN:
            self.errors_shown += 1
            more = " (further errors are only counted)" if self.errors_shown == ERRORS_SHOWN else ""
            self.say(f"  error: {text}{more}")

    def status(self, stats: Stats, *, force: bool = False) -> None:
        if self.tty:
            # \x1b[K clears what a longer earlier line left at the end.
            width = shutil.get_terminal_size().columns - 1
            self.out.write("\r" + stats.line(width) + "\x1b[K")
            self.out.flush()
            self.shown = True
            return
        now = time.monotonic()
        if force or now - self.last_plain >= PLAIN_EVERY_S:
            self.last_plain = now
            self.say(stats.line())

    def close(self) -> None:
        if self.tty and self.shown:
            self.out.write("\n")
            self.out.flush()
            self.shown = False
