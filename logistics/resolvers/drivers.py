"""Becoming a driver, the profile, presence (online and position), and approval by ops."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from logistics.dispatch import offers
from logistics.errors import DomainError, ErrorCode, not_found
from logistics.job.access import driver_of, existing, for_drivers, for_ops
from logistics.models import Driver, Upload
from logistics.platform import Ctx
from logistics.resolvers.pagination import keyset_page
from logistics.resolvers.views import driver_view
from logistics.shapes.drivers import (
    AvailabilityIn,
    AvailabilityView,
    DriverPage,
    DriverView,
    RegisterIn,
)


async def register_driver(ctx: Ctx, data: RegisterIn) -> DriverView:
    if await driver_of(ctx) is not None:
        raise DomainError(ErrorCode.VALIDATION_FAILED, "already registered as a driver")
    today = ctx.now().date()
    fields: dict[str, str] = {}
    if data.licence.expires_on < today:
        fields["licence.expires_on"] = "expired"
    if data.insurance.expires_on < today:
        fields["insurance.expires_on"] = "expired"
    for name, upload_id in (
        ("licence", data.licence.upload_id),
        ("insurance", data.insurance.upload_id),
    ):
        upload = (
            await ctx.session.execute(select(Upload).where(col(Upload.id) == upload_id))
        ).scalar_one_or_none()
        if upload is None or upload.owner_id != ctx.principal.sub:
            fields[f"{name}.upload_id"] = "not an upload of yours"
    if fields:
        raise DomainError(ErrorCode.VALIDATION_FAILED, "the documents are not acceptable", {"fields": fields})
    now = ctx.now()
    driver = Driver(
        user_id=ctx.principal.sub,
        status="approved" if ctx.settings.approves_drivers_at_once else "pending_review",
        name=data.name,
        phone=data.phone,
        vehicle_type=data.vehicle.type.value,
        vehicle=data.vehicle.model_dump(mode="json"),
        licence=data.licence.model_dump(mode="json"),
        insurance=data.insurance.model_dump(mode="json"),
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(driver)
    await ctx.session.flush()
    return driver_view(driver)


async def me(ctx: Ctx) -> DriverView:
    driver = await driver_of(ctx)
    if driver is None:
        raise not_found("driver profile")
    return driver_view(driver)


@for_drivers(lock=True)
async def set_availability(ctx: Ctx, driver: Driver, data: AvailabilityIn) -> AvailabilityView:
    if driver.online != data.online:
        driver.online = data.online
        driver.online_since = ctx.now() if data.online else None
        driver.updated_at = ctx.now()
        ctx.session.add(driver)
        await ctx.session.flush()
        if driver.online:
            await offers.offer_nearby_job_to_driver(ctx, driver)
        else:
            await offers.withdraw_offers_of(ctx, driver)
    return AvailabilityView(online=driver.online, since=driver.online_since)


@for_ops
async def pending_drivers(ctx: Ctx, *, limit: int = 20, cursor: str | None = None) -> DriverPage:
    query = select(Driver).where(col(Driver.status) == "pending_review")
    drivers, next_cursor = await keyset_page(
        ctx.session, query, col(Driver.id), limit=limit, cursor=cursor, newest_first=False
    )
    return DriverPage(items=[driver_view(d) for d in drivers], next_cursor=next_cursor)


@for_ops
async def approve_driver(ctx: Ctx, driver_id: str) -> DriverView:
    driver = await existing(ctx, Driver, driver_id, what="driver")
    if driver.status != "approved":
        driver.status = "approved"
        driver.updated_at = ctx.now()
        ctx.session.add(driver)
        await ctx.session.flush()
    return driver_view(driver)
