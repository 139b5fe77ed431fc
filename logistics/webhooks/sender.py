"""One attempt at one delivery: the signed POST and what came of it."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from logistics.webhooks import signing

EXCERPT = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds the lease of, with what its attempt needs."""

    delivery_id: int
    endpoint_id: str
    attempt: int
    event_id: str
    event_type: str
    body: bytes
    url: str
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def kind(self) -> str:
        """For the metrics: delivered, failed (an answer, not 2xx) or error (no answer)."""
        return "delivered" if self.delivered else "failed" if self.status_code is not None else "error"


def private_address(host: str) -> bool:
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        return False


async def resolves_privately(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
    except OSError:
        return False  # the send fails and says why
    return any(private_address(str(info[4][0])) for info in infos)


async def send(client: httpx.AsyncClient, delivery: Claimed, *, allow_private: bool) -> Outcome:
    started = time.monotonic()

    def outcome(status: int | None, error: str | None = None, excerpt: str | None = None) -> Outcome:
        return Outcome(status, error, excerpt, round((time.monotonic() - started) * 1000))

    # Checked at each send, not only at registration: a name may resolve elsewhere later.
    if not allow_private and await resolves_privately(delivery.url):
        return outcome(None, "refused: the endpoint resolves to a private or loopback address")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "logistics-webhooks/1",
        signing.HEADER: signing.header(delivery.secrets, int(time.time()), delivery.body),
        "Logistics-Event-Id": delivery.event_id,
        "Logistics-Event-Type": delivery.event_type,
        "Logistics-Delivery-Attempt": str(delivery.attempt),
    }
    try:
        response = await client.post(delivery.url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        return outcome(None, f"{type(exc).__name__}: {exc}"[:EXCERPT])
    return outcome(response.status_code, None, response.text[:EXCERPT] or None)
