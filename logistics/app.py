"""``create_app(settings)``: the platform's services, both edges, health and readiness."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from logistics import shutdown
from logistics.auth import TokenVerifier
from logistics.config import Settings
from logistics.db import Database
from logistics.dispatch.loop import DispatchLoop
from logistics.job.eta_watch import check_etas
from logistics.limits import BodySizeLimit, HeaderSizeLimit
from logistics.observability import tracing
from logistics.observability.requests import RequestObserver
from logistics.observability.scrape import METRICS_PATH, metrics_endpoint
from logistics.payments.providers import build_payment_gateways, build_payout_gateway
from logistics.payments.sandbox_gateway import SandboxGateway
from logistics.platform import Platform
from logistics.pubsub import PubSub
from logistics.ratelimit import RateLimiter
from logistics.resolvers import tracking
from logistics.rest_compat import (
    drivers,
    handlers,
    jobs,
    media,
    messaging,
    orders,
    payments,
    payouts,
    quotes,
    sandbox,
    webhooks,
)
from logistics.storage import Storage
from logistics.web import assets as web
from logistics.web import tracking as tracking_page
from logistics.webhooks.worker import WebhookWorker

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

REST_PREFIX = "/client/logistics"
GRAPHQL_PATH = "/graphql"
LOCATION_PATH = f"{REST_PREFIX}/location"
log = logging.getLogger("logistics")


class QuietPings(logging.Filter):
    """Keeps a driver's successful presence pings out of the access log: a fleet sends
    thousands a second, and a line each cost about a tenth of a busy worker's CPU. Every other
    request, and any ping that fails, is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path, http version, status)
        if isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            return not (method == "PUT" and path == LOCATION_PATH and status == 204)
        return True


QUIET_PINGS = QuietPings()


def build_platform(settings: Settings) -> Platform:
    settings.check_production()
    return Platform(
        settings=settings,
        db=Database(settings.database_url, pool_size=settings.database_pool_size),
        storage=Storage(settings.storage_dir, settings.max_upload_mb * 1024 * 1024),
        verifier=TokenVerifier(settings),
        pubsub=PubSub(settings.broadcast_url, buffer=settings.subscriber_buffer),
        gateways=build_payment_gateways(settings),
        payouts=build_payout_gateway(settings),
        rate_limiter=RateLimiter(settings.rate_limit_per_min),
    )


# Young collections every 10,000 allocations (default 700), full ones after 100 of the middle
# generation's (default 10).
GC_THRESHOLDS = (10_000, 10, 100)


class SocketRoute:
    """Sends the websocket at ``path`` to ``app_for_socket`` directly, everything else on."""

    def __init__(self, app: ASGIApp, *, path: str, app_for_socket: ASGIApp) -> None:
        self.app = app
        self.path = path
        self.app_for_socket = app_for_socket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await self.app_for_socket(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    platform: Platform | None = None,
    *,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The app; ``span_exporter`` takes the spans instead of the exporter ``LOGISTICS_TRACING`` names."""
    settings = settings or (platform.settings if platform else Settings())
    platform = platform or build_platform(settings)
    tracer = tracing.start(settings, span_exporter)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await platform.pubsub.connect()
        # What start-up built lives as long as the process: keep it out of every collection.
        gc.collect()
        gc.freeze()
        # Frozen objects do not count as long-lived, so with the default thresholds a full
        # collection ran every hundred young ones, each walking every open socket's objects
        # (about 200 per websocket): 50-100 ms pauses several times a minute at 1,000
        # subscribers. Cycles are rare here (refcounting frees nearly everything), so
        # collecting less often costs little memory.
        gc.set_threshold(*GC_THRESHOLDS)
        platform.positions.on_flushed = tracking.announce_flushed(platform)
        platform.positions.start()
        await platform.driver_sync.start()
        # The workers that claim work on their own. On SIGTERM the drain stops them at once,
        # while the requests in flight finish (logistics.shutdown). The ping buffer and the
        # driver index serve those requests, so they stop last, the buffer writing its last batch.
        background: list[shutdown.Worker] = []
        if platform.settings.dispatch_loop:
            background.append(DispatchLoop(platform))
        if platform.settings.webhook_worker:
            background.append(WebhookWorker(platform, periodic=(check_etas,)))
        for worker in background:
            worker.start()
        _app.state.background = background

        async def drain() -> None:
            await asyncio.gather(*(worker.stop() for worker in background))
            await close_all(platform, "server shutting down")

        stop_draining = shutdown.on_drain(drain)
        try:
            yield
        finally:
            stop_draining()
            await asyncio.gather(*(worker.stop() for worker in background))
            for gateway in platform.gateways.values():
                if isinstance(gateway, SandboxGateway):
                    await gateway.aclose()
            await platform.positions.stop()
            await platform.driver_sync.stop()
            # Subscribers hear that the stream ended; then the hub's channels wind down.
            await platform.pubsub.disconnect()
            await platform.hub.close()
            await platform.db.dispose()
            if tracer is not None:
                await tracer.shutdown()

    app = FastAPI(
        title="Logistics",
        version="1.0.0",
        summary="Delivery platform: quotes, orders, dispatch, tracking, proof of delivery, payouts.",
        description=(
            "The legacy REST paths under `/client/logistics`. The same operations, and live "
            "subscriptions, are served over GraphQL at `/graphql`. Every path needs "
            '`Authorization: Bearer <JWT>`. Errors are `{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=lifespan,
        # Served by web.assets on the vendored Swagger UI and ReDoc (FastAPI's load a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    app.state.tracing = tracer
    logging.getLogger("uvicorn.access").addFilter(QUIET_PINGS)
    handlers.install(app)
    # Routes are matched one after another, each at a cost: GraphQL and the busiest REST
    # paths (drivers' pings, customers' tracking polls) come first.
    from logistics.schema import LogisticsGraphQL
    from logistics.schema.websocket import close_all

    graphql = LogisticsGraphQL(platform, tracer.graphql_extensions() if tracer else ())
    app.router.routes += [
        Route(GRAPHQL_PATH, graphql, include_in_schema=False),
        WebSocketRoute(GRAPHQL_PATH, graphql),
    ]
    for module in (drivers, orders, jobs, quotes, media, messaging, payments, payouts):
        app.include_router(module.router, prefix=REST_PREFIX)
    if settings.payments_sandbox:
        sandbox.install(app, platform, REST_PREFIX)
    app.include_router(webhooks.router)
    web.install(app)
    tracking_page.install(app)

    metrics = metrics_endpoint(settings)
    if metrics is not None:
        app.add_route(METRICS_PATH, metrics, include_in_schema=False)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The database (and broker) answer")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with platform.db.session(write=False) as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception:  # any failure means not ready; the reason goes to the log
            log.exception("readiness: database")
            checks["database"] = "unavailable"
        if not platform.settings.broadcast_url.startswith("memory"):
            checks["broker"] = "ok" if platform.pubsub.connected else "unavailable"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
        )

    # Past the headers' check, the GraphQL socket goes straight to its app: it needs none of
    # the HTTP middlewares, and each of them would wrap every frame a fan-out sends.
    app.add_middleware(SocketRoute, path=GRAPHQL_PATH, app_for_socket=graphql)
    app.add_middleware(
        BodySizeLimit,
        json_limit=settings.max_json_body_kb * 1024,
        upload_limit=settings.max_upload_mb * 1024 * 1024,
        graphql_path=GRAPHQL_PATH,
    )
    # Added last, so it runs first.
    app.add_middleware(HeaderSizeLimit, graphql_path=GRAPHQL_PATH)
    # Outside the limits, so that a request they refuse is counted and logged, with its id.
    app.add_middleware(RequestObserver, routes=app.router.routes, quiet_ping_path=LOCATION_PATH)
    if tracer is not None:
        # Outside every middleware above, so a request they refuse is traced too.
        tracer.instrument(app, platform.db.sync_engines)
    return app
