from __future__ import annotations

from typing import cast

import strawberry

from logistics.resolvers import (
    drivers,
    init,
    jobs,
    media,
    messaging,
    offer_log,
    ops_map,
    order_tracking,
    orders,
)
from logistics.schema import types as t
from logistics.schema.context import call
from logistics.schema.fields import Ctx, job_page_field, page_field
from logistics.shapes.jobs import JobListFilter, JobStatus


@strawberry.type
class Query:
    @strawberry.field(description="What the app needs at start: the caller, payments, the region.")
    async def init(self, info: Ctx) -> t.Init:
        return t.Init.from_pydantic(await call(info, init.init))

    @strawberry.field(description="The caller's driver profile (NOT_FOUND when not registered).")
    async def me(self, info: Ctx) -> t.Driver:
        return t.Driver.from_pydantic(await call(info, drivers.me))

    @strawberry.field(description="Open jobs near the driver, nearest first.")
    async def available_jobs(
        self,
        info: Ctx,
        lat: float | None = None,
        lng: float | None = None,
        radius_m: int | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> t.JobPage:
        page = await call(
            info, jobs.available_jobs, lat=lat, lng=lng, radius_m=radius_m, limit=limit, cursor=cursor
        )
        return t.JobPage.from_pydantic(page)

    @strawberry.field(description="The driver's own jobs, newest first.")
    async def jobs(
        self,
        info: Ctx,
        status: JobListFilter = JobListFilter.ACTIVE,
        limit: int = 20,
        cursor: str | None = None,
    ) -> t.JobPage:
        return t.JobPage.from_pydantic(
            await call(info, jobs.list_jobs, status=status, limit=limit, cursor=cursor)
        )

    @strawberry.field(description="A job the caller drives, ordered, or may take from the feed.")
    async def job(self, info: Ctx, id: strawberry.ID) -> t.Job:
        return t.Job.from_pydantic(await call(info, jobs.get_job, str(id)))

    @strawberry.field(description="The caller's orders, newest first.")
    async def orders(
        self, info: Ctx, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> t.JobPage:
        return t.JobPage.from_pydantic(
            await call(info, orders.list_orders, status=status, limit=limit, cursor=cursor)
        )

    @strawberry.field(description="One of the caller's orders.")
    async def order(self, info: Ctx, id: strawberry.ID) -> t.Job:
        return t.Job.from_pydantic(await call(info, orders.get_order, str(id)))

    @strawberry.field(description="Status, ETA, the driver's position and the timeline of an order.")
    async def track_order(self, info: Ctx, job_id: strawberry.ID) -> t.OrderTracking:
        # The shape itself, not a copy: a pydantic type's fields resolve from its model's
        # attributes (its is_type_of takes the model), and tracking polls are many.
        return cast(t.OrderTracking, await call(info, order_tracking.track_order, str(job_id)))

    job_images = job_page_field(
        media.list_job_images, t.JobImagePage, "A job's photos, oldest first (participants only)."
    )
    pending_drivers = page_field(
        drivers.pending_drivers, t.DriverPage, "Drivers waiting for review (ops role)."
    )
    job_issues = job_page_field(
        messaging.list_issues, t.JobIssuePage, "Problems flagged on a job, oldest first (participants only)."
    )
    messages = job_page_field(
        messaging.list_messages, t.MessagePage, "The job's chat, oldest first (participants only)."
    )

    @strawberry.field(description="Phone numbers of the job's participants, while it is active.")
    async def contacts(self, info: Ctx, job_id: strawberry.ID) -> t.Contacts:
        return t.Contacts.from_pydantic(await call(info, messaging.contacts, str(job_id)))

    @strawberry.field(
        description="A job's dispatch (ops role): where it stands, why it waits, and every offer made."
    )
    async def offer_log(self, info: Ctx, job_id: strawberry.ID) -> t.OfferLog:
        return t.OfferLog.from_pydantic(await call(info, offer_log.offer_log, str(job_id)))

    @strawberry.field(
        description="The live ops map's snapshot (ops role): online drivers (stale ones marked) and "
        "the jobs under way with their live offers; at most `limit` of each (1 to 5,000)."
    )
    async def ops_map(self, info: Ctx, limit: int = 2_000) -> t.OpsMap:
        return t.OpsMap.from_pydantic(await call(info, ops_map.ops_map, limit))

    @strawberry.field(description="A job's timeline and dispatch, as the ops map shows it (ops role).")
    async def ops_job(self, info: Ctx, job_id: strawberry.ID) -> t.OpsJob:
        return t.OpsJob.from_pydantic(await call(info, ops_map.ops_job, str(job_id)))
