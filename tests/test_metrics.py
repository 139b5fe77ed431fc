"""``GET /metrics``: a core loop moves the counters an operator watches; who may scrape; the
websocket gauges; and ``logistics serve --workers 2`` adding up every worker's figures.

The registry is the process's own and lives across tests, so every check compares a scrape
taken after the action with one taken before it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from logistics.app import build_platform, create_app
from logistics.config import Settings
from logistics.observability.multiprocess import MULTIPROC_ENV, forget_dead_processes, multiprocess_metrics
from logistics.platform import Platform
from logistics.pubsub import job_channel
from tests.conftest import Clock, requires_postgres
from tests.factories import KREUZBERG, MITTE, Api
from tests.graphql_helpers import GraphQL
from tests.process_helpers import REDIS_URL
from tests.realtime_helpers import Live, live_app
from tests.served import logistics_serve
from tests.subscription_helpers import JOB_UPDATED

TRACK = "/client/logistics/orders/{job_id}/track"
ACCEPT = "/client/logistics/jobs/{job_id}/accept"


class Scrape:
    """One scrape's samples, by name and labels."""

    def __init__(self, exposition: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def labelled(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def test_a_core_loop_moves_the_counters(
    api: Api, gql: GraphQL, platform: Platform, clock: Clock
) -> None:
    before = await scrape(api.client)

    # given a driver whose first ping is decided in a transaction, then two buffered pings,
    # the second superseding the first before the batch is written
    driver = await api.register_driver(at=MITTE)
    for point in (KREUZBERG, MITTE):
        clock.advance(seconds=1)
        await api.ok("PUT", "/location", driver["sub"], 204, json=point)
    await platform.positions.flush()

    # and a customer's order, offered to that driver at once, tracked, accepted and delivered
    order = await api.order("cust-1")
    await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    async with platform.pubsub.subscribe(job_channel(order["id"])) as heard:
        await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
        await heard.get()
    await api.walk_to(driver["sub"], order["id"], "complete")
    await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")

    # and GraphQL operations, one of them refused, and a path that matches no route
    await gql.ok("cust-1", "query MetricsProbe { __typename }")
    await gql.post("cust-1", "query MetricsBroken { noSuchField }")
    assert (await api.client.get("/client/logistics/no/such/path")).status_code == 404

    after = await scrape(api.client)

    def moved(name: str, **labels: str) -> float:
        return after(name, **labels) - before(name, **labels)

    # then requests are counted by route template, never by raw path
    assert moved("logistics_http_requests_total", method="GET", route=TRACK, status="200") == 2
    assert moved("logistics_http_requests_total", method="PUT", route=ACCEPT, status="200") == 1
    assert moved("logistics_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert moved("logistics_http_request_duration_seconds_count", method="GET", route=TRACK) == 2
    assert not any(
        order["id"] in labels.get("route", "") for labels in after.labelled("logistics_http_requests_total")
    )
    # and GraphQL operations by name, type and outcome
    assert (
        moved("logistics_graphql_operations_total", operation="MetricsProbe", type="query", errors="false")
        == 1
    )
    assert (
        moved("logistics_graphql_operations_total", operation="MetricsBroken", type="query", errors="true")
        == 1
    )
    # and the offer made and accepted, and the time the job waited for its driver
    assert moved("logistics_dispatch_offers_total", outcome="offered") == 1
    assert moved("logistics_dispatch_offers_total", outcome="accepted") == 1
    assert moved("logistics_dispatch_time_to_assign_seconds_count") == 1
    # and the pings: one at once, two buffered, of which one superseded and one row written
    assert moved("logistics_location_pings_total", path="transaction") == 1
    assert moved("logistics_location_pings_total", path="buffered") == 2
    assert moved("logistics_location_pings_coalesced_total", reason="superseded") == 1
    assert moved("logistics_location_rows_written_total") == 1
    assert moved("logistics_location_flush_seconds_count") == 1
    # and the accept's event reached a subscriber, its lag observed
    assert moved("logistics_pubsub_delivery_lag_seconds_count", channel="job") >= 1
    # and the webhook worker's metrics are exported, each outcome from zero
    for outcome in ("delivered", "failed", "error"):
        assert after.has("logistics_webhook_attempts_total", outcome=outcome)
    assert after.has("logistics_webhook_backlog")
    assert after.has("logistics_webhook_endpoints_disabled_total")


async def test_a_connection_held_shows_in_the_pool_gauge(api: Api, platform: Platform) -> None:
    pool = "write" if platform.db.is_sqlite else "main"
    idle = (await scrape(api.client))("logistics_db_connections_checked_out", pool=pool)

    async with platform.db.session() as session:
        await session.execute(text("SELECT 1"))
        held = (await scrape(api.client))("logistics_db_connections_checked_out", pool=pool)

    assert held == idle + 1
    assert (await scrape(api.client))("logistics_db_connections_checked_out", pool=pool) == idle


@pytest.fixture
def live(platform: Platform) -> Iterator[Live]:
    with live_app(platform) as served:
        yield served


def gauges(live: Live) -> tuple[float, float]:
    taken = live.run(scrape, live.api.client)
    return taken("logistics_ws_connections"), taken("logistics_live_subscriptions")


def test_websocket_connections_and_subscriptions_are_gauged(live: Live) -> None:
    order = live.run(live.api.order, "cust-1")
    connections, subscriptions = gauges(live)

    # while a customer's socket is open and subscribed to its order
    with live.ws(sub="cust-1") as ws:
        ws.subscribe("updates", JOB_UPDATED, jobId=order["id"])
        live.wait_members(1)
        # then both gauges count it
        assert gauges(live) == (connections + 1, subscriptions + 1)

    # and once it closes, neither does
    deadline = time.monotonic() + 10
    while gauges(live) != (connections, subscriptions):
        assert time.monotonic() < deadline, gauges(live)
        time.sleep(0.01)


def app_client(settings: Settings) -> httpx.AsyncClient:
    app = create_app(platform=build_platform(settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_a_metrics_token_is_required_once_set(settings: Settings) -> None:
    async with app_client(settings.model_copy(update={"metrics_token": "scrape-secret"})) as client:
        assert (await client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer guess"}
        assert (await client.get("/metrics", headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer scrape-secret"}
        assert (await client.get("/metrics", headers=right)).status_code == 200


async def test_production_without_a_token_serves_no_metrics(settings: Settings) -> None:
    production = settings.model_copy(
        update={
            "env": "production",
            "encryption_key": Fernet.generate_key().decode(),
            "driver_auto_approve": False,
        }
    )
    async with app_client(production) as client:
        assert (await client.get("/metrics")).status_code == 404
    async with app_client(production.model_copy(update={"metrics_token": "scrape-secret"})) as client:
        answer = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert answer.status_code == 200


# --- several workers ------------------------------------------------------------------------


def test_several_workers_get_a_fresh_metrics_directory_and_one_process_none(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with multiprocess_metrics(settings, workers=1) as none:
        assert none is None and MULTIPROC_ENV not in os.environ
    with multiprocess_metrics(settings, workers=2) as temporary:
        assert temporary is not None and temporary.is_dir()
        assert os.environ[MULTIPROC_ENV] == str(temporary)
    assert not temporary.exists() and MULTIPROC_ENV not in os.environ

    # a directory of its own is emptied of an earlier run's values, and kept
    chosen = tmp_path / "metrics"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"old")
    with multiprocess_metrics(settings.model_copy(update={"metrics_dir": chosen}), workers=2) as kept:
        assert kept == chosen and list(chosen.iterdir()) == []
    assert chosen.is_dir()


def test_the_live_gauges_of_a_dead_worker_are_dropped_and_its_counters_kept(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])  # noqa: S607  (a process that has surely ended)
    gone.wait()
    for name in (
        f"gauge_livesum_{gone.pid}.db",
        f"gauge_liveall_{gone.pid}.db",
        f"counter_{gone.pid}.db",
        f"gauge_livesum_{os.getpid()}.db",
    ):
        (tmp_path / name).write_bytes(b"")

    assert forget_dead_processes(str(tmp_path)) == [gone.pid]
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted([f"counter_{gone.pid}.db", f"gauge_livesum_{os.getpid()}.db"])


def readyz_count(directory: Path) -> float:
    """``/readyz`` requests counted in the metrics files of ``directory``."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "logistics_http_requests_total" and sample.labels.get("route") == "/readyz"
    )


def per_worker(directory: Path, workdir: Path) -> list[float]:
    """Each worker's own count, from a copy of its counter file alone."""
    counts = []
    for counter in sorted(directory.glob("counter_*.db")):
        alone = workdir / counter.stem
        alone.mkdir(parents=True, exist_ok=True)
        shutil.copy(counter, alone / counter.name)
        counts.append(readyz_count(alone))
    return counts


@requires_postgres
def test_serve_with_two_workers_scrapes_the_sum_of_both(migrated_database: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    settings = {
        "env": "test",
        "database_url": migrated_database,
        "broadcast_url": REDIS_URL,
        "storage_dir": str(tmp_path / "storage"),
        "metrics_dir": str(metrics_dir),
        "webhook_worker": "false",
    }
    with logistics_serve(tmp_path, "--workers", "2", **settings) as served:
        # when requests arrive, each on a connection of its own, until both workers served some
        sent = 0
        while len([n for n in per_worker(metrics_dir, tmp_path / "copies") if n > 0]) < 2:
            assert sent < 500, "the requests all reached one worker"
            assert httpx.get(f"{served.base}/readyz").status_code == 200
            sent += 1

        # then every scrape, whichever worker answers it, counts all of them
        for _ in range(10):
            with httpx.Client(base_url=served.base) as client:
                taken = Scrape(client.get("/metrics").text)
            assert taken("logistics_http_requests_total", method="GET", route="/readyz", status="200") == sent
        # and both workers are alive in it, one series each
        with httpx.Client(base_url=served.base) as client:
            assert len(Scrape(client.get("/metrics").text).labelled("logistics_process_up")) == 2


def test_the_dashboard_reads_only_metrics_the_service_exports() -> None:
    dashboard = json.loads((Path(__file__).parent.parent / "deploy/grafana/logistics.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"logistics_\w+", expr)
    }
    exported = {family.name for family in REGISTRY.collect()}
    assert used and used <= exported, used - exported
