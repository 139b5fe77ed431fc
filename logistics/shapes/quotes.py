from datetime import datetime

from pydantic import Field

from logistics.shapes.common import BreakdownLine, InputShape, Instant, Item, Money, Shape, Stop, VehicleType


class QuoteIn(InputShape):
    pickup: Stop
    dropoff: Stop
    items: list[Item] = Field(min_length=1, max_length=50)
    vehicle_type: VehicleType | None = None
    scheduled_at: Instant | None = None


class AddressCheck(Shape):
    field: str
    ok: bool
    message: str


class QuoteView(Shape):
    id: str
    price: Money
    breakdown: list[BreakdownLine]
    driver_earnings: Money
    distance_m: int
    duration_s: int
    vehicle_type: VehicleType
    expires_at: datetime
    validated: bool
    checks: list[AddressCheck] | None = None
