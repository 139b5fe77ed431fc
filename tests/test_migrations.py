"""The Alembic migrations build exactly the schema the models declare.

A model change without a migration makes ``compare_metadata`` report a difference, and this
test fails. It runs on the database under test: a fresh SQLite file, or the PostgreSQL test
database, emptied first and given back afterwards in the shape the other tests expect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import logistics.models  # noqa: F401  (registers every table on the metadata)
from logistics import cli
from logistics.config import Settings
from tests.conftest import PG_URL


def _run(url: str, work: Any) -> Any:
    """Run ``work(connection)`` in one committed transaction on a short-lived engine.

    The migrations themselves call ``asyncio.run``, so these tests are synchronous and drive
    their own event loop only between migration runs.
    """

    async def go() -> Any:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _drop_every_table(conn: Connection) -> None:
    existing = MetaData()
    existing.reflect(conn)
    existing.drop_all(conn)


def _restore_test_schema(conn: Connection) -> None:
    _drop_every_table(conn)
    SQLModel.metadata.create_all(conn)


def _schema_differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, SQLModel.metadata))


def _current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(cli.alembic_config(url)).get_current_head()


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database without tables. On PostgreSQL the test database is emptied, and afterwards
    rebuilt from the models, which is how ``reset_database`` expects to find it."""
    if PG_URL is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
        return
    _run(PG_URL, _drop_every_table)
    try:
        yield PG_URL
    finally:
        _run(PG_URL, _restore_test_schema)


def test_migrations_build_the_schema_the_models_declare(empty_database: str) -> None:
    cli.migrate(Settings(database_url=empty_database))

    assert _run(empty_database, _current_revision) == _head_revision(empty_database)
    differences = _run(empty_database, _schema_differences)
    assert differences == [], (
        "the models and the migrations disagree; add a migration "
        "(alembic revision --autogenerate) for these differences:\n" + "\n".join(map(repr, differences))
    )


def test_logistics_migrate_twice_is_harmless(empty_database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", empty_database)
    assert cli.main(["migrate"]) == 0

    def store_a_row(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO idempotency_keys (id, user_id, scope, key, fingerprint, resource_id, created_at) "
                "VALUES ('01TESTROW', 'user-1', 'orders.create', 'k1', 'f', 'job-1', CURRENT_TIMESTAMP)"
            )
        )

    _run(empty_database, store_a_row)

    assert cli.main(["migrate"]) == 0

    def rows(conn: Connection) -> list[str]:
        return list(conn.execute(text("SELECT id FROM idempotency_keys")).scalars())

    assert _run(empty_database, rows) == ["01TESTROW"]
    assert _run(empty_database, _current_revision) == _head_revision(empty_database)
    assert _run(empty_database, _schema_differences) == []
