"""The async engine and the unit of work that every request runs in.

SQLite (the embedded default) allows one writer at a time. Rather than letting concurrent
writers collide and surface "database is locked", writers queue on an asyncio lock and open
their transaction with ``BEGIN IMMEDIATE`` (so a second process waits on the busy timeout
instead of failing on lock upgrade). Readers use a separate engine with plain ``BEGIN``; WAL
lets them read while a write is in progress. PostgreSQL gets one pooled engine for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from logistics.errors import DomainError, ErrorCode

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _refuse_nul_characters(
    _conn: Connection, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """PostgreSQL text cannot hold U+0000 ("invalid byte sequence"), so client text carrying
    it (a body field, a path id, a cursor) is invalid input, not a server error. Refused here,
    on every backend alike, because this is the one place every string passes through."""
    rows = parameters if executemany else [parameters]
    for row in rows or ():
        values = row.values() if isinstance(row, dict) else row
        if any(isinstance(value, str) and "\x00" in value for value in values or ()):
            raise DomainError(ErrorCode.VALIDATION_FAILED, "text may not contain NUL (U+0000) characters")


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN out of the driver's hands so that we choose DEFERRED or IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)

    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul_characters)
    return engine


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        else:
            self.write_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            event.listen(self.write_engine.sync_engine, "before_cursor_execute", _refuse_nul_characters)
            self.read_engine = self.write_engine
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def engine(self) -> AsyncEngine:
        return self.write_engine

    @asynccontextmanager
    async def session(self, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction the caller commits; rolled back if left open."""
        if write and self._write_lock is not None:
            async with self._write_lock, self._writer() as session:
                yield session
        else:
            factory = self._writer if write else self._reader
            async with factory() as session:
                yield session

    @asynccontextmanager
    async def unit_of_work(self, write: bool = True) -> AsyncIterator[UnitOfWork]:
        """One request's transaction: committed on success, rolled back on error.

        Callbacks queued with :meth:`UnitOfWork.after_commit` (event publication) run only
        once the commit succeeded, so nobody hears of work that was rolled back.
        """
        async with self.session(write=write) as session:
            uow = UnitOfWork(session)
            try:
                yield uow
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        for callback in uow.callbacks:
            await callback()

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.callbacks: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.callbacks.append(callback)
