"""Live events over graphql-transport-ws, with the same access rules as the queries."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from logistics.errors import DomainError, ErrorCode
from logistics.job.events import feed_change_for
from logistics.pubsub import (
    FEED_CHANNEL,
    SharedEvent,
    SubscriptionClosed,
    issues_channel,
    job_channel,
    location_channel,
    messages_channel,
    offers_channel,
)
from logistics.resolvers import realtime
from logistics.schema import types as t
from logistics.schema.context import GraphQLContext
from logistics.shapes import events
from logistics.shapes.messaging import IssueView, MessageView

Ctx = Info[GraphQLContext, Any]
T = TypeVar("T")


async def _job_events(
    info: Ctx, job_id: str, channel: str, *, latest_only: bool = False
) -> AsyncGenerator[dict[str, Any], None]:
    context = info.context
    async with context.short_ctx() as ctx:
        await realtime.authorize_job_watch(ctx, job_id)
    async for event in _stream(context, channel, latest_only=latest_only):
        yield event


async def _stream(
    context: GraphQLContext, channel: str, *, latest_only: bool = False
) -> AsyncGenerator[dict[str, Any], None]:
    try:
        async with context.platform.pubsub.subscribe(channel, latest_only=latest_only) as subscription:
            async for event in subscription:
                yield event
    except SubscriptionClosed as closed:
        # The client sees an error and the end of the stream, and resubscribes.
        raise DomainError(ErrorCode.UNAVAILABLE, str(closed)) from closed


def _once(event: dict[str, Any], key: str, build: Callable[[dict[str, Any]], T]) -> T:
    """The GraphQL object for an event, built once for all the subscribers it reaches."""
    if isinstance(event, SharedEvent):
        return event.once(key, lambda: build(event))
    return build(event)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Every status change of the job, with the new ETA.")
    async def job_updated(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.JobUpdate, None]:
        async for event in _job_events(info, str(job_id), job_channel(str(job_id))):
            yield _once(
                event, "JobUpdate", lambda e: t.JobUpdate.from_pydantic(events.JobUpdate.model_validate(e))
            )

    @strawberry.subscription(
        description="The assigned driver's position while the job is active; a slow client gets the latest."
    )
    async def driver_location(
        self, info: Ctx, job_id: strawberry.ID
    ) -> AsyncGenerator[t.DriverLocation, None]:
        async for event in _job_events(info, str(job_id), location_channel(str(job_id)), latest_only=True):
            yield _once(
                event,
                "DriverLocation",
                lambda e: t.DriverLocation.from_pydantic(events.DriverLocation.model_validate(e)),
            )

    @strawberry.subscription(description="New messages in the job's chat.")
    async def message_received(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.Message, None]:
        async for event in _job_events(info, str(job_id), messages_channel(str(job_id))):
            yield _once(event, "Message", lambda e: t.Message.from_pydantic(MessageView.model_validate(e)))

    @strawberry.subscription(description="Problems flagged on the job.")
    async def issue_reported(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.JobIssue, None]:
        async for event in _job_events(info, str(job_id), issues_channel(str(job_id))):
            yield _once(event, "JobIssue", lambda e: t.JobIssue.from_pydantic(IssueView.model_validate(e)))

    @strawberry.subscription(
        description="Jobs entering and leaving the open feed near a point (approved drivers)."
    )
    async def available_jobs(
        self, info: Ctx, lat: float, lng: float, radius_m: int = 10_000
    ) -> AsyncGenerator[t.FeedChange, None]:
        context = info.context
        async with context.short_ctx() as ctx:
            driver = await realtime.authorize_feed_watch(ctx, lat, lng, radius_m)
        async for event in _stream(context, FEED_CHANNEL):
            change = feed_change_for(event, driver, lat=lat, lng=lng, radius_m=radius_m)
            if change is not None:
                yield t.FeedChange.from_pydantic(change)

    @strawberry.subscription(description="Offers of jobs made to this driver, with their expiry.")
    async def job_offers(self, info: Ctx) -> AsyncGenerator[t.JobOffer, None]:
        context = info.context
        async with context.short_ctx() as ctx:
            driver = await realtime.authorize_offer_watch(ctx)
        async for event in _stream(context, offers_channel(driver.id)):
            yield t.JobOffer.from_pydantic(events.JobOfferEvent.model_validate(event))
