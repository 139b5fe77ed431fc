from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from logistics.config import ItemSize, VehicleType

__all__ = ["ItemSize", "VehicleType"]


class Shape(BaseModel):
    model_config = ConfigDict(use_enum_values=False, str_strip_whitespace=True)

    @classmethod
    def of(cls, row: Any, **overrides: Any) -> Self:
        """The view of a row whose attributes carry the view's fields; ``overrides`` gives
        the fields the row holds in another form (an amount and its currency as ``Money``)."""
        if not overrides:
            return cls.model_validate(row, from_attributes=True)
        fields = {name: getattr(row, name) for name in cls.model_fields if hasattr(row, name)}
        return cls.model_validate({**fields, **overrides})


T = TypeVar("T")


class Page(Shape, Generic[T]):
    # No docstring: it would describe every page in the API documents.
    items: list[T]
    next_cursor: str | None = None


class Money(Shape):
    amount: int = Field(description="Amount in minor units (cents).")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code.")


class Point(Shape):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class LocationReport(Point):
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    speed_mps: float | None = Field(default=None, ge=0, le=150)
    recorded_at: datetime | None = Field(default=None, description="Device time, for replay.")


class Address(Shape):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")


class Contact(Shape):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+?[0-9 ()\-]{5,30}$")


class Stop(Shape):
    address: Address
    point: Point
    contact: Contact
    instructions: str | None = Field(default=None, max_length=500)


class StopView(Shape):
    """A stop as shown; ``contact`` is hidden from drivers until the job is theirs."""

    address: Address
    point: Point
    contact: Contact | None = None
    instructions: str | None = None


class Item(Shape):
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=100)
    weight_kg: float | None = Field(default=None, gt=0, le=1000)
    size: ItemSize = ItemSize.SMALL


class BreakdownLine(Shape):
    code: str
    label: str
    amount: Money


class Eta(Shape):
    pickup_at: datetime | None = None
    dropoff_at: datetime
    seconds: int


class Vehicle(Shape):
    type: VehicleType
    make: str | None = Field(default=None, max_length=60)
    model: str | None = Field(default=None, max_length=60)
    plate: str | None = Field(default=None, max_length=20)
    color: str | None = Field(default=None, max_length=30)


PaymentMethod = StrEnum("PaymentMethod", "STRIPE PAYPAL CASH INVOICE")

PaymentStatus = StrEnum("PaymentStatus", "UNPAID PENDING PAID REFUNDED")
