"""What every simulated actor shares: the server's region and payment options, the counters,
the HTTP client, the background tasks, and a seeded random source per actor."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from logistics.config import Region, Settings
from logistics.demo.board import Console, Stats
from logistics.demo.client import Api, User
from logistics.demo.options import DemoOptions
from logistics.demo.world import Area

# Card numbers the payments sandbox takes (README, "Trying payments without provider accounts").
TEST_CARD = "4242 4242 4242 4242"


@dataclass
class City:
    options: DemoOptions
    settings: Settings
    api: Api
    stats: Stats
    console: Console
    run_id: str
    region: Region
    area: Area
    ops: User
    # Card payments go through the server's payments sandbox: the simulator can confirm them.
    cards: bool = False
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Called by a driver when it completed one of this run's orders (customers rate and tip).
    on_delivered: Callable[[str], None] = lambda _job_id: None

    def rng(self, *parts: object) -> random.Random:
        """A random source for one actor. Under ``--seed`` each actor has its own stream,
        seeded from its name, so one driver's choices do not depend on how the event loop
        interleaved it with the others; without a seed, fresh entropy."""
        if self.options.seed is None:
            return random.Random()  # noqa: S311 (a simulation, not a secret)
        name = ":".join(str(part) for part in (self.options.seed, *parts))
        return random.Random(name)  # noqa: S311 (str seeds hash the same in every process)

    def sub(self, role: str, index: int) -> str:
        return f"demo-{self.run_id}-{role}-{index + 1}"

    def wall(self, simulated_s: float) -> float:
        """Real seconds for ``simulated_s`` seconds of the simulated city."""
        return simulated_s / self.options.speedup

    @property
    def speed_mps(self) -> float:
        return self.options.speed_kmh / 3.6

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A background task, cancelled when the demo stops; a crash is counted, never fatal."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.console.error(f"simulator: {type(exc).__name__}: {exc}", self.stats)
