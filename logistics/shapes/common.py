import re
from datetime import date, datetime
from enum import auto
from typing import Annotated, Any, Generic, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from logistics.config import ItemSize, VehicleType
from logistics.enums import ApiEnum
from logistics.limits import UNSTORABLE_TEXT, UNSTORABLE_TEXT_MESSAGE

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


def _refuse_unstorable_text(value: Any) -> None:
    """Raise for text, anywhere in ``value``, that no database stores (U+0000, a lone
    surrogate). Nested shapes check their own fields."""
    if isinstance(value, str):
        if UNSTORABLE_TEXT.search(value):
            raise PydanticCustomError("text_unstorable", UNSTORABLE_TEXT_MESSAGE)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_unstorable_text(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable_text(key)
            _refuse_unstorable_text(item)


class InputShape(Shape):
    """A shape a client sends: a REST body, a GraphQL input, or a part of one.

    Its fields take JSON's own types only: a bool is true or false, a number is not a bool or
    a string, a string is not a number (FastAPI hands pydantic the Python objects it parsed,
    which lax mode would coerce: ``"yes"`` to True, ``true`` to 1.0). The exceptions are what
    JSON can only send as text: enumerations (:class:`ApiEnum`) and times (:data:`Instant`,
    :data:`Day`). Every text field also refuses characters no database stores, here and not
    at the database, because some input (a quote's stops) is kept as JSON."""

    model_config = ConfigDict(strict=True)

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _refuse_unstorable_text(value)
        return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_text(kind: str) -> Any:
    def check(value: Any) -> Any:
        # A ``date`` or ``datetime`` comes from GraphQL's scalars. Without this check lax mode
        # would also read a number, or a string of digits, as seconds since 1970.
        if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.match(value)):
            return value
        raise PydanticCustomError(f"{kind}_type", f"Input should be an ISO 8601 {kind} string")

    return BeforeValidator(check)


# Times in requests: RFC 3339 text (API.md), lax so that strict shapes still parse the text.
Instant = Annotated[datetime, Strict(False), _iso_text("datetime")]
Day = Annotated[date, Strict(False), _iso_text("date")]


T = TypeVar("T")


class Page(Shape, Generic[T]):
    # No docstring: it would describe every page in the API documents.
    items: list[T]
    next_cursor: str | None = None


class Money(InputShape):
    amount: int = Field(description="Amount in minor units (cents).")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code.")


class Point(InputShape):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class LocationReport(Point):
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    heading_deg: float | None = Field(default=None, ge=0, le=360)
    speed_mps: float | None = Field(default=None, ge=0, le=150)
    recorded_at: Instant | None = Field(default=None, description="Device time, for replay.")


class Address(InputShape):
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postcode: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")


class Contact(InputShape):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+?[0-9 ()\-]{5,30}$")


class Stop(InputShape):
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


class Item(InputShape):
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


class Vehicle(InputShape):
    type: VehicleType
    make: str | None = Field(default=None, max_length=60)
    model: str | None = Field(default=None, max_length=60)
    plate: str | None = Field(default=None, max_length=20)
    color: str | None = Field(default=None, max_length=30)


class PaymentMethod(ApiEnum):
    STRIPE, PAYPAL, CASH, INVOICE = auto(), auto(), auto(), auto()


class PaymentStatus(ApiEnum):
    UNPAID, PENDING, PAID, REFUNDED = auto(), auto(), auto(), auto()
