"""Per-user request limits (``LOGISTICS_RATE_LIMIT_PER_MIN``; 0 turns them off).

A fixed one-minute window per user in this process: cheap, and enough to stop one client
from starving the others. Several processes each apply the limit on their own share.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from logistics.errors import DomainError, ErrorCode

WINDOW_S = 60.0
# Forget idle users so that the table stays as small as the set of active callers.
SWEEP_EVERY = 1024


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._calls = 0

    def check(self, user: str) -> None:
        if self.per_minute <= 0:
            return
        now = self.clock()
        start, count = self._windows.get(user, (now, 0))
        if now - start >= WINDOW_S:
            start, count = now, 0
        if count >= self.per_minute:
            retry_after = max(1, math.ceil(WINDOW_S - (now - start)))
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                f"at most {self.per_minute} requests a minute; try again in {retry_after}s",
                {"retry_after_s": retry_after},
            )
        self._windows[user] = (start, count + 1)
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            self._windows = {u: w for u, w in self._windows.items() if now - w[0] < WINDOW_S}
