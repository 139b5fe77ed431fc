"""Live events over graphql-transport-ws, with the same access rules as the queries.

Each field names its stream (``logistics.resolvers.realtime``); the context authorizes the
caller and streams the views. Over a websocket the operation joins the live hub instead, and
its events are executed once per group of identical subscriptions (``schema.websocket``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.types import Info

from logistics.resolvers import realtime
from logistics.schema import types as t
from logistics.schema.context import Authorize, GraphQLContext
from logistics.schema.live import as_graphql

Ctx = Info[GraphQLContext, Any]


async def _views(info: Ctx, authorize: Authorize) -> AsyncGenerator[Any, None]:
    async for view in info.context.watch(authorize):
        yield as_graphql(view)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every status change of the job, with the new ETA; completes after the job ends."
    )
    async def job_updated(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.JobUpdate, None]:
        async for item in _views(info, lambda ctx: realtime.job_updates(ctx, str(job_id))):
            yield item

    @strawberry.subscription(
        description=(
            "The assigned driver's position while the job is active; a slow client gets the latest. "
            "Completes when the job ends."
        )
    )
    async def driver_location(
        self, info: Ctx, job_id: strawberry.ID
    ) -> AsyncGenerator[t.DriverLocation, None]:
        async for item in _views(info, lambda ctx: realtime.driver_locations(ctx, str(job_id))):
            yield item

    @strawberry.subscription(description="New messages in the job's chat; completes when the job ends.")
    async def message_received(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.Message, None]:
        async for item in _views(info, lambda ctx: realtime.job_messages(ctx, str(job_id))):
            yield item

    @strawberry.subscription(description="Problems flagged on the job; completes when the job ends.")
    async def issue_reported(self, info: Ctx, job_id: strawberry.ID) -> AsyncGenerator[t.JobIssue, None]:
        async for item in _views(info, lambda ctx: realtime.job_issues(ctx, str(job_id))):
            yield item

    @strawberry.subscription(
        description="Jobs entering and leaving the open feed near a point (approved drivers)."
    )
    async def available_jobs(
        self, info: Ctx, lat: float, lng: float, radius_m: int = 10_000
    ) -> AsyncGenerator[t.FeedChange, None]:
        async for item in _views(info, lambda ctx: realtime.feed_changes(ctx, lat, lng, radius_m)):
            yield item

    @strawberry.subscription(description="Offers of jobs made to this driver, with their expiry.")
    async def job_offers(self, info: Ctx) -> AsyncGenerator[t.JobOffer, None]:
        async for item in _views(info, realtime.job_offers):
            yield item
