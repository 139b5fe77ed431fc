from datetime import datetime
from enum import auto

from pydantic import Field

from logistics.enums import ApiEnum
from logistics.job.status import JobStatus
from logistics.shapes.common import (
    BreakdownLine,
    Eta,
    InputShape,
    Instant,
    Item,
    LocationReport,
    Money,
    Page,
    PaymentMethod,
    PaymentStatus,
    Point,
    Shape,
    Stop,
    StopView,
    Vehicle,
    VehicleType,
)
from logistics.shapes.dispatch import DispatchProgress


class CreatedBy(ApiEnum):
    CUSTOMER, MERCHANT, DRIVER = auto(), auto(), auto()


class ActorRole(ApiEnum):
    CUSTOMER, MERCHANT, DRIVER, SYSTEM, OPS = auto(), auto(), auto(), auto(), auto()


class RejectReason(ApiEnum):
    TOO_FAR, VEHICLE_UNSUITABLE, BUSY, OTHER = auto(), auto(), auto(), auto()


class JobListFilter(ApiEnum):
    ACTIVE, COMPLETED, ALL = auto(), auto(), auto()


class TransitionIn(InputShape):
    point: Point | None = None
    recorded_at: Instant | None = None
    note: str | None = Field(default=None, max_length=500)


class RejectIn(InputShape):
    reason: RejectReason = RejectReason.OTHER


class RejectResult(Shape):
    job_id: str
    rejected: bool
    reason: RejectReason


class CreateJobIn(InputShape):
    pickup: Stop
    dropoff: Stop
    items: list[Item] = Field(min_length=1, max_length=50)
    vehicle_type: VehicleType | None = None
    customer_id: str | None = Field(default=None, min_length=1, max_length=255)
    payment_method: PaymentMethod = PaymentMethod.CASH
    scheduled_at: Instant | None = None
    notes: str | None = Field(default=None, max_length=2000)


class TimelineEntry(Shape):
    status: JobStatus
    at: datetime
    recorded_at: datetime | None = None
    point: Point | None = None
    actor: ActorRole
    note: str | None = None


class Cancellation(Shape):
    by: ActorRole
    reason: str | None = None
    fee: Money
    refund: Money


class PaymentInfo(Shape):
    method: PaymentMethod
    status: PaymentStatus


class DriverSummary(Shape):
    id: str
    name: str
    vehicle: Vehicle
    rating: float | None = None


class OfferSummary(Shape):
    """An exclusive offer of the job to the driver looking at it, until ``expires_at``."""

    id: str
    expires_at: datetime


class JobView(Shape):
    id: str
    status: JobStatus
    customer_id: str
    driver_id: str | None = None
    created_by: CreatedBy
    notes: str | None = None
    pickup: StopView
    dropoff: StopView
    items: list[Item]
    vehicle_type: VehicleType
    price: Money
    breakdown: list[BreakdownLine]
    driver_earnings: Money
    payment: PaymentInfo
    scheduled_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    timeline: list[TimelineEntry]
    cancellation: Cancellation | None = None
    driver: DriverSummary | None = None
    distance_m: int = Field(description="Trip length; in the feed, the distance to pickup.")
    eta: Eta | None = None
    offer: OfferSummary | None = None
    dispatch: DispatchProgress | None = None
    tracking_url: str | None = Field(
        default=None,
        description="The public tracking page, for the customer to share (no login needed). "
        "Shown to the customer and ops only; it stops answering when the order is cancelled "
        "and a while after delivery.",
    )


class JobPage(Page[JobView]):
    pass


class TrackingIn(InputShape):
    points: list[LocationReport] = Field(min_length=1, max_length=100)


class TrackingResult(Shape):
    accepted: int
    eta: Eta | None = None


class TrackedDriver(Shape):
    name: str
    vehicle: Vehicle
    rating: float | None = None
    point: Point | None = None
    recorded_at: datetime | None = None
    stale: bool


class TrackView(Shape):
    job_id: str
    status: JobStatus
    eta: Eta | None = None
    driver: TrackedDriver | None = None
    timeline: list[TimelineEntry]
