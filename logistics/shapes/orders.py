from datetime import datetime
from typing import Any

from pydantic import Field

from logistics.shapes.common import Contact, PaymentMethod, Shape


class StopUpdate(Shape):
    contact: Contact | None = None
    instructions: str | None = Field(default=None, max_length=500)
    # Accepted only to answer clearly: a new address or point needs a new quote.
    address: Any = Field(default=None, exclude=True)
    point: Any = Field(default=None, exclude=True)


class OrderIn(Shape):
    quote_id: str = Field(min_length=1, max_length=64)
    payment_method: PaymentMethod
    pickup: StopUpdate | None = None
    dropoff: StopUpdate | None = None
    notes: str | None = Field(default=None, max_length=2000)


class OrderUpdateIn(Shape):
    notes: str | None = Field(default=None, max_length=2000)
    scheduled_at: datetime | None = None
    pickup: StopUpdate | None = None
    dropoff: StopUpdate | None = None


class CancelIn(Shape):
    reason: str | None = Field(default=None, max_length=500)
