"""What a fan-out run measures of the processes: resident sets, CPU clocks, latency spreads.

Everything is read from ``/proc``, so a multi-worker server is measured as the sum of its workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import astuple, dataclass
from pathlib import Path

from bench.common import percentile

NAN = float("nan")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def thread_run_ns(pids: list[int]) -> dict[str, int]:
    """Nanoseconds on a CPU so far, per thread of ``pids`` (``/proc/<pid>/task/<tid>/schedstat``):
    ``/proc/<pid>/stat`` counts in 10 ms ticks, too coarse for a short run's few deliveries."""
    found: dict[str, int] = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                found[f"{pid}/{tid}"] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
    return found


def run_seconds_between(before: dict[str, int], after: dict[str, int]) -> float:
    """The threads' CPU time between two ``thread_run_ns`` readings; NaN if a thread ended in
    between, since its time ended with it (the process's own ticks still have it)."""
    if not before or not before.keys() <= after.keys():
        return NAN
    return sum(ns - before.get(thread, 0) for thread, ns in after.items()) / 1e9


@dataclass(frozen=True)
class Spread:
    """Median, 99th percentile and maximum of durations in ms; nearest rank, so each is one of them."""

    p50: float = NAN
    p99: float = NAN
    maximum: float = NAN

    @classmethod
    def of(cls, durations: list[float]) -> Spread:
        if not durations:
            return cls()
        p50, p99 = (percentile(durations, q, nearest_rank=True) for q in (50, 99))
        return cls(p50, p99, max(durations))


@dataclass(frozen=True)
class CpuClock:
    """CPU seconds used so far by the server's processes (``server_sys`` of them in the kernel),
    the client processes, all of the benchmark's processes and the whole machine, at ``wall`` on
    the monotonic clock. An earlier reading subtracted from a later one gives the use in between."""

    wall: float = NAN
    server: float = NAN
    server_sys: float = NAN
    clients: float = NAN
    ours: float = NAN
    machine: float = NAN

    @classmethod
    def read(cls, server_pids: list[int], client_pids: list[int]) -> CpuClock:
        user = system = 0.0
        for pid in server_pids:
            u, s = cpu_times(pid)
            user, system = user + u, system + s
        clients = sum(map(cpu_seconds, client_pids))
        ours = cpu_seconds(os.getpid()) + user + system + clients
        return cls(time.monotonic(), user + system, system, clients, ours, machine_busy_seconds())

    def __sub__(self, earlier: CpuClock) -> CpuClock:
        return CpuClock(*(now - then for now, then in zip(astuple(self), astuple(earlier), strict=True)))

    def percent(self, seconds: float) -> float:
        """CPU ``seconds`` as a percentage of one core over the span ``wall``."""
        return seconds / self.wall * 100

    @property
    def others(self) -> float:
        """CPU seconds the machine spent outside the benchmark's processes."""
        return max(0.0, self.machine - self.ours)


class RssSampler:
    """The server's resident set (the sum over its processes), sampled every ``period`` seconds."""

    def __init__(self, pids: list[int], period: float = 0.05) -> None:
        self.pids, self.period, self.peak = pids, period, 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> float:
        value = sum(rss_mb(pid) or 0.0 for pid in self.pids)
        self.peak = max(self.peak, value)
        return value

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.period)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
        self.sample()
