"""A second, gentler reference: the bare app of ``hotpaths_baseline`` with the database reached
through SQLAlchemy Core engines, as the service reaches it, instead of the drivers directly. The
service is measured against both: the drivers' floor says what the stack can do, this one what
the same ORM library costs a bare app doing the same one statement.

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
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, Float, String, column, event, select, table, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

BUSY_TIMEOUT_MS = 30_000
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


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


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


class Store:
    def __init__(self, url: str) -> None:
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.reader = _sqlite_engine(url, "BEGIN")
        else:
            self.writer = create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
            self.reader = self.writer
        # SQLite has one writer: queue the process's writers here rather than on the busy timeout.
        self.write_lock = asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()

    def now(self) -> datetime:
        # SQLite keeps naive UTC (as the service's UTCDateTime stores it).
        now = datetime.now(UTC)
        return now.replace(tzinfo=None) if self.is_sqlite else now

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def create_app() -> FastAPI:
    secret = os.environ["LOGISTICS_JWT_SECRET"]
    store = Store(os.environ["LOGISTICS_DATABASE_URL"])

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await store.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    # async: a plain def dependency runs on a worker thread, a cost neither app should pay.
    async def caller(authorization: str | None = Header(default=None)) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            raise HTTPException(401, "expected a bearer token")
        try:
            claims = jwt.decode(
                token.strip(), secret, algorithms=["HS256"], options={"require": ["exp", "iat", "sub"]}
            )
        except jwt.PyJWTError as exc:
            raise HTTPException(401, "invalid token") from exc
        return str(claims["sub"])

    @app.put("/client/logistics/location", status_code=204)
    async def put_location(body: Location, sub: str = Depends(caller)) -> Response:
        now = store.now()
        statement = (
            update(drivers)
            .where(drivers.c.user_id == sub, drivers.c.status == "approved")
            .values(lat=body.lat, lng=body.lng, location_recorded_at=now, updated_at=now)
        )
        async with store.write_lock, store.writer.begin() as conn:
            changed = (await conn.execute(statement)).rowcount
        if changed != 1:
            raise HTTPException(403, "not an approved driver")
        return Response(status_code=204)

    @app.get("/client/logistics/orders/{job_id}/track")
    async def track(job_id: str, sub: str = Depends(caller)) -> dict[str, Any]:
        query = select(jobs.c.id, jobs.c.customer_id, jobs.c.status, jobs.c.driver_id).where(
            jobs.c.id == job_id
        )
        async with store.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None or row.customer_id != sub:
            raise HTTPException(404, "no such order")
        return {"job_id": row.id, "status": row.status, "driver_id": row.driver_id}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        async with store.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
