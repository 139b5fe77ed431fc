"""CPU clocks the benches read from ``/proc``: a process's, and those of the PostgreSQL backends
serving a database when the server runs on this machine."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text

from logistics.db import Database

TICK_S = 1 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process (clock ticks); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def is_postgres(pid: int) -> bool:
    """Whether ``pid`` is a PostgreSQL process of this machine."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres")
    except OSError:
        return False


async def backend_pids(db: Database) -> list[int] | None:
    """The PostgreSQL backends serving this database; None on SQLite, or when the server is not
    on this machine (its CPU is out of reach)."""
    if db.is_sqlite:
        return None
    async with db.session(write=False) as session:
        query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [int(pid) for (pid,) in await session.execute(query)]
    return pids if all(is_postgres(pid) for pid in pids) else None
