"""``logistics demo`` against a real ``logistics serve`` with the payments sandbox on: the
simulated fleet delivers orders end to end through the public API, money moves through the
ledger in balanced postings, customers rate and tip, and the demo stops cleanly on time."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import logistics_serve

DEMO_ARGS = ["--drivers", "4", "--customers", "3", "--rate", "40", "--speedup", "60", "--duration", "45"]
# --duration plus the clean-up and start-up; a bound, never a measure.
DEMO_TIMEOUT_S = 90


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The server on its embedded defaults but for the payments sandbox (card orders and tips
    without provider accounts)."""
    with logistics_serve(tmp_path, payments_sandbox="true") as served:
        yield served.base, served.env


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


def test_the_demo_delivers_orders_and_moves_money(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = server

    # When the demo runs against the server for 45 seconds
    started = time.monotonic()
    run = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "logistics.cli", "demo", "--url", base, *DEMO_ARGS, "--seed", "7"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
    )
    took = time.monotonic() - started

    # Then it stopped on time, by itself, with exit code 0
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert took < 45 + 30, took
    out = run.stdout
    # It said where to watch: the ops map with a token to paste, and the first orders' tracking pages
    assert f"ops map      {base}/ops" in out, out
    assert re.search(r"ops token    [\w-]+\.[\w-]+\.[\w-]+", out), out
    assert re.search(rf"tracking {re.escape(base)}/t/[\w.-]+", out), out
    # Not a terminal: plain status lines, then the summary
    assert re.search(r"\] orders \d+ \| searching \d+ \| offered \d+ \| under way \d+ \| completed", out)
    summary = re.search(r"Demo stopped after \d+ s: (\d+) orders? placed, (\d+) completed", out)
    assert summary is not None, out
    assert "\r" not in out

    db = tmp_path / "logistics.db"
    # And the fleet delivered: jobs walked through every step to completed
    completed = query(
        db,
        "SELECT id, driver_id, payment_method, payment_status, price, driver_earnings "
        "FROM jobs WHERE status = 'completed'",
    )
    assert len(completed) >= 2, out
    assert int(summary.group(2)) >= 2, out
    for job_id, *_ in completed:
        [(images,)] = query(
            db, "SELECT COUNT(*) FROM job_images WHERE job_id = ? AND kind = 'dropoff'", job_id
        )
        assert images >= 1

    # Every posting in the ledger balances: money only moved, never appeared or vanished
    assert (
        query(db, "SELECT posting_id FROM ledger_entries GROUP BY posting_id HAVING SUM(amount) != 0") == []
    )
    for job_id, driver_id, method, payment_status, price, earnings in completed:
        credited = dict(
            query(
                db,
                "SELECT account, SUM(amount) FROM ledger_entries "
                "WHERE job_id = ? AND owner_id = ? AND type = 'earning' GROUP BY account",
                job_id,
                driver_id,
            )
        )
        if payment_status == "paid":
            # A card order: the held price went out, the driver's earnings account got its share
            assert method == "stripe"
            assert credited == {"driver_earnings": earnings}, (job_id, credited)
        else:
            # A cash order: the driver holds the whole price; its commission is owed from its balance
            assert method == "cash"
            assert credited == {"driver_cash": price}, (job_id, credited)

    # And customers rated the drivers, and tipped through the sandbox to the drivers' balances
    completed_ids = {row[0] for row in completed}
    rated = query(db, "SELECT job_id, stars FROM ratings")
    assert rated and {job_id for job_id, _ in rated} <= completed_ids
    assert all(1 <= stars <= 5 for _, stars in rated)
    tips = query(
        db,
        "SELECT l.job_id, l.amount FROM ledger_entries l JOIN payments p ON p.job_id = l.job_id "
        "AND p.purpose = 'tip' AND p.status = 'succeeded' "
        "WHERE l.type = 'tip' AND l.account = 'driver_earnings' AND l.amount > 0",
    )
    assert tips, out
    assert {job_id for job_id, _ in tips} <= completed_ids

    # And it stopped cleanly: every driver of the demo is offline
    assert query(db, "SELECT COUNT(*) FROM drivers WHERE online") == [(0,)]
    [(drivers,)] = query(db, "SELECT COUNT(*) FROM drivers")
    assert drivers == 4
