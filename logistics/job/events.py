"""What a job tells its listeners, queued on the unit of work and sent after the commit.

- ``jobUpdated``: every status change (with the new ETA) and dispatch's progress.
- The feed: one change per job and transaction, carrying the feed rule's facts as they were
  before and after it. Each ``availableJobs`` subscriber applies the rule to both and hears
  ``entered`` or ``left`` only when the answer for it changed; the rule is never restated.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from logistics.geo import haversine_m
from logistics.job import feed
from logistics.job.eta import job_eta
from logistics.job.status import JobStatus
from logistics.models import Driver, Job
from logistics.platform import Ctx
from logistics.pubsub import FEED_CHANNEL, SharedEvent, job_channel
from logistics.shapes.events import FeedChange, FeedChangeKind, JobUpdate

_WATCHED = "feed.watched"


async def _facts(ctx: Ctx, job: Job) -> feed.JobFacts:
    if job.status == JobStatus.SEARCHING and job.driver_id is None:
        return await feed.one_job_facts(ctx.session, job, ctx.now())
    # Not open to anyone: offers and rejections cannot change that.
    return feed.JobFacts.of(job)


async def watch_feed(ctx: Ctx, job: Job, *, new: bool = False) -> None:
    """Call before changing anything the feed rule reads of ``job`` (its status, driver,
    offers or rejections). Just before the commit, the job's facts then are compared with
    these, and one feed change goes out if they differ."""
    watched: dict[str, tuple[Job, feed.JobFacts | None]] | None = ctx.uow.notes.get(_WATCHED)
    if watched is None:
        watched = ctx.uow.notes[_WATCHED] = {}

        async def publish_changes() -> None:
            for watched_job, before in watched.values():
                after = await _facts(ctx, watched_job)
                before_event = before.as_event() if before is not None else None
                if before_event != after.as_event():
                    _publish_feed(ctx, watched_job, before_event, after.as_event())

        ctx.uow.before_commit(publish_changes)
    if job.id not in watched:
        watched[job.id] = (job, None if new else await _facts(ctx, job))


def _publish_feed(ctx: Ctx, job: Job, before: dict[str, object] | None, after: dict[str, object]) -> None:
    ctx.publish(
        FEED_CHANNEL,
        {
            "job_id": job.id,
            "before": before,
            "after": after,
            "driver_earnings": {"amount": job.driver_earnings, "currency": job.currency},
        },
    )


def _facts_of(event: dict[str, Any]) -> tuple[feed.JobFacts | None, feed.JobFacts | None]:
    def parse() -> tuple[feed.JobFacts | None, feed.JobFacts | None]:
        before, after = event.get("before"), event.get("after")
        return (
            feed.JobFacts.from_event(before) if before is not None else None,
            feed.JobFacts.from_event(after) if after is not None else None,
        )

    # Parsed once per event, however many drivers ask.
    return event.once("facts", parse) if isinstance(event, SharedEvent) else parse()


def feed_change_kind(
    event: dict[str, Any], driver: feed.DriverFacts, *, lat: float, lng: float, radius_m: int
) -> FeedChangeKind | None:
    """Whether the job entered or left the feed of this driver, watching around (lat, lng);
    None when its place in that feed did not change."""
    before, after = _facts_of(event)
    was = before is not None and feed.feed_block(driver, before, lat, lng, radius_m) is None
    now = after is not None and feed.feed_block(driver, after, lat, lng, radius_m) is None
    if was == now:
        return None
    return FeedChangeKind.ENTERED if now else FeedChangeKind.LEFT


def feed_change(event: dict[str, Any], kind: FeedChangeKind, *, lat: float, lng: float) -> FeedChange:
    """The change as everyone watching around (lat, lng) who heard ``kind`` sees it: it reads
    the job and the watched point, nothing of the driver."""
    before, after = _facts_of(event)
    shown = after if kind == FeedChangeKind.ENTERED else before
    assert shown is not None
    return FeedChange.model_validate(
        {
            "job_id": shown.id,
            "change": kind,
            "pickup": {"lat": shown.lat, "lng": shown.lng},
            "distance_m": round(haversine_m(lat, lng, shown.lat, shown.lng)),
            "vehicle_type": shown.vehicle_type,
            "driver_earnings": event.get("driver_earnings"),
        }
    )


async def announce_status(ctx: Ctx, job: Job, previous: str | None) -> JobUpdate:
    """Queue ``jobUpdated`` with the new status and ETA; it goes out after the commit."""
    driver = None
    if job.driver_id is not None:
        driver = (
            await ctx.session.execute(select(Driver).where(col(Driver.id) == job.driver_id))
        ).scalar_one()
    now = ctx.now()
    eta = job_eta(job, ctx.settings.region(job.region_id), driver, ctx.settings, now)
    update = JobUpdate.model_validate(
        {
            "job_id": job.id,
            "status": job.status,
            "previous": previous,
            "at": now,
            "eta": eta,
            "driver_id": job.driver_id,
        }
    )
    ctx.publish(job_channel(job.id), update.model_dump(mode="json"))
    return update


def announce_dispatch(ctx: Ctx, job: Job, state: str) -> None:
    """Tell the customer's ``jobUpdated`` that dispatch is at work (status stays searching)."""
    update = JobUpdate.model_validate(
        {
            "job_id": job.id,
            "status": job.status,
            "previous": job.status,
            "at": ctx.now(),
            "dispatch": {"state": state, "offers": job.offer_count, "waiting": job.dispatch_waiting},
        }
    )
    ctx.publish(job_channel(job.id), update.model_dump(mode="json"))
