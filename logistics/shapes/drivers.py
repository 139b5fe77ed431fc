from datetime import datetime
from enum import auto

from pydantic import Field

from logistics.enums import ApiEnum
from logistics.shapes.common import Day, InputShape, ItemSize, Money, Page, Shape, Vehicle, VehicleType


class DriverStatus(ApiEnum):
    PENDING_REVIEW, APPROVED, SUSPENDED = auto(), auto(), auto()


class Licence(InputShape):
    number: str = Field(min_length=1, max_length=64)
    expires_on: Day
    upload_id: str = Field(min_length=1, max_length=64)


class Insurance(InputShape):
    provider: str = Field(min_length=1, max_length=120)
    policy_number: str = Field(min_length=1, max_length=64)
    expires_on: Day
    upload_id: str = Field(min_length=1, max_length=64)


class RegisterIn(InputShape):
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+?[0-9 ()\-]{5,30}$")
    vehicle: Vehicle
    licence: Licence
    insurance: Insurance


class DriverView(Shape):
    id: str
    status: DriverStatus
    name: str
    phone: str
    vehicle: Vehicle
    online: bool
    rating: float | None = None
    completed_jobs: int
    created_at: datetime


class AvailabilityIn(InputShape):
    online: bool


class AvailabilityView(Shape):
    online: bool
    since: datetime | None = None


class InitUser(Shape):
    id: str
    name: str | None = None


class StripeInit(Shape):
    publishable_key: str


class PaypalInit(Shape):
    client_id: str
    environment: str


class InitPayment(Shape):
    methods: list[str]
    currency: str
    stripe: StripeInit | None = None
    paypal: PaypalInit | None = None
    sandbox: bool = Field(
        default=False,
        description="Card payments go through the development sandbox: confirm them with a test "
        "card at `POST /sandbox/payments/{payment_id}/confirm`.",
    )


class VehicleTypeView(Shape):
    type: VehicleType
    max_weight_kg: float
    max_size: ItemSize


class ServiceArea(Shape):
    type: str = "Polygon"
    coordinates: list[list[list[float]]]


class RegionView(Shape):
    id: str
    name: str
    country: str
    currency: str
    timezone: str
    distance_unit: str
    vehicle_types: list[VehicleTypeView]
    proof_of_delivery: str
    service_area: ServiceArea
    cancellation_fee: Money
    support_phone: str


class InitView(Shape):
    user: InitUser
    is_driver: bool
    driver: DriverView | None = None
    payment: InitPayment
    region: RegionView


class DriverPage(Page[DriverView]):
    pass
