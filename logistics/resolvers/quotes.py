"""Quotes: a priced trip, and the stricter validated pass before booking."""

from __future__ import annotations

import re
from datetime import timedelta

from logistics.config import Region
from logistics.errors import DomainError, ErrorCode
from logistics.geo import haversine_m, in_region
from logistics.models import Quote
from logistics.platform import Ctx
from logistics.pricing import price_trip, region_for
from logistics.resolvers.views import quote_view
from logistics.shapes.common import Stop
from logistics.shapes.quotes import AddressCheck, QuoteIn, QuoteView

POSTCODE_PATTERNS: dict[str, str] = {
    "AT": r"^\d{4}$",
    "BE": r"^\d{4}$",
    "CH": r"^\d{4}$",
    "DE": r"^\d{5}$",
    "DK": r"^\d{4}$",
    "ES": r"^\d{5}$",
    "FR": r"^\d{5}$",
    "GB": r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$",
    "IE": r"^[A-Z]\d[\dW] ?[A-Z\d]{4}$",
    "IT": r"^\d{5}$",
    "NL": r"^\d{4} ?[A-Z]{2}$",
    "PL": r"^\d{2}-\d{3}$",
    "PT": r"^\d{4}-\d{3}$",
    "SE": r"^\d{3} ?\d{2}$",
    "US": r"^\d{5}(-\d{4})?$",
}
# Closer than this, pickup and dropoff are the same place: nothing to deliver.
MIN_TRIP_M = 50


def _stop_checks(name: str, stop: Stop, region: Region | None) -> list[AddressCheck]:
    address = stop.address
    pattern = POSTCODE_PATTERNS.get(address.country)
    if region is not None and address.country == region.country:
        pattern = region.postcode_pattern
    postcode_ok = pattern is None or re.fullmatch(pattern, address.postcode.upper()) is not None
    checks = [
        AddressCheck(
            field=f"{name}.address.postcode",
            ok=postcode_ok,
            message="ok" if postcode_ok else f"not a valid postcode for {address.country}",
        )
    ]
    inside = region is not None and in_region(region, stop.point.lat, stop.point.lng)
    checks.append(
        AddressCheck(
            field=f"{name}.point",
            ok=inside,
            message="ok" if inside else "outside the service area",
        )
    )
    country_ok = region is not None and address.country == region.country
    checks.append(
        AddressCheck(
            field=f"{name}.address.country",
            ok=country_ok,
            message="ok" if country_ok else "the address is not in the service area's country",
        )
    )
    return checks


def address_checks(ctx: Ctx, data: QuoteIn) -> list[AddressCheck]:
    region = region_for(ctx.settings.regions, data.pickup.point.lat, data.pickup.point.lng)
    checks = _stop_checks("pickup", data.pickup, region) + _stop_checks("dropoff", data.dropoff, region)
    apart = haversine_m(
        data.pickup.point.lat, data.pickup.point.lng, data.dropoff.point.lat, data.dropoff.point.lng
    )
    same_address = data.pickup.address.model_dump() == data.dropoff.address.model_dump()
    distinct = apart >= MIN_TRIP_M and not same_address
    checks.append(
        AddressCheck(
            field="dropoff",
            ok=distinct,
            message="ok" if distinct else "pickup and dropoff are the same place",
        )
    )
    return checks


async def create_quote(ctx: Ctx, data: QuoteIn, *, validated: bool = False) -> QuoteView:
    checks = None
    if validated:
        checks = address_checks(ctx, data)
        failing = [check for check in checks if not check.ok]
        if failing:
            raise DomainError(
                ErrorCode.ADDRESS_INVALID,
                "the addresses did not pass validation",
                {"checks": [check.model_dump() for check in failing]},
            )
    items = [item.model_dump(mode="json") for item in data.items]
    trip = price_trip(
        ctx.settings.regions,
        (data.pickup.point.lat, data.pickup.point.lng),
        (data.dropoff.point.lat, data.dropoff.point.lng),
        items,
        data.vehicle_type,
    )
    now = ctx.now()
    if data.scheduled_at is not None and data.scheduled_at < now:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            "scheduled_at is in the past",
            {"fields": {"scheduled_at": "in the past"}},
        )
    quote = Quote(
        customer_id=ctx.principal.sub,
        pickup=data.pickup.model_dump(mode="json"),
        dropoff=data.dropoff.model_dump(mode="json"),
        items=items,
        **trip.columns(),
        scheduled_at=data.scheduled_at,
        validated=validated,
        checks=[check.model_dump() for check in checks] if checks else None,
        expires_at=now + timedelta(seconds=trip.region.quote_ttl_s),
        created_at=now,
    )
    ctx.session.add(quote)
    await ctx.session.flush()
    return quote_view(quote)
