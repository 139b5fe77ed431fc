"""A second, gentler reference: the bare app of ``hotpaths_baseline`` (``app_for``, the same HTTP
side) with the database reached through SQLAlchemy Core engines, as the service reaches it,
instead of the drivers directly. The service is measured against both: the drivers' floor says
what the stack can do, this one what the same ORM library costs a bare app doing the same one
statement.

- ``PUT /client/logistics/location``: the same HS256 check, a pydantic body, one UPDATE of the
  caller's row guarded by ``status = 'approved'`` in one committed transaction (403 if no row).
- ``GET /client/logistics/orders/{id}/track``: the same check, a primary-key select of the job
  and an ownership check (404 for another customer's job), a small JSON answer.

Served by uvicorn from the same venv::

    uvicorn bench.hotpaths_baseline_orm:create_app --factory

with ``LOGISTICS_DATABASE_URL`` and ``LOGISTICS_JWT_SECRET`` as for the service. The engines are
set up as the service sets up its own writes: on SQLite a writer and a reader engine (WAL,
``synchronous=NORMAL``, a busy timeout, ``BEGIN IMMEDIATE`` for writes) with the writes of the
process queued on one asyncio lock; on PostgreSQL one asyncpg pool of the same size.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import DateTime, Float, String, column, event, select, table, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.hotpaths_baseline import BUSY_TIMEOUT_MS, app_for

POOL_SIZE = 10

drivers = table(
    "drivers",
    column("user_id", String),
    column("status", String),
    column("lat", Float),
    column("lng", Float),
    column("location_recorded_at", DateTime(timezone=True)),
    column("updated_at", DateTime(timezone=True)),
)
jobs = table(
    "jobs",
    column("id", String),
    column("customer_id", String),
    column("status", String),
    column("driver_id", String),
)
TRACK = select(jobs.c.customer_id, jobs.c.status, jobs.c.driver_id)


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # As the service: BEGIN is ours to choose (IMMEDIATE for writers).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class CoreStore:
    """The statements of ``hotpaths_baseline``'s stores, through SQLAlchemy Core engines."""

    def __init__(self, url: str) -> None:
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.reader = _sqlite_engine(url, "BEGIN")
        else:
            self.writer = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
            self.reader = self.writer
        # SQLite has one writer: queue the process's writers here rather than on the busy timeout.
        self.write_lock: Any = asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

    async def locate(self, sub: str, lat: float, lng: float) -> bool:
        # SQLite keeps naive UTC (as the service's UTCDateTime stores it).
        now = datetime.now(UTC)
        now = now.replace(tzinfo=None) if self.is_sqlite else now
        statement = (
            update(drivers)
            .where(drivers.c.user_id == sub, drivers.c.status == "approved")
            .values(lat=lat, lng=lng, location_recorded_at=now, updated_at=now)
        )
        async with self.write_lock, self.writer.begin() as conn:
            return bool((await conn.execute(statement)).rowcount == 1)

    async def job(self, job_id: str) -> Any:
        async with self.reader.connect() as conn:
            return (await conn.execute(TRACK.where(jobs.c.id == job_id))).first()

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))


def create_app() -> FastAPI:
    return app_for(CoreStore(os.environ["LOGISTICS_DATABASE_URL"]))
