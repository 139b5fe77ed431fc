"""Prices for a trip: one function behind quotes and merchant jobs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from logistics.config import SIZE_RANK, VEHICLE_RANK, ItemSize, Region, VehicleType
from logistics.errors import DomainError, ErrorCode
from logistics.geo import in_region, road_distance_m, travel_seconds

# The columns a priced trip gives a quote, and a quote gives the job booked from it.
PRICED_COLUMNS = (
    "region_id",
    "vehicle_type",
    "currency",
    "price",
    "breakdown",
    "driver_earnings",
    "distance_m",
    "duration_s",
)


@dataclass(frozen=True)
class PricedTrip:
    region: Region
    vehicle_type: VehicleType
    distance_m: int
    duration_s: int
    price: int
    breakdown: list[dict[str, Any]]
    driver_earnings: int

    def columns(self) -> dict[str, Any]:
        """The priced trip's columns, as a quote and the job booked from it keep them."""
        columns = {name: getattr(self, name, None) for name in PRICED_COLUMNS}
        region_id, vehicle, currency = self.region.id, self.vehicle_type.value, self.region.currency
        return {**columns, "region_id": region_id, "vehicle_type": vehicle, "currency": currency}


def vehicle_fits(region: Region, vehicle_type: VehicleType, items: list[dict[str, Any]]) -> bool:
    """Whether a vehicle of this type can carry the items (size of each, weight of all)."""
    spec = region.vehicles.get(vehicle_type)
    if spec is None:
        return False
    weight = sum((item.get("weight_kg") or 0) * item.get("quantity", 1) for item in items)
    largest = max((SIZE_RANK[ItemSize(item.get("size", "small"))] for item in items), default=0)
    return weight <= spec.max_weight_kg and largest <= SIZE_RANK[spec.max_size]


def smallest_fitting_vehicle(region: Region, items: list[dict[str, Any]]) -> VehicleType | None:
    for vehicle_type in sorted(region.vehicles, key=VEHICLE_RANK.__getitem__):
        if vehicle_fits(region, vehicle_type, items):
            return vehicle_type
    return None


def region_for(regions: list[Region], lat: float, lng: float) -> Region | None:
    return next((region for region in regions if in_region(region, lat, lng)), None)


def _line(code: str, label: str, amount: int, currency: str) -> dict[str, Any]:
    return {"code": code, "label": label, "amount": {"amount": amount, "currency": currency}}


def price_trip(
    regions: list[Region],
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    items: list[dict[str, Any]],
    vehicle_type: VehicleType | None,
) -> PricedTrip:
    region = region_for(regions, *pickup)
    if region is None or not in_region(region, *dropoff):
        raise DomainError(
            ErrorCode.ADDRESS_INVALID,
            "pickup and dropoff must both lie inside one service area",
            {"fields": {"pickup.point" if region is None else "dropoff.point": "outside the service area"}},
        )
    fitting = smallest_fitting_vehicle(region, items)
    if fitting is None:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            "no vehicle type can carry these items",
            {"fields": {"items": "too heavy or too large for every vehicle type"}},
        )
    chosen = vehicle_type or fitting
    if not vehicle_fits(region, chosen, items):
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            f"a {chosen.value} cannot carry these items; the smallest that can is a {fitting.value}",
            {"fields": {"vehicle_type": "too small for the items"}},
        )
    spec = region.vehicles[chosen]
    distance = road_distance_m(region, *pickup, *dropoff)
    duration = travel_seconds(region, chosen, distance)
    cur = region.currency
    lines = [
        _line("base_fare", "Base fare", spec.base_fare, cur),
        _line(
            "distance",
            f"Distance ({distance / 1000:.1f} km)",
            math.ceil(spec.per_km * distance / 1000),
            cur,
        ),
        _line(
            "time",
            f"Time ({math.ceil(duration / 60)} min)",
            spec.per_minute * math.ceil(duration / 60),
            cur,
        ),
    ]
    surcharge = sum(
        region.size_surcharge.get(ItemSize(item.get("size", "small")), 0) * item.get("quantity", 1)
        for item in items
    )
    if surcharge:
        lines.append(_line("size_surcharge", "Large items", surcharge, cur))
    subtotal = sum(line["amount"]["amount"] for line in lines)
    if subtotal < spec.minimum_fare:
        lines.append(_line("minimum_fare", "Minimum fare top-up", spec.minimum_fare - subtotal, cur))
        subtotal = spec.minimum_fare
    if region.service_fee:
        lines.append(_line("service_fee", "Service fee", region.service_fee, cur))
    price = subtotal + region.service_fee
    earnings = subtotal * region.driver_share_bps // 10_000
    return PricedTrip(region, chosen, round(distance), duration, price, lines, earnings)
