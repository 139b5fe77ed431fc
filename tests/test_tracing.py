"""OpenTelemetry tracing (``LOGISTICS_TRACING``): what an operator sees in a trace when it is on,
nothing of it when it is off, and a clear refusal when it is asked for without its packages.

The spans go to an in-memory exporter handed to ``create_app``: nothing leaves the process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from logistics import cli
from logistics.app import create_app
from logistics.config import Settings
from logistics.observability import tracing
from logistics.platform import Platform
from tests.factories import Api

ORDERS = "query MyOrders { orders { items { id status price { amount currency } } } }"
TRACK = "/client/logistics/orders/{job_id}/track"


@pytest.fixture
async def traced(platform: Platform) -> AsyncIterator[tuple[Api, InMemorySpanExporter]]:
    """The app with tracing on, served for the test; its spans are all exported once it stops."""
    exporter = InMemorySpanExporter()
    settings = platform.settings.model_copy(update={"tracing": "otlp"})
    app = create_app(settings, platform, span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, platform.settings), exporter


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def sql_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.kind is SpanKind.CLIENT and span.attributes and "db.system" in span.attributes
    ]


async def test_a_rest_request_is_a_server_span_named_by_its_route_with_its_sql_inside(
    traced: tuple[Api, InMemorySpanExporter],
) -> None:
    api, exporter = traced
    order = await api.order("cust-1")
    _cleared(api, exporter)

    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["status"] == "searching"

    # Exported in batches: stopping the provider flushes what is pending (as shutdown does).
    exporter_spans = _flushed(api, exporter)
    (server,) = [span for span in exporter_spans if span.kind is SpanKind.SERVER]
    assert server.name == f"GET {TRACK}"
    assert server.attributes is not None and server.attributes["http.route"] == TRACK
    statements = sql_spans(exporter)
    assert statements, "the request's SQL has spans"
    assert server.context is not None
    assert {span.context.trace_id for span in statements if span.context} == {server.context.trace_id}


async def test_a_graphql_query_has_an_operation_span_and_one_per_root_field(
    traced: tuple[Api, InMemorySpanExporter],
) -> None:
    api, exporter = traced
    await api.order("cust-1")
    _cleared(api, exporter)

    response = await api.client.post("/graphql", json={"query": ORDERS}, headers=api.headers("cust-1"))
    assert len(response.json()["data"]["orders"]["items"]) == 1

    _flushed(api, exporter)
    (http,) = spans_named(exporter, "POST /graphql")
    (operation,) = spans_named(exporter, "GraphQL Query: MyOrders")
    (root_field,) = spans_named(exporter, "GraphQL Resolving: orders")
    assert http.context is not None and operation.parent is not None
    assert operation.parent.span_id == http.context.span_id
    assert root_field.parent is not None and operation.context is not None
    assert root_field.parent.span_id == operation.context.span_id
    # The fields below a root field (items, price, ...) pass through without a span of their own.
    assert not [span for span in exporter.get_finished_spans() if span.name.endswith(": price")]
    assert sql_spans(exporter)


async def test_probes_are_not_traced(traced: tuple[Api, InMemorySpanExporter]) -> None:
    api, exporter = traced
    _cleared(api, exporter)
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/readyz")).status_code == 200
    _flushed(api, exporter)
    assert not [span for span in exporter.get_finished_spans() if span.kind is SpanKind.SERVER]


async def test_stopping_the_app_exports_the_spans_still_batched(platform: Platform) -> None:
    exporter = InMemorySpanExporter()
    settings = platform.settings.model_copy(update={"tracing": "console"})
    app = create_app(settings, platform, span_exporter=exporter)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            api = Api(client, platform.settings)
            assert (await api.ok("GET", "/orders", "cust-1"))["items"] == []
    assert spans_named(exporter, "GET /client/logistics/orders")


def _flushed(api: Api, exporter: InMemorySpanExporter) -> tuple[ReadableSpan, ...]:
    """Every span ended so far: they are exported in batches, on their own schedule."""
    app = api.client._transport.app  # type: ignore[attr-defined]
    app.state.tracing.provider.force_flush()
    return exporter.get_finished_spans()


def _cleared(api: Api, exporter: InMemorySpanExporter) -> None:
    _flushed(api, exporter)
    exporter.clear()


async def test_with_tracing_off_no_tracing_is_installed(app: object, client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert app.state.tracing is None  # type: ignore[attr-defined]


def test_with_tracing_off_the_sdk_and_instrumentations_are_never_imported(tmp_path: Path) -> None:
    """FastAPI itself imports OpenTelemetry's API; everything the extra adds stays unloaded."""
    script = f"""
import sys
from fastapi.testclient import TestClient
from logistics.app import create_app
from logistics.cli import migrate
from logistics.config import Settings
settings = Settings(env="test", database_url="sqlite+aiosqlite:///{tmp_path / "off.db"}",
                    storage_dir="{tmp_path / "storage"}", dispatch_loop=False)
migrate(settings)
app = create_app(settings)
with TestClient(app) as client:
    assert client.get("/healthz").status_code == 200
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.instrumentation",
                                                       "opentelemetry.exporter", "strawberry.extensions.tracing")))
print(loaded)
"""
    env = {"PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(  # noqa: S603  (our own interpreter, a fixed script)
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_tracing_without_its_packages_is_refused_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # As if the extra were not installed: the module cannot be found.
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk", None)
    settings = Settings(tracing="otlp", database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(RuntimeError, match=r"pip install 'logistics\[tracing\]'"):
        create_app(settings)

    monkeypatch.setenv("LOGISTICS_TRACING", "otlp")
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")

    def serve(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("logistics serve started instead of refusing")

    monkeypatch.setattr("logistics.shutdown.serve", serve)
    assert cli.main(["serve"]) == 2
    assert tracing.INSTALL_HINT in capsys.readouterr().err
