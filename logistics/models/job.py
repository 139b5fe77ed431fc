from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class Job(SQLModel, table=True):
    """One delivery: the customer's order and the driver's job are the same row."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_feed", "status", "pickup_lat", "pickup_lng"),
        Index("ix_jobs_customer", "customer_id", "id"),
        Index("ix_jobs_driver", "driver_id", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    status: str = Field(max_length=24)
    region_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=255)
    customer_name: str = Field(default="", max_length=200)
    customer_phone: str = Field(default="", max_length=40)
    driver_id: str | None = Field(default=None, foreign_key="drivers.id", max_length=26)
    created_by: str = Field(max_length=16)
    creator_id: str = Field(max_length=255)
    notes: str | None = Field(default=None, max_length=2000)
    pickup: dict[str, Any] = Field(sa_type=JSON)
    dropoff: dict[str, Any] = Field(sa_type=JSON)
    pickup_lat: float
    pickup_lng: float
    items: list[dict[str, Any]] = Field(sa_type=JSON)
    vehicle_type: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    price: int
    breakdown: list[dict[str, Any]] = Field(sa_type=JSON)
    driver_earnings: int
    distance_m: int
    duration_s: int
    payment_method: str = Field(max_length=16)
    payment_status: str = Field(default="unpaid", max_length=16)
    quote_id: str | None = Field(default=None, max_length=26, unique=True)
    scheduled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancellation: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Dispatch: how many drivers were offered the job, and when the loop should next look
    # for one (None: an offer is live, or automatic offers ran out and it waits in the feed).
    offer_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    dispatch_after: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class JobEvent(SQLModel, table=True):
    """A row of the job's timeline: one per transition."""

    __tablename__ = "job_events"
    # Unique: every writer holds the job lock, and a mistake there must fail, not duplicate.
    __table_args__ = (Index("ix_job_events_job", "job_id", "seq", unique=True),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26)
    seq: int
    status: str = Field(max_length=24)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lat: float | None = None
    lng: float | None = None
    actor_role: str = Field(max_length=16)
    actor_id: str = Field(max_length=255)
    note: str | None = Field(default=None, max_length=500)


class JobRejection(SQLModel, table=True):
    __tablename__ = "job_rejections"
    __table_args__ = (UniqueConstraint("job_id", "driver_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26, index=True)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26)
    reason: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LocationPoint(SQLModel, table=True):
    """A GPS point reported by the driver while a job is active (the tracking trail)."""

    __tablename__ = "location_points"
    __table_args__ = (Index("ix_location_points_job", "job_id", "recorded_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26)
    lat: float
    lng: float
    accuracy_m: float | None = None
    heading_deg: float | None = None
    speed_mps: float | None = None
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
