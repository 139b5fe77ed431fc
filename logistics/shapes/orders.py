from typing import Any

from pydantic import Field

from logistics.shapes.common import Contact, InputShape, Instant, PaymentMethod


class StopUpdate(InputShape):
    contact: Contact | None = None
    instructions: str | None = Field(default=None, max_length=500)
    # Accepted only to answer clearly: a new address or point needs a new quote.
    address: Any = Field(default=None, exclude=True)
    point: Any = Field(default=None, exclude=True)


class OrderIn(InputShape):
    quote_id: str = Field(min_length=1, max_length=64)
    payment_method: PaymentMethod
    pickup: StopUpdate | None = None
    dropoff: StopUpdate | None = None
    notes: str | None = Field(default=None, max_length=2000)


class OrderUpdateIn(InputShape):
    notes: str | None = Field(default=None, max_length=2000)
    scheduled_at: Instant | None = None
    pickup: StopUpdate | None = None
    dropoff: StopUpdate | None = None


class CancelIn(InputShape):
    reason: str | None = Field(default=None, max_length=500)
