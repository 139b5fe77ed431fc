"""Who may subscribe to what, and which feed changes concern a driver.

Subscriptions use the same access rules as queries: a job's events are for its customer and
its assigned driver only, and anyone else gets ``NOT_FOUND`` (never a hint that it exists).
"""

from __future__ import annotations

from typing import Any

from logistics.auth import participant_access, require_driver
from logistics.errors import validation_failed
from logistics.geo import haversine_m
from logistics.models import Driver
from logistics.pricing import driver_can_take
from logistics.resolvers.context import Ctx
from logistics.resolvers.jobs import MAX_FEED_RADIUS_M
from logistics.shapes.events import FeedChange


async def authorize_job_watch(ctx: Ctx, job_id: str) -> None:
    await participant_access(ctx.session, ctx.principal, job_id)


async def authorize_feed_watch(ctx: Ctx, lat: float, lng: float, radius_m: int) -> Driver:
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise validation_failed("coordinates out of range", lat="-90..90", lng="-180..180")
    if not 1 <= radius_m <= MAX_FEED_RADIUS_M:
        raise validation_failed(
            f"radiusM must be 1 to {MAX_FEED_RADIUS_M}", radius_m=f"1..{MAX_FEED_RADIUS_M}"
        )
    return await require_driver(ctx.session, ctx.principal)


async def authorize_offer_watch(ctx: Ctx) -> Driver:
    return await require_driver(ctx.session, ctx.principal)


def feed_change_for(
    event: dict[str, Any], *, lat: float, lng: float, radius_m: int, vehicle_type: str
) -> FeedChange | None:
    """The change as this driver sees it, or None when it is out of range or not for its vehicle."""
    distance = haversine_m(lat, lng, event["lat"], event["lng"])
    if distance > radius_m or not driver_can_take(vehicle_type, event["vehicle_type"]):
        return None
    return FeedChange.model_validate(
        {
            "job_id": event["job_id"],
            "change": "entered" if event["type"] == "feed_entered" else "left",
            "pickup": {"lat": event["lat"], "lng": event["lng"]},
            "distance_m": round(distance),
            "vehicle_type": event["vehicle_type"],
            "driver_earnings": event.get("driver_earnings"),
        }
    )
