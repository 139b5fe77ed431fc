"""Events to subscribers, over broadcaster: ``memory://`` in one process, ``redis://`` across.

Resolvers never publish directly: they queue events on the unit of work, which publishes
after the commit (see :mod:`logistics.db`).
"""

from __future__ import annotations

import json
from typing import Any

from broadcaster import Broadcast


def job_channel(job_id: str) -> str:
    return f"job:{job_id}"


def location_channel(job_id: str) -> str:
    return f"loc:{job_id}"


FEED_CHANNEL = "feed"


class PubSub:
    def __init__(self, url: str) -> None:
        self.url = url
        self.broadcast = Broadcast(url)
        self.connected = False

    async def connect(self) -> None:
        await self.broadcast.connect()
        self.connected = True

    async def disconnect(self) -> None:
        if self.connected:
            await self.broadcast.disconnect()
            self.connected = False

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        if self.connected:
            await self.broadcast.publish(channel=channel, message=json.dumps(event, default=str))
