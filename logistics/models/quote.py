from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from logistics.models.base import Row, utc


class PricedTrip(SQLModel):
    """A trip as priced: what a quote offers, and what the job booked from it keeps."""

    items: list[dict[str, Any]] = Field(sa_type=JSON)
    vehicle_type: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    price: int
    breakdown: list[dict[str, Any]] = Field(sa_type=JSON)
    driver_earnings: int
    distance_m: int
    duration_s: int


# Row last among the bases: fields are collected from the last base first, so the key stays
# the first column.
class Quote(PricedTrip, Row, table=True):
    """A priced trip the customer may book once before it expires."""

    __tablename__ = "quotes"

    customer_id: str = Field(max_length=255, index=True)
    region_id: str = Field(max_length=64)
    pickup: dict[str, Any] = Field(sa_type=JSON)
    dropoff: dict[str, Any] = Field(sa_type=JSON)
    scheduled_at: datetime | None = utc(default=None)
    validated: bool = False
    checks: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    expires_at: datetime = utc()
    used_at: datetime | None = utc(default=None)
    created_at: datetime = utc(now=True)
