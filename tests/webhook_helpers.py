"""A real HTTP receiver for outbound webhooks, on a free local port, in a thread: it records
every request and answers with the statuses a test scripts (then 200)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from logistics.platform import Platform
from logistics.webhooks.worker import WebhookWorker
from tests.factories import Api
from tests.graphql_helpers import GraphQL

MERCHANT = "merchant-1"
ALL_EVENTS = [
    "JOB_CREATED",
    "JOB_STATUS_CHANGED",
    "JOB_DRIVER_ASSIGNED",
    "JOB_ETA_CHANGED",
    "JOB_ISSUE_REPORTED",
    "JOB_DELIVERED",
    "JOB_CANCELLED",
    "PAYMENT_REFUNDED",
    "TIP_RECEIVED",
]
CREATE_ENDPOINT = """
mutation Create($input: WebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    secret
    endpoint { id url eventTypes enabled disabledReason consecutiveFailures previousSecretExpiresAt }
  }
}
"""
DELIVERIES = """
query Deliveries($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(endpointId: $id, status: $status, limit: 100) {
    items {
      id eventId eventType jobId status attempts lastStatusCode replay payload
      attemptLog { statusCode error durationMs }
    }
    nextCursor
  }
}
"""


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[Received] = field(default_factory=list)
    # While set, requests wait (for a worker killed mid-delivery).
    hold: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def delivered(self) -> list[dict[str, Any]]:
        """The events answered with a 2xx, in arrival order."""
        return [request.event for request in self.received if 200 <= request.status < 300]

    def types(self) -> list[str]:
        return [event["type"] for event in self.delivered()]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.arrived.set()
            if state.hold.is_set():
                state.released.wait(60)
            with lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.received.append(Received(dict(self.headers.items()), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()


async def register(
    gql: GraphQL, url: str, events: list[str] | None = None, *, sub: str = MERCHANT, role: str = "merchant"
) -> tuple[str, str]:
    """A new endpoint: (its id, its secret)."""
    data = await gql.ok(
        sub, CREATE_ENDPOINT, {"input": {"url": url, "eventTypes": events or ALL_EVENTS}}, roles=[role]
    )
    answer = data["createWebhookEndpoint"]
    return answer["endpoint"]["id"], answer["secret"]


async def drain(worker: WebhookWorker, rounds: int = 50) -> int:
    """Run the worker until it finds nothing due; the deliveries attempted."""
    total = 0
    for _ in range(rounds):
        sent = await worker.run_once()
        if not sent:
            return total
        total += sent
    raise AssertionError("the worker never ran out of due deliveries")


async def deliveries(
    gql: GraphQL, endpoint_id: str, *, sub: str = MERCHANT, role: str = "merchant"
) -> list[Any]:
    data = await gql.ok(sub, DELIVERIES, {"id": endpoint_id}, roles=[role])
    items: list[Any] = data["webhookDeliveries"]["items"]
    return items


async def merchant_order(api: Api, sub: str = MERCHANT) -> dict[str, Any]:
    """A cash order the merchant places for itself (the job's customer is the merchant)."""
    return await api.order(sub)


def worker_for(platform: Platform) -> WebhookWorker:
    return WebhookWorker(platform)
