"""Batched dispatch (``DISPATCH_MODE=batch``): once per window, the jobs waiting for a driver
are matched to the free drivers all at once, at the least total cost (``matching.solve``).

A job waits in the pool from the moment it is searching, and again after an offer of it is
rejected, expires or is withdrawn; the drivers already tried for it are excluded. Its
waiting time counts from its creation, so a job that has been round the pool wins a
contested driver from a newcomer. The window
reads the pool and the free drivers around it, solves, and writes each chosen offer through
the same guards greedy dispatch uses: the chosen driver is locked and the feed rule asked
again (on PostgreSQL), and the database refuses a second live offer for a job or a driver.
A stale read can cost a better choice, never a double offer. Jobs left unmatched stay in the
pool for the next window.

One process solves a window at a time: on PostgreSQL the window's transaction holds an
advisory lock that the others try and skip; a process that dies releases it with its
connection, and the next window is solved by another.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlmodel import col

from logistics.dispatch import matching
from logistics.dispatch.candidates import claim_pairs
from logistics.dispatch.offers import create_offer, open_to_feed
from logistics.dispatch.search import free_for_window
from logistics.job import feed
from logistics.job.status import JobStatus
from logistics.models import Job
from logistics.platform import Ctx

log = logging.getLogger("logistics.dispatch")

# pg_try_advisory_xact_lock's key for "this process solves the current window".
WINDOW_LOCK = 0x6C6F6769  # "logi"
MAX_JOBS_PER_WINDOW = 5_000
# Solves per window: the first, and again after the database refused some pairs.
MAX_ROUNDS = 3


def back_to_pool(ctx: Ctx, job: Job) -> None:
    """The job waits for the next window (its tried drivers stay excluded)."""
    job.dispatch_after = ctx.now()
    ctx.session.add(job)


async def _solver_lock(ctx: Ctx) -> bool:
    if ctx.platform.db.is_sqlite:
        return True  # one writer at a time anyway
    got = await ctx.session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": WINDOW_LOCK})
    return bool(got.scalar_one())


async def match_window(ctx: Ctx) -> int:
    """One window: returns how many offers it made."""
    if not await _solver_lock(ctx):
        return 0
    settings, now = ctx.settings, ctx.now()
    query = (
        select(Job)
        .where(
            col(Job.status) == JobStatus.SEARCHING,
            col(Job.driver_id).is_(None),
            col(Job.dispatch_after) <= now,
        )
        .order_by(col(Job.dispatch_after))
        .limit(MAX_JOBS_PER_WINDOW)
    )
    if not ctx.platform.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    jobs = {job.id: job for job in (await ctx.session.execute(query)).scalars()}
    if not jobs:
        return 0
    facts = await feed.job_facts(ctx.session, jobs.values(), now)
    waiting: list[matching.WaitingJob] = []
    for job in jobs.values():
        if facts[job.id].offered_to is not None:
            continue  # a live offer holds it: it is not waiting
        if job.offer_count >= settings.dispatch_max_offers:
            open_to_feed(ctx, job)
            continue
        waiting.append(_waiting(job, facts[job.id], now))
    if not waiting:
        return 0
    drivers = [
        matching.FreeDriver(d.id, d.lat, d.lng, d.vehicle_type)
        for d in await free_for_window(ctx, waiting)
        if d.lat is not None and d.lng is not None
    ]
    offered, edges, solve_s = 0, 0, 0.0
    for _ in range(MAX_ROUNDS):
        solution = matching.solve(
            waiting,
            drivers,
            radius_m=settings.dispatch_max_radius_m,
            waiting_weight=settings.dispatch_waiting_weight,
        )
        edges, solve_s = edges + solution.edges, solve_s + solution.solve_s
        # The rule decides each pair on the drivers as they are now: the matching only
        # narrowed them, from an index that may be a moment behind.
        claims = await claim_pairs(
            ctx.session,
            [(facts[match.job_id], match.driver_id) for match in solution.matches],
            now=now,
            max_age_s=settings.location_stale_after_s,
            max_radius_m=settings.dispatch_max_radius_m,
            lock=not ctx.platform.db.is_sqlite,
        )
        for match in solution.matches:
            driver = claims.drivers.get(match.job_id)
            if driver is not None:
                offer = await create_offer(
                    ctx, jobs[match.job_id], driver, match.distance_m, window_at=now, cost_m=round(match.cost)
                )
                offered += offer is not None
        if not claims.unavailable and not claims.refused:
            break
        # The index thought them free: it reads them again before the next search.
        ctx.platform.drivers.mark(claims.unavailable)
        # Solve again without what the database refused, so that a job whose nearest driver
        # may not take it (its own customer, say) is not left for a window that would choose
        # the same pair again.
        matched = {m.job_id for m in solution.matches if m.job_id in claims.drivers}
        gone = claims.unavailable | {d.id for d in claims.drivers.values()}
        refused: dict[str, set[str]] = {}
        for job_id, driver_id in claims.refused:
            refused.setdefault(job_id, set()).add(driver_id)
        waiting = [
            replace(job, excluded=job.excluded | refused.get(job.id, set()))
            for job in waiting
            if job.id not in matched
        ]
        drivers = [d for d in drivers if d.id not in gone]
    log.debug(
        "window: %d waiting, %d drivers, %d edges, %d offers in %.1f ms",
        len(waiting),
        len(drivers),
        edges,
        offered,
        solve_s * 1000,
    )
    return offered


def _waiting(job: Job, facts: feed.JobFacts, now: datetime) -> matching.WaitingJob:
    since = job.created_at if job.created_at <= now else now
    return matching.WaitingJob(
        job.id,
        job.pickup_lat,
        job.pickup_lng,
        job.vehicle_type,
        waiting_s=max(0.0, (now - since) / timedelta(seconds=1)),
        excluded=facts.offered_before | facts.rejected_by,
    )
