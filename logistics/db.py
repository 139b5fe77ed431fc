"""The async engine and the unit of work that every request runs in.

SQLite (the embedded default) allows one writer at a time. Rather than letting concurrent
writers collide and surface "database is locked", writers queue on an asyncio lock and open
their transaction with ``BEGIN IMMEDIATE`` (so a second process waits on the busy timeout
instead of failing on lock upgrade). Readers use a separate engine on the event loop's thread,
without a transaction: WAL lets them read while a write is in progress, and each statement
reads one consistent snapshot. PostgreSQL gets one pooled engine; its reads run in autocommit,
which under READ COMMITTED means the same thing: a snapshot per statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from logistics.errors import DomainError, ErrorCode
from logistics.limits import UNSTORABLE_TEXT, UNSTORABLE_TEXT_MESSAGE
from logistics.observability.metrics import DB_CAPACITY, DB_CHECKED_OUT
from logistics.sqlite_inline import InlineDBAPI

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Below the idle timeouts of the usual proxies and firewalls between a service and PostgreSQL.
POOL_RECYCLE_S = 1800


def database_unavailable(exc: BaseException) -> bool:
    """Every connection in use, or the connection lost (the server restarted): a moment of
    unavailability the client may retry, not a fault of the request."""
    return isinstance(exc, PoolTimeout) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _refuse_nul_characters(
    _conn: Connection, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """PostgreSQL text cannot hold U+0000 ("invalid byte sequence"), and neither database can
    encode a lone surrogate, so client text carrying either (a path id, a GraphQL argument, a
    cursor) is invalid input, not a server error. Request shapes refuse such text by field;
    this is the backstop, on every backend alike, where every string passes through."""
    # A statement's parameters, a list of them (executemany), or, for a batched INSERT
    # (insertmanyvalues), one flat list of every row's values.
    rows = parameters if executemany else [parameters]
    for row in rows or ():
        values = row.values() if isinstance(row, dict) else row if isinstance(row, list | tuple) else (row,)
        if any(isinstance(value, str) and UNSTORABLE_TEXT.search(value) for value in values or ()):
            raise DomainError(ErrorCode.VALIDATION_FAILED, UNSTORABLE_TEXT_MESSAGE)


def _sqlite_engine(url: str, begin: str | None, *, inline: bool = False) -> AsyncEngine:
    options: dict[str, Any] = {"module": InlineDBAPI()} if inline else {}
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)

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

    if begin is not None:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Connection) -> None:
            connection.exec_driver_sql(begin)

    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul_characters)
    return engine


def _count_checkouts(engine: AsyncEngine, pool: str, capacity: int | None = None) -> None:
    """Connections in use, kept by the pool's own events (/metrics, per pool)."""
    in_use = DB_CHECKED_OUT.labels(pool)

    def checkout(*_: Any) -> None:
        in_use.inc()

    def checkin(*_: Any) -> None:
        in_use.dec()

    event.listen(engine.sync_engine, "checkout", checkout)
    event.listen(engine.sync_engine, "checkin", checkin)
    if capacity is not None:
        DB_CAPACITY.labels(pool).set(capacity)


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            # Reads on the loop's thread (``sqlite_inline``): under WAL they never wait for a
            # lock. No BEGIN: each statement reads its own snapshot, as reads do on PostgreSQL
            # (READ COMMITTED, below), and a poll saves a BEGIN and a COMMIT.
            self.read_engine = _sqlite_engine(url, None, inline=True)
        else:
            # No pre-ping: it cost three round trips (BEGIN, a ping, ROLLBACK) on every checkout,
            # more than a tracking poll's own statement. A connection the server dropped fails
            # its first statement instead; SQLAlchemy then invalidates the pool, and the edges
            # answer that one request UNAVAILABLE (retryable).
            self.write_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=POOL_RECYCLE_S
            )
            event.listen(self.write_engine.sync_engine, "before_cursor_execute", _refuse_nul_characters)
            # Reads without BEGIN and COMMIT: under READ COMMITTED each statement takes its own
            # snapshot anyway, so a read-only transaction bought two round trips and nothing else.
            self.read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _count_checkouts(self.write_engine, "write")
            _count_checkouts(self.read_engine, "read")
        else:
            # One pool (reads share it), of pool_size connections and as many overflow.
            _count_checkouts(self.write_engine, "main", capacity=2 * pool_size)
        # This database's sessions alone: listeners (the dispatch index's) attach to it, so
        # two platforms in one process (tests) never hear each other's commits.
        self.session_class: type[Session] = type("Session", (Session,), {})
        self._writer = async_sessionmaker(
            self.write_engine, expire_on_commit=False, sync_session_class=self.session_class
        )
        self._reader = async_sessionmaker(
            self.read_engine, expire_on_commit=False, sync_session_class=self.session_class
        )

    @property
    def engine(self) -> AsyncEngine:
        return self.write_engine

    @property
    def sync_engines(self) -> list[Engine]:
        """The engines that hear their statements' events, once each: PostgreSQL's read engine
        is the write engine with other options, and its events are the write engine's."""
        if self.is_sqlite:
            return [self.write_engine.sync_engine, self.read_engine.sync_engine]
        return [self.write_engine.sync_engine]

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

    def transaction(self, write: bool = True) -> Transaction:
        """A unit of work opened on first use: an edge authenticates and reads the request
        before it asks for one, so a slow client never holds the SQLite writer lock."""
        return Transaction(self, write)

    @asynccontextmanager
    async def unit_of_work(self, write: bool = True) -> AsyncIterator[UnitOfWork]:
        """One transaction: committed on success, rolled back on error.

        Callbacks queued with :meth:`UnitOfWork.after_commit` (event publication) run only
        once the commit succeeded, so nobody hears of work that was rolled back.
        """
        transaction = self.transaction(write)
        try:
            uow = await transaction.begin()
            yield uow
        except BaseException:
            await transaction.finish(commit=False)
            raise
        await transaction.finish(commit=True)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.callbacks: list[Callable[[], Awaitable[None]]] = []
        self.before: list[Callable[[], Awaitable[None]]] = []
        # What use cases note for their before-commit hooks (say, facts as they were).
        self.notes: dict[str, Any] = {}

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self.callbacks.append(callback)

    def before_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """A hook that runs in the transaction just before it commits: it sees the final
        state of the work (and may still queue events)."""
        self.before.append(hook)


class Transaction:
    """The one implementation of commit-then-publish, used by REST, GraphQL (over HTTP and
    websocket), webhooks and the background loops alike."""

    def __init__(self, db: Database, write: bool) -> None:
        self.db = db
        self.write = write
        self._session_cm: AbstractAsyncContextManager[AsyncSession] | None = None
        self.uow: UnitOfWork | None = None

    async def begin(self) -> UnitOfWork:
        if self.uow is None:
            self._session_cm = self.db.session(write=self.write)
            self.uow = UnitOfWork(await self._session_cm.__aenter__())
        return self.uow

    async def finish(self, *, commit: bool) -> None:
        """Commit (or roll back) and release the session; after a commit, run the queued
        callbacks. A transaction never begun finishes at once."""
        uow, session_cm = self.uow, self._session_cm
        self.uow = self._session_cm = None
        if uow is None or session_cm is None:
            return
        try:
            if commit:
                for hook in uow.before:
                    await hook()
                await uow.session.commit()
            else:
                await uow.session.rollback()
        except BaseException as exc:
            await session_cm.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await session_cm.__aexit__(None, None, None)
        if commit:
            for callback in uow.callbacks:
                await callback()
