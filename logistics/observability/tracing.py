"""OpenTelemetry tracing of the HTTP edge, the database and GraphQL operations, when it is asked
for (``LOGISTICS_TRACING``).

It is optional twice over: off by default, and its packages are the ``tracing`` extra. This
module imports nothing of OpenTelemetry until tracing is started, so a process that does not
trace never loads it.

The tracer provider is the app's own, handed to each instrumentation, rather than the
process-wide one OpenTelemetry allows to be set only once: each app (and each test) gets the
exporter it was built with, and shutting one down flushes exactly its spans.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from logistics.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from graphql import GraphQLResolveInfo
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.engine import Engine
    from strawberry.extensions import SchemaExtension
    from strawberry.extensions.tracing import OpenTelemetryExtension

INSTALL_HINT = "pip install 'logistics[tracing]'"
# Probes and scrapes arrive every few seconds from machines: a trace each would bury the
# requests of people.
UNTRACED_PATHS = "/metrics,/healthz,/readyz"
_REQUIRED = (
    "opentelemetry.sdk",
    "opentelemetry.instrumentation.fastapi",
    "opentelemetry.instrumentation.sqlalchemy",
    "opentelemetry.exporter.otlp.proto.http",
)


def check_installed(settings: Settings) -> None:
    """Refuse tracing that was asked for without its packages, naming the command that adds them."""
    if settings.tracing == "off":
        return
    missing = [name for name in _REQUIRED if not _importable(name)]
    if missing:
        raise RuntimeError(
            f"LOGISTICS_TRACING={settings.tracing} needs the tracing extra ({', '.join(missing)} "
            f"missing): {INSTALL_HINT}"
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


class Tracing:
    """One app's tracer provider, batching spans to one exporter, and the instrumentations fed by it."""

    def __init__(self, settings: Settings, exporter: SpanExporter | None = None) -> None:
        check_installed(settings)
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES (deployment, region, version).
        resource = Resource.create({SERVICE_NAME: settings.tracing_service_name})
        self.provider: TracerProvider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(exporter or _exporter(settings)))
        self._sqlalchemy_instrumented = False

    def graphql_extensions(self) -> Sequence[Callable[[], SchemaExtension]]:
        """The schema extension that traces each operation, built anew for every operation."""
        extension = _operation_extension()
        provider = self.provider
        return [lambda: extension(tracer_provider=provider)]

    def instrument(self, app: FastAPI, engines: Sequence[Engine]) -> None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=UNTRACED_PATHS,
            # A span per ASGI message (two or more per response, one per websocket frame)
            # tells nothing the request's own span does not.
            exclude_spans=["receive", "send"],
        )
        SQLAlchemyInstrumentor().instrument(
            engines=list(engines),
            tracer_provider=self.provider,
            # Its declared range stops below SQLAlchemy 2.1, whose engine events and
            # Engine.connect (all it hooks) are 2.0's; tests/test_tracing.py checks its spans.
            skip_dep_check=True,
        )
        self._sqlalchemy_instrumented = True

    async def shutdown(self) -> None:
        """Export the spans still batched, then stop; the export may wait on the network, so it
        runs off the event loop."""
        if self._sqlalchemy_instrumented:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            # The instrumentor is one per process; the next app (a test's) instruments anew.
            SQLAlchemyInstrumentor().uninstrument()
            self._sqlalchemy_instrumented = False
        await asyncio.to_thread(self.provider.shutdown)


def start(settings: Settings, exporter: SpanExporter | None = None) -> Tracing | None:
    """Tracing as the settings ask for it (None when off); ``exporter`` replaces the configured one."""
    if settings.tracing == "off":
        return None
    return Tracing(settings, exporter)


def _exporter(settings: Settings) -> SpanExporter:
    if settings.tracing == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    # Configured by the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or _TRACES_ENDPOINT),
    # _HEADERS, _TIMEOUT, _COMPRESSION.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _operation_extension() -> type[OpenTelemetryExtension]:
    from strawberry.extensions.tracing import OpenTelemetryExtension
    from strawberry.extensions.tracing.utils import should_skip_tracing

    class OperationSpans(OpenTelemetryExtension):
        """Strawberry's extension, with a span for the operation and each of its root fields only.

        The stock extension resolves every field through an ``async`` wrapper, so each field
        of every object of a list became a coroutine and a span: a feed of 50 jobs made
        hundreds of spans and ran several times slower. A root field is the use case (a
        resolver in ``logistics.resolvers``); what lies below it is built from rows already
        loaded, and the SQL it runs has spans of its own. Any other field passes straight
        through, with no coroutine and no span.

        Arguments are not recorded: they carry addresses, phone numbers, chat and uploads, and
        the stock extension deep-copied them for every span.
        """

        def resolve(
            self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo, *args: Any, **kwargs: Any
        ) -> Any:
            if info.path.prev is not None or should_skip_tracing(_next, info):
                return _next(root, info, *args, **kwargs)
            return super().resolve(_next, root, info, *args, **kwargs)

        def filter_resolver_args(self, args: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
            return {}

    return OperationSpans
