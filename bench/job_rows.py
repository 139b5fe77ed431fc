"""A job row as ``resolvers.orders.new_job`` writes it, for benchmarks that load jobs straight
into the table: a cash order priced like a quote, between two points of Berlin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from logistics.config import Settings
from logistics.models.base import new_id
from logistics.pricing import price_trip


def stop(
    point: tuple[float, float], line1: str, name: str, instructions: str | None = None
) -> dict[str, Any]:
    return {
        "address": {"line1": line1, "line2": None, "city": "Berlin", "postcode": "10178", "country": "DE"},
        "point": {"lat": point[0], "lng": point[1]},
        "contact": {"name": name, "phone": "+49 30 5550000"},
        "instructions": instructions,
    }


def cash_job(
    settings: Settings,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    items: list[dict[str, Any]],
    *,
    customer: str,
    status: str,
    created_at: datetime,
    **columns: Any,
) -> dict[str, Any]:
    """The row's columns; ``columns`` sets the rest (a driver, timestamps, dispatch state)."""
    row = {
        "id": new_id(),
        **price_trip(settings.regions, pickup, dropoff, items, None).columns(),
        "items": items,
        "status": status,
        "customer_id": customer,
        "customer_name": f"Bench {customer}",
        "customer_phone": "+49 30 5550000",
        "driver_id": None,
        "created_by": "customer",
        "creator_id": customer,
        "notes": None,
        "pickup": stop(pickup, "Alexanderplatz 1", "Bench Sender"),
        "dropoff": stop(dropoff, "Oranienstrasse 10", "Bench Recipient"),
        "pickup_lat": pickup[0],
        "pickup_lng": pickup[1],
        "payment_method": "cash",
        "payment_status": "unpaid",
        "quote_id": None,
        "scheduled_at": None,
        "cancellation": None,
        "created_at": created_at,
        "updated_at": created_at,
        "accepted_at": None,
        "completed_at": None,
        "offer_count": 0,
        "dispatch_after": None,
        "dispatch_waiting": None,
    }
    row.update(columns)
    return row
