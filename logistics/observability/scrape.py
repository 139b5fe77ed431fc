"""``GET /metrics``: the Prometheus text exposition of this process, or of every worker.

In multiprocess mode (:mod:`logistics.observability.multiprocess`) each scrape reads every
worker's files through a fresh registry, as prometheus-client prescribes; otherwise it renders
the process's default registry. Rendering reads files and formats every series, so it runs on
a thread, off the event loop that serves requests.

Access: with ``LOGISTICS_METRICS_TOKEN`` set, a scrape needs ``Authorization: Bearer <token>``
(Prometheus' ``authorization`` scrape option). Unset, the endpoint is open in development and
test, and not served in production: the figures describe the business (orders, drivers
online) and must not be public.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from logistics.config import Settings
from logistics.errors import DomainError, ErrorCode
from logistics.observability.multiprocess import forget_dead_processes, multiprocess_dir

METRICS_PATH = "/metrics"


def render() -> bytes:
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    forget_dead_processes(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    return generate_latest(registry)


def metrics_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]] | None:
    """The endpoint, or None where it must not be served (production without a token)."""
    token = settings.metrics_token
    if not token and settings.env == "production":
        return None
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: Request) -> Response:
        if expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            if not hmac.compare_digest(given, expected):
                raise DomainError(ErrorCode.UNAUTHENTICATED, "metrics need 'Authorization: Bearer <token>'")
        return Response(await run_in_threadpool(render), media_type=CONTENT_TYPE_LATEST)

    return metrics
