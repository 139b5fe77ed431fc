from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class Quote(SQLModel, table=True):
    """A priced trip the customer may book once before it expires."""

    __tablename__ = "quotes"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    customer_id: str = Field(max_length=255, index=True)
    region_id: str = Field(max_length=64)
    pickup: dict[str, Any] = Field(sa_type=JSON)
    dropoff: dict[str, Any] = Field(sa_type=JSON)
    items: list[dict[str, Any]] = Field(sa_type=JSON)
    vehicle_type: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    price: int
    breakdown: list[dict[str, Any]] = Field(sa_type=JSON)
    driver_earnings: int
    distance_m: int
    duration_s: int
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    validated: bool = False
    checks: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
