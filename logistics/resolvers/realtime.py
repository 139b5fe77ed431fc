"""Who may subscribe to what, and what each subscription hears.

Subscriptions use the same access rules as queries: a job's events are for its customer and
its assigned driver only, and anyone else gets ``NOT_FOUND`` (never a hint that it exists).
Each function authorizes the caller and returns the :class:`Watch` the live hub streams; it
is asked again, for the same caller, whenever the job changes hands. A job's streams end with
the job. Which feed changes concern a driver is the feed rule's (``logistics.job.events``):
each driver gets its own verdict (``select``), and the change shown depends only on the job
and the watched point.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from logistics.job import feed
from logistics.job.access import approved_driver, participant_access
from logistics.job.events import feed_change, feed_change_kind
from logistics.job.status import is_terminal
from logistics.live.hub import Watch
from logistics.platform import Ctx
from logistics.pubsub import (
    FEED_CHANNEL,
    SharedEvent,
    issues_channel,
    job_channel,
    location_channel,
    messages_channel,
    offers_channel,
)
from logistics.resolvers.jobs import check_feed_area
from logistics.shapes.events import DriverLocation, FeedChangeKind, JobOfferEvent, JobUpdate
from logistics.shapes.messaging import IssueView, MessageView


def _shape(shape: type[BaseModel]) -> Any:
    def view(event: SharedEvent, bucket: Hashable) -> BaseModel:
        # Validated once per event, for every group that streams it.
        return event.once(shape.__name__, lambda: shape.model_validate(event))

    return view


def _recorded_at(event: SharedEvent) -> datetime:
    return datetime.fromisoformat(str(event["recorded_at"]))


async def _job_watch(ctx: Ctx, stream: str, job_id: str, channel: str, shape: type[BaseModel]) -> Watch:
    access = await participant_access(ctx, job_id)
    positions = shape is DriverLocation
    return Watch(
        key=(stream, job_id),
        channel=channel,
        view=_shape(shape),
        latest_only=positions,
        job_id=job_id,
        finished=is_terminal(access.job.status),
        # Two processes may publish a driver's positions in another order than they were
        # recorded: the stream only ever moves forward in device time.
        order=_recorded_at if positions else None,
    )


async def job_updates(ctx: Ctx, job_id: str) -> Watch:
    return await _job_watch(ctx, "jobUpdated", job_id, job_channel(job_id), JobUpdate)


async def driver_locations(ctx: Ctx, job_id: str) -> Watch:
    """The newest position only: a subscriber that lags skips to where the driver is now."""
    return await _job_watch(ctx, "driverLocation", job_id, location_channel(job_id), DriverLocation)


async def job_messages(ctx: Ctx, job_id: str) -> Watch:
    return await _job_watch(ctx, "messageReceived", job_id, messages_channel(job_id), MessageView)


async def job_issues(ctx: Ctx, job_id: str) -> Watch:
    return await _job_watch(ctx, "issueReported", job_id, issues_channel(job_id), IssueView)


async def feed_changes(ctx: Ctx, lat: float, lng: float, radius_m: int) -> Watch:
    check_feed_area(lat, lng, radius_m, "radiusM")
    driver = feed.DriverFacts.of(await approved_driver(ctx))

    def select(event: SharedEvent) -> FeedChangeKind | None:
        return feed_change_kind(event, driver, lat=lat, lng=lng, radius_m=radius_m)

    def view(event: SharedEvent, kind: Hashable) -> BaseModel:
        assert isinstance(kind, FeedChangeKind)
        return feed_change(event, kind, lat=lat, lng=lng)

    return Watch(key=("availableJobs", lat, lng, radius_m), channel=FEED_CHANNEL, view=view, select=select)


async def job_offers(ctx: Ctx) -> Watch:
    driver = await approved_driver(ctx)
    return Watch(key=("jobOffers", driver.id), channel=offers_channel(driver.id), view=_shape(JobOfferEvent))
