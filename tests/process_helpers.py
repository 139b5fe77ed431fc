"""Real server processes for tests: ``uvicorn logistics.app:create_app --factory`` children
configured only through ``LOGISTICS_*`` variables, as a deployment runs them, on the database
under test (the PostgreSQL test database when ``LOGISTICS_TEST_DATABASE_URL`` is set, else a
SQLite file) migrated with Alembic, broadcasting through the Redis on 6379."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import asyncio as redis
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

import logistics.models  # noqa: F401  (registers every table on the metadata)
from logistics import cli
from logistics.auth import mint_token
from logistics.config import Settings
from tests.factories import MITTE, Api
from tests.realtime_helpers import free_port

# The database under test: PostgreSQL when set, else a SQLite file of each test.
PG_URL = os.environ.get("LOGISTICS_TEST_DATABASE_URL")
REDIS_URL = "redis://127.0.0.1:6379/0"
JWT_SECRET = "multiprocess-secret-" + "z" * 32
START_S = 60.0
WAIT_S = 10.0


def _run(url: str, work: Any) -> None:
    async def go() -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(work)
        finally:
            await engine.dispose()

    asyncio.run(go())


def _drop_every_table(conn: Connection) -> None:
    existing = MetaData()
    existing.reflect(conn)
    existing.drop_all(conn)


def _restore_test_schema(conn: Connection) -> None:
    _drop_every_table(conn)
    SQLModel.metadata.create_all(conn)


@pytest.fixture
def migrated_database(tmp_path: Path) -> Iterator[str]:
    """The shared database, built by the Alembic migrations as ``logistics serve`` would. The
    PostgreSQL test database is given back afterwards in the shape the other tests expect."""
    if PG_URL is None:
        url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        cli.migrate(Settings(database_url=url))
        yield url
        return
    _run(PG_URL, _drop_every_table)
    try:
        cli.migrate(Settings(database_url=PG_URL))
        yield PG_URL
    finally:
        _run(PG_URL, _restore_test_schema)


class Server:
    """One ``uvicorn`` child serving the app on its own port."""

    def __init__(self, name: str, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        self._output = self.log.open("wb")
        argv = [sys.executable, "-m", "uvicorn", "logistics.app:create_app", "--factory"]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"]
        self.process = subprocess.Popen(  # noqa: S603  (our own interpreter, a fixed argv)
            argv, env=env, cwd=workdir, stdout=self._output, stderr=subprocess.STDOUT
        )

    async def wait_ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            while True:
                assert self.process.poll() is None, f"{self.name} exited:\n{self.log.read_text()}"
                with suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """``kill -9``: no shutdown hook runs."""
        self.process.kill()
        self.process.wait(timeout=WAIT_S)
        self._output.close()

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=WAIT_S)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=WAIT_S)
        finally:
            self._output.close()


@pytest.fixture
def child_settings(migrated_database: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=migrated_database,
        broadcast_url=REDIS_URL,
        storage_dir=tmp_path / "storage",
        driver_auto_approve=True,
        jwt_secret=JWT_SECRET,
    )


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a server child: this one's, without its ``LOGISTICS_*``, plus the
    settings the children share (and ``extra``, as ``LOGISTICS_<NAME>``)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGISTICS_")}
    env.update(
        {
            "LOGISTICS_ENV": "test",
            "LOGISTICS_DATABASE_URL": settings.database_url,
            "LOGISTICS_BROADCAST_URL": REDIS_URL,
            "LOGISTICS_JWT_SECRET": JWT_SECRET,
            "LOGISTICS_DRIVER_AUTO_APPROVE": "true",
            "LOGISTICS_STORAGE_DIR": str(settings.storage_dir),
        }
    )
    env.update({f"LOGISTICS_{name.upper()}": value for name, value in extra.items()})
    return env


@pytest.fixture
def servers(child_settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            started.append(Server(name, child_env(child_settings), tmp_path))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


@asynccontextmanager
async def rest(server: Server, settings: Settings) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=WAIT_S) as client:
        yield Api(client, settings)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    return message


async def wait_for_redis_subscriber(channel: str) -> None:
    """Until some process listens on ``channel`` in Redis (bounded)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                counts = dict(await client.pubsub_numsub(channel))
                if counts.get(channel.encode(), 0) > 0:
                    return
                await asyncio.sleep(0.02)
    finally:
        await client.aclose()


@asynccontextmanager
async def customer_socket(server: Server, settings: Settings, sub: str) -> AsyncIterator[ClientConnection]:
    """A ``graphql-transport-ws`` connection to ``server``, acknowledged, as ``sub``."""
    async with connect(
        f"ws://127.0.0.1:{server.port}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        open_timeout=WAIT_S,
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"token": mint_token(settings, sub)}})
        )
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


async def subscribe(ws: ClientConnection, op_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def job_across(api_a: Api, api_b: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """(driver, order): a driver registered on A, an order placed on B, accepted on A."""
    driver = await api_a.register_driver(at=MITTE)
    order = await api_b.order("cust-1")
    await api_a.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    return driver, order
