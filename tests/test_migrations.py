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


def test_0008_restates_old_cash_jobs_so_the_commission_is_owed(empty_database: str) -> None:
    """A cash job completed before 0008 posted the commission to ``platform_receivable``; after
    it, the job reads like one completed now: the whole price in the driver's cash, the
    commission taken from the driver's balance, and nothing left in the receivable."""
    from alembic import command

    command.upgrade(cli.alembic_config(empty_database), "0006")
    old = [
        # (posting, account, owner, amount, type): a cash job (price 1000, commission 200) and a card job.
        ("p1", "customer_payments", "cust-1", -1000, "earning"),
        ("p1", "driver_cash_earnings", "drv-1", 800, "earning"),
        ("p1", "platform_receivable", "drv-1", 200, "earning"),
        ("p2", "prepaid_jobs", "job-2", -500, "earning"),
        ("p2", "driver_earnings", "drv-1", 400, "earning"),
        ("p2", "platform_revenue", "", 100, "earning"),
    ]

    def store(conn: Connection) -> None:
        for n, (posting, account, owner, amount, kind) in enumerate(old):
            conn.execute(
                text(
                    "INSERT INTO ledger_entries (id, posting_id, account, owner_id, amount, currency, type, "
                    "job_id, created_at) VALUES (:id, :posting, :account, :owner, :amount, 'EUR', :kind, "
                    ":job, '2026-03-01 12:00:00')"
                ),
                {"id": f"old{n}", "posting": posting, "account": account, "owner": owner, "amount": amount}
                | {"kind": kind, "job": "job-1" if posting == "p1" else "job-2"},
            )

    _run(empty_database, store)

    cli.migrate(Settings(database_url=empty_database))

    def read(conn: Connection) -> dict[str, Any]:
        def rows(sql: str) -> list[Any]:
            return list(conn.execute(text(sql)).all())

        return {
            "balances": dict(
                rows(
                    "SELECT account || '/' || owner_id, SUM(amount) FROM ledger_entries GROUP BY account, owner_id"
                )
            ),
            "unbalanced": rows(
                "SELECT posting_id FROM ledger_entries GROUP BY posting_id HAVING SUM(amount) <> 0"
            ),
            "restated": rows(
                "SELECT type, account, amount, job_id, created_at FROM ledger_entries "
                "WHERE id NOT LIKE 'old%' ORDER BY type, account"
            ),
        }

    after = _run(empty_database, read)
    assert after["unbalanced"] == []
    assert after["balances"] == {
        "customer_payments/cust-1": -1000,
        "driver_cash/drv-1": 1000,
        "platform_receivable/drv-1": 0,
        "driver_earnings/drv-1": 400 - 200,
        "prepaid_jobs/job-2": -500,
        "platform_revenue/": 100 + 200,
    }
    assert [(kind, account, amount, job) for kind, account, amount, job, _ in after["restated"]] == [
        ("cash_commission", "driver_earnings", -200, "job-1"),
        ("cash_commission", "platform_revenue", 200, "job-1"),
        ("earning", "driver_cash", 200, "job-1"),
        ("earning", "platform_receivable", -200, "job-1"),
    ]
    assert {str(at)[:19] for *_, at in after["restated"]} == {"2026-03-01 12:00:00"}
