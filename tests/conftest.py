"""The app on the database under test: SQLite by default, PostgreSQL (and Redis) when
``LOGISTICS_TEST_DATABASE_URL`` / ``LOGISTICS_TEST_BROADCAST_URL`` are set. Each test gets a
clean database."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import strawberry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import logistics.models  # noqa: F401
from logistics.app import build_platform, create_app
from logistics.config import Settings
from logistics.platform import Platform
from logistics.schema import build_schema
from tests import fake_providers as fakes
from tests import process_helpers as processes
from tests.factories import Api
from tests.fake_providers import FakeProviders
from tests.graphql_helpers import GraphQL

PG_URL = processes.PG_URL
BROADCAST_URL = os.environ.get("LOGISTICS_TEST_BROADCAST_URL", "memory://")
_pg_ready = False

requires_postgres = pytest.mark.skipif(
    PG_URL is None, reason="needs LOGISTICS_TEST_DATABASE_URL (PostgreSQL)"
)

# The local Stripe and PayPal fakes, here so that every test module shares the one server of the
# session instead of starting its own.
fake_providers_server = fakes.fake_providers_server
fake_providers = fakes.fake_providers
# Real server processes on the database under test, for the tests that need more than one.
migrated_database = processes.migrated_database
child_settings = processes.child_settings
servers = processes.servers


@pytest.fixture
def fake(fake_providers: FakeProviders) -> FakeProviders:
    """The fake providers, by the short name the money tests use."""
    return fake_providers


class Clock:
    """A clock the tests move by hand: no test sleeps to let time pass."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


_sqlite_template: Path | None = None
SQLITE_PREFIX = "sqlite+aiosqlite:///"


async def _fresh_sqlite(url: str) -> None:
    """A clean SQLite file: a copy of one built once per run, far cheaper than creating
    every table for every test."""
    global _sqlite_template
    if _sqlite_template is None:
        template = Path(tempfile.mkdtemp(prefix="logistics-template-")) / "template.db"
        engine = create_async_engine(SQLITE_PREFIX + str(template))
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
        await engine.dispose()
        _sqlite_template = template
    target = Path(url.removeprefix(SQLITE_PREFIX))
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, target)


async def reset_database(url: str) -> None:
    global _pg_ready
    if url.startswith(SQLITE_PREFIX) and ":memory:" not in url:
        await _fresh_sqlite(url)
        return
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if url.startswith("postgresql") and _pg_ready:
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {tables} CASCADE"))
        else:
            await conn.run_sync(SQLModel.metadata.drop_all)
            await conn.run_sync(SQLModel.metadata.create_all)
            _pg_ready = url.startswith("postgresql")
    await engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return PG_URL or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        broadcast_url=BROADCAST_URL,
        storage_dir=tmp_path / "storage",
        driver_auto_approve=True,
        # Tests drive dispatch by hand (dispatch.loop.run_once) with the test clock.
        dispatch_loop=False,
        # Webhook tests run the delivery worker themselves (tests/test_webhooks*.py).
        webhook_worker=False,
        # Offers at booking, as most dispatch tests expect; batched windows (the default
        # mode) have their own tests, which set it (tests/test_dispatch_batch.py).
        dispatch_mode="greedy",
        max_upload_mb=1,
        jwt_secret="test-secret-" + "x" * 32,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def platform(settings: Settings, clock: Clock) -> AsyncIterator[Platform]:
    await reset_database(settings.database_url)
    platform = build_platform(settings)
    platform.clock = clock
    yield platform


@pytest.fixture
async def app(platform: Platform) -> AsyncIterator[object]:
    app = create_app(platform=platform)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def api(client: httpx.AsyncClient, settings: Settings) -> Api:
    return Api(client, settings)


@pytest.fixture
def gql(api: Api) -> GraphQL:
    return GraphQL(api)


@pytest.fixture
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)
