"""What subscriptions deliver."""

from datetime import datetime
from enum import auto

from logistics.enums import ApiEnum
from logistics.shapes.common import Eta, Money, Point, Shape, VehicleType
from logistics.shapes.dispatch import DispatchProgress
from logistics.shapes.jobs import JobStatus


class JobUpdate(Shape):
    job_id: str
    status: JobStatus
    previous: JobStatus | None = None
    at: datetime
    eta: Eta | None = None
    driver_id: str | None = None
    dispatch: DispatchProgress | None = None


class DriverLocation(Shape):
    job_id: str
    point: Point
    heading_deg: float | None = None
    speed_mps: float | None = None
    recorded_at: datetime
    eta_seconds: int | None = None


class FeedChangeKind(ApiEnum):
    ENTERED = auto()
    LEFT = auto()


class FeedChange(Shape):
    job_id: str
    change: FeedChangeKind
    pickup: Point
    distance_m: int
    vehicle_type: VehicleType
    driver_earnings: Money | None = None


class JobOfferEvent(Shape):
    offer_id: str
    job_id: str
    expires_at: datetime
    pickup: Point
    distance_m: int
    driver_earnings: Money
