"""What ``dispatch_throughput`` does around its timed passes: the new searching jobs inserted
in bulk, the offers a window made taken back, the fleet set free again between rates, and the
CPU counters of the machine and of the PostgreSQL server read before and after each pass."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlmodel import col

from bench.cpu import TICK_S, backend_pids, process_cpu_s
from bench.dispatch_fleet import PointSampler
from bench.job_rows import cash_job
from logistics.config import Settings
from logistics.db import Database
from logistics.dispatch.index import touched
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobOffer
from logistics.platform import Platform

# (share of the orders, items): the smallest vehicle that carries each is a bicycle, a
# motorbike, a car and a van, beside a fleet of 35/25/30/10 % of them (``VEHICLE_MIX``).
PARCELS: list[tuple[float, list[dict[str, Any]]]] = [
    (0.55, [{"description": "Documents", "quantity": 1, "weight_kg": 1.5, "size": "small"}]),
    (0.20, [{"description": "Box of books", "quantity": 1, "weight_kg": 15.0, "size": "medium"}]),
    (0.20, [{"description": "Flat-pack shelf", "quantity": 1, "weight_kg": 40.0, "size": "large"}]),
    (0.05, [{"description": "Washing machine", "quantity": 1, "weight_kg": 80.0, "size": "xlarge"}]),
]


def job_rows(
    n: int, sample: PointSampler, rng: random.Random, settings: Settings, start: datetime, window_s: float
) -> list[dict[str, Any]]:
    """``n`` cash orders as ``resolvers.orders.new_job`` makes them (priced like a quote, in
    ``searching`` at once), created evenly over the window that begins at ``start``, each due
    for dispatch from its creation."""
    shares, parcels = [share for share, _ in PARCELS], [items for _, items in PARCELS]
    rows = []
    for i in range(n):
        pickup, dropoff = sample(), sample()
        at = start + timedelta(seconds=window_s * i / n)
        customer = f"bench-customer-{rng.randrange(1_000_000)}"
        items = rng.choices(parcels, shares)[0]
        rows.append(
            cash_job(
                settings,
                pickup,
                dropoff,
                items,
                customer=customer,
                status=JobStatus.SEARCHING.value,
                created_at=at,
                dispatch_after=at,
            )
        )
    return rows


async def insert_jobs(db: Database, rows: list[dict[str, Any]]) -> None:
    """One Core ``INSERT`` (executemany) for the window's jobs."""
    async with db.write_engine.begin() as conn:
        await conn.execute(insert(Job), rows)


async def pool_size(db: Database, now: datetime) -> int:
    """The jobs a window run at ``now`` reads: the new ones and any left unmatched before."""
    query = (
        select(func.count())
        .select_from(Job)
        .where(
            col(Job.status) == JobStatus.SEARCHING,
            col(Job.driver_id).is_(None),
            col(Job.dispatch_after) <= now,
        )
    )
    async with db.session(write=False) as session:
        return int((await session.execute(query)).scalar_one())


async def release_offers(platform: Platform) -> int:
    """Take back every live offer as a cancelled order does (offer ``withdrawn``, job
    ``cancelled``), in one transaction of the platform's database whose commit marks the
    drivers for the index, as a change through the app would. Returns how many."""
    now = platform.clock()
    async with platform.db.session() as session:
        live = (
            await session.execute(
                select(col(JobOffer.id), col(JobOffer.job_id), col(JobOffer.driver_id)).where(
                    col(JobOffer.status) == "pending"
                )
            )
        ).all()
        if live:
            await session.execute(
                update(JobOffer)
                .where(col(JobOffer.id).in_([offer_id for offer_id, _, _ in live]))
                .values(status="withdrawn", reason="the job was cancelled", responded_at=now)
            )
            await session.execute(
                update(Job)
                .where(col(Job.id).in_([job_id for _, job_id, _ in live]))
                .values(status=JobStatus.CANCELLED.value, dispatch_after=None, updated_at=now)
            )
            touched(session, *(driver_id for _, _, driver_id in live))
        await session.commit()
    return len(live)


async def reset_fleet(platform: Platform) -> None:
    """Every driver free and just located again: no offers, no jobs, positions stamped now,
    and the index rebuilt from the database."""
    now = platform.clock()
    async with platform.db.write_engine.begin() as conn:
        await conn.execute(delete(JobOffer))
        await conn.execute(delete(Job))
        await conn.execute(update(Driver).values(location_recorded_at=now))
    await platform.drivers.rebuild(platform.db)


# --- CPU beside this process's (Linux /proc; None elsewhere) ---------------------------------


def _busy_s() -> float | None:
    """CPU seconds the cores this process may run on (``taskset``) have spent busy, whoever
    used them."""
    mine = {f"cpu{n}" for n in os.sched_getaffinity(0)} if hasattr(os, "sched_getaffinity") else set()
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    busy = 0
    for line in lines:
        name, *values = line.split()
        if name in mine:
            user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in values[:7])
            busy += user + nice + system + irq + softirq
    return busy * TICK_S if mine else None


@dataclass
class CpuMark:
    busy_s: float | None
    server_s: float | None
    pids: list[int]


async def cpu_mark(db: Database, pids: list[int] | None = None) -> CpuMark:
    """The counters now. On PostgreSQL at a local server: the CPU of the backends serving this
    database (read before a pass; read again after it for the same ones)."""
    if pids is None:
        pids = await backend_pids(db) or []
    server = sum(process_cpu_s(pid) for pid in pids) if pids else None
    return CpuMark(_busy_s(), server, pids)
