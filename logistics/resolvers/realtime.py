"""Who may subscribe to what.

Subscriptions use the same access rules as queries: a job's events are for its customer and
its assigned driver only, and anyone else gets ``NOT_FOUND`` (never a hint that it exists).
Which feed changes concern a driver is the feed rule's (``logistics.job.events``).
"""

from __future__ import annotations

from logistics.job import feed
from logistics.job.access import approved_driver, participant_access
from logistics.models import Driver
from logistics.platform import Ctx
from logistics.resolvers.jobs import check_feed_area


async def authorize_job_watch(ctx: Ctx, job_id: str) -> None:
    await participant_access(ctx, job_id)


async def authorize_feed_watch(ctx: Ctx, lat: float, lng: float, radius_m: int) -> feed.DriverFacts:
    check_feed_area(lat, lng, radius_m, "radiusM")
    return feed.DriverFacts.of(await approved_driver(ctx))


async def authorize_offer_watch(ctx: Ctx) -> Driver:
    return await approved_driver(ctx)
