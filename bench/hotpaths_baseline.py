"""The floor the service's hot paths are measured against: a bare FastAPI app doing the least
work each path must do, on the service's own tables and database, through the async drivers the
service's stack is built on, used directly (no SQLAlchemy, no session, no ORM).

- ``PUT /client/logistics/location``: the same HS256 check (pyjwt, HS256 only, ``exp``, ``iat``
  and ``sub`` required), a pydantic body, one ``UPDATE drivers ... WHERE user_id = ? AND status =
  'approved'`` in its own committed transaction (403 if no row changed), 204.
- ``GET /client/logistics/orders/{id}/track``: the same check, one primary-key ``SELECT`` of the
  job and an ownership check (404 for another customer's job), a small JSON answer (orjson).

Served by uvicorn from the same venv::

    uvicorn bench.hotpaths_baseline:create_app --factory

with ``LOGISTICS_DATABASE_URL`` and ``LOGISTICS_JWT_SECRET`` as for the service; connections are
opened at startup. SQLite (``aiosqlite``; WAL, ``synchronous=NORMAL`` and the service's busy
timeout): one writer connection, its writes queued on one asyncio lock as the service queues its
own, each ``BEGIN IMMEDIATE`` (implicit) + ``UPDATE`` then ``COMMIT``; four reader connections
taken in turn, one ``execute_fetchall`` (one trip to the connection's thread) per read.
PostgreSQL: one ``asyncpg`` pool of the service's size (10, up to 20), the ``UPDATE`` by
``execute`` in autocommit (one committed transaction) and the ``SELECT`` by ``fetchrow``, both as
prepared statements cached per connection.

Why it is the floor: every step left is one the service cannot skip either (parse and route the
request, verify the token, validate the body, one statement, commit, answer), each done the
cheapest way the stack offers: the token check is an ``async`` dependency (a plain ``def`` one
would cost a worker-thread trip per request), and there is one driver call per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Protocol

import aiosqlite
import asyncpg
import jwt
import orjson
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from pydantic import BaseModel, Field

BUSY_TIMEOUT_MS = 30_000
POOL_MIN, POOL_MAX = 10, 20
SQLITE_READERS = 4

SET_LOCATION = "UPDATE drivers SET lat = {}, lng = {}, location_recorded_at = {}, updated_at = {} "
GUARD = "WHERE user_id = {} AND status = 'approved'"
SELECT_JOB = "SELECT customer_id, status, driver_id FROM jobs WHERE id = {}"


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class SQLiteStore:
    """One writer (writes queued on an asyncio lock), a few readers in turn."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.location_sql = (SET_LOCATION + GUARD).format("?", "?", "?", "?", "?")
        self.track_sql = SELECT_JOB.format("?")
        self.write_lock = asyncio.Lock()
        self.writer: aiosqlite.Connection | None = None
        self.readers: list[aiosqlite.Connection] = []
        self._turns = itertools.count()

    async def _connect(self, **kw: Any) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, **kw)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    async def open(self) -> None:
        # The service's writers open with BEGIN IMMEDIATE: so does sqlite3 here, implicitly.
        self.writer = await self._connect(isolation_level="IMMEDIATE")
        self.readers = [await self._connect() for _ in range(SQLITE_READERS)]

    def _reader(self) -> aiosqlite.Connection:
        return self.readers[next(self._turns) % SQLITE_READERS]

    async def close(self) -> None:
        for conn in [self.writer, *self.readers]:
            if conn is not None:
                await conn.close()

    async def locate(self, sub: str, lat: float, lng: float) -> bool:
        # The service's SQLite timestamps: naive UTC, SQLAlchemy's 'YYYY-MM-DD HH:MM:SS.ffffff'.
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        assert self.writer is not None
        async with self.write_lock:
            # sqlite3 opens the transaction (BEGIN IMMEDIATE) before the UPDATE; COMMIT ends it.
            try:
                cursor = await self.writer.execute(self.location_sql, (lat, lng, now, now, sub))
                await self.writer.commit()
            except BaseException:
                await self.writer.rollback()
                raise
        return cursor.rowcount == 1

    async def job(self, job_id: str) -> Any:
        rows = await self._reader().execute_fetchall(self.track_sql, (job_id,))
        return next(iter(rows), None)

    async def ping(self) -> None:
        await self._reader().execute_fetchall("SELECT 1")


class PostgresStore:
    """One asyncpg pool; statements in autocommit, prepared once per connection."""

    def __init__(self, url: str) -> None:
        # asyncpg takes a libpq URL: drop SQLAlchemy's "+asyncpg".
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.location_sql = (SET_LOCATION + GUARD).format("$1", "$2", "$3", "$3", "$4")
        self.track_sql = SELECT_JOB.format("$1")
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=POOL_MIN, max_size=POOL_MAX)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def locate(self, sub: str, lat: float, lng: float) -> bool:
        assert self.pool is not None
        status = await self.pool.execute(self.location_sql, lat, lng, datetime.now(UTC), sub)
        return status == "UPDATE 1"

    async def job(self, job_id: str) -> Any:
        assert self.pool is not None
        return await self.pool.fetchrow(self.track_sql, job_id)

    async def ping(self) -> None:
        assert self.pool is not None
        await self.pool.fetchval("SELECT 1")


def store_for(url: str) -> SQLiteStore | PostgresStore:
    if url.startswith("sqlite"):
        return SQLiteStore(url.partition(":///")[2])
    return PostgresStore(url)


class Store(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def locate(self, sub: str, lat: float, lng: float) -> bool: ...
    async def job(self, job_id: str) -> Any: ...
    async def ping(self) -> None: ...


def create_app() -> FastAPI:
    return app_for(store_for(os.environ["LOGISTICS_DATABASE_URL"]))


def app_for(store: Store) -> FastAPI:
    """The bare app over ``store``: the drivers' here, SQLAlchemy's in ``hotpaths_baseline_orm``."""
    secret = os.environ["LOGISTICS_JWT_SECRET"]

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

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
        if not await store.locate(sub, body.lat, body.lng):
            raise HTTPException(403, "not an approved driver")
        return Response(status_code=204)

    @app.get("/client/logistics/orders/{job_id}/track")
    async def track(job_id: str, sub: str = Depends(caller)) -> Response:
        row = await store.job(job_id)
        if row is None or row[0] != sub:
            raise HTTPException(404, "no such order")
        answer = {"job_id": job_id, "status": row[1], "driver_id": row[2]}
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        await store.ping()
        return {"status": "ok"}

    return app
