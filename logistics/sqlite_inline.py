"""SQLite reads on the event loop's own thread.

aiosqlite runs every call (cursor, execute, fetch, close, begin, commit) on a worker thread and
wakes the event loop for each answer: a point read costs three or four thread round trips, each
tens of microseconds of handoff and GIL traffic, while SQLite itself answers it from the page
cache in a few microseconds. Tracking polls are such reads, many times a second. This module is
a DBAPI for SQLAlchemy's ``aiosqlite`` dialect whose "async" calls run the standard ``sqlite3``
module inline and return at once.

Only the read engine uses it. Under WAL a reader never waits for a writer, so nothing here
blocks on a lock; writers keep aiosqlite's thread, because a write may wait on the busy timeout
for another process holding SQLite's one writer lock, and that wait must not stop the loop.
A read that scans many rows holds the loop for its duration: the reads of this service are
keyed or paginated.
"""

from __future__ import annotations

import sqlite3
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)


class _Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> _Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _Connection:
    """The part of ``aiosqlite.Connection`` that SQLAlchemy's adapter calls."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        # The adapter checks ``_connection`` before commit and rollback (closed or not).
        self._connection: sqlite3.Connection | None = connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _Cursor:
        return _Cursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _AdaptedConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # aiosqlite's setter queues the change on its thread; here the connection is ours.
        self._connection._conn.isolation_level = value


class InlineDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine("sqlite+aiosqlite://...")``."""

    def __init__(self) -> None:
        # aiosqlite re-exports sqlite3's exceptions and version: the adapter reads them there.
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *args: Any, **kwargs: Any) -> _AdaptedConnection:
        kwargs.pop("async_creator_fn", None)
        # The pool may close a connection from another thread than the one that opened it.
        kwargs["check_same_thread"] = False
        connection = sqlite3.connect(*args, **kwargs)
        # Typed as aiosqlite's connection by the adapter; it has the part the adapter calls.
        return _AdaptedConnection(self, cast(Any, _Connection(connection)))
