"""Where dispatch finds its drivers: the process's in-memory index (``dispatch.index``) once it
is built, the ring search in SQL (``dispatch.candidates``) while it is not. Whichever found
them, the chosen drivers are read again from the database, locked on PostgreSQL, and the feed
rule asked once more before an offer is written."""

from __future__ import annotations

from logistics.dispatch import matching
from logistics.dispatch.candidates import Candidate, claim, free_drivers_near, nearest_drivers
from logistics.job import feed
from logistics.job.feed import vehicle_types_for
from logistics.platform import Ctx


async def nearest_for_job(ctx: Ctx, job: feed.JobFacts, *, want: int) -> list[Candidate]:
    """Up to ``want`` drivers dispatch may offer ``job`` now, nearest first."""
    now, max_age_s, radius_m = (
        ctx.now(),
        ctx.settings.location_stale_after_s,
        ctx.settings.dispatch_max_radius_m,
    )
    lock, index = not ctx.platform.db.is_sqlite, ctx.platform.drivers
    if not index.ready:
        return await nearest_drivers(
            ctx.session,
            lat=job.lat,
            lng=job.lng,
            vehicle_types=vehicle_types_for(job.vehicle_type),
            job=job,
            want=want,
            lock=lock,
            now=now,
            max_age_s=max_age_s,
            max_radius_m=radius_m,
        )
    await index.refresh(ctx.session)

    def allowed(driver: feed.DriverFacts) -> bool:
        return feed.dispatch_block(driver, job, now=now, stale_after_s=max_age_s, radius_m=radius_m) is None

    found = index.nearest(
        job.lat,
        job.lng,
        vehicle_types=frozenset(vehicle_types_for(job.vehicle_type)),
        now=now,
        max_age_s=max_age_s,
        radius_m=radius_m,
        want=want,
        keep=allowed,
    )
    ranked = [(driver.id, distance) for driver, distance in found]
    claimed = await claim(
        ctx.session, job, ranked, now=now, max_age_s=max_age_s, max_radius_m=radius_m, lock=lock
    )
    # Those the database refused (busy, or locked by another transaction), the index reads
    # again before its next search.
    index.mark({driver_id for driver_id, _ in ranked} - {c.driver.id for c in claimed})
    return claimed


async def free_for_window(ctx: Ctx, waiting: list[matching.WaitingJob]) -> list[feed.DriverFacts]:
    """The free drivers a window's matching needs: from the index, each waiting job's nearest
    that it may be offered (as many as the matching keeps per job), so the matching sees
    the same edges as with every free driver of the city; from SQL, every free driver in
    the box around the jobs."""
    now, max_age_s, radius_m = (
        ctx.now(),
        ctx.settings.location_stale_after_s,
        ctx.settings.dispatch_max_radius_m,
    )
    index = ctx.platform.drivers
    if not index.ready:
        return await free_drivers_near(
            ctx.session,
            [(job.lat, job.lng) for job in waiting],
            vehicle_types=sorted({t for job in waiting for t in vehicle_types_for(job.vehicle_type)}),
            now=now,
            max_age_s=max_age_s,
            radius_m=radius_m,
        )
    await index.refresh(ctx.session)
    fitting = {v: frozenset(vehicle_types_for(v)) for v in {job.vehicle_type for job in waiting}}
    chosen: dict[str, feed.DriverFacts] = {}
    for job in waiting:
        excluded = job.excluded
        found = index.nearest(
            job.lat,
            job.lng,
            vehicle_types=fitting[job.vehicle_type],
            now=now,
            max_age_s=max_age_s,
            radius_m=radius_m,
            want=matching.DEFAULT_MAX_EDGES_PER_JOB,
            keep=(lambda d, excluded=excluded: d.id not in excluded) if excluded else None,  # type: ignore[misc]
        )
        chosen.update((driver.id, driver) for driver, _ in found)
    return list(chosen.values())
