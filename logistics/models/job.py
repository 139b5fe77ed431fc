from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field

from logistics.models.base import ID_LENGTH, Row, ref, utc
from logistics.models.quote import PricedTrip


class Job(PricedTrip, Row, table=True):
    """One delivery: the customer's order and the driver's job are the same row."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_feed", "status", "pickup_lat", "pickup_lng"),
        Index("ix_jobs_customer", "customer_id", "id"),
        Index("ix_jobs_driver", "driver_id", "id"),
    )

    status: str = Field(max_length=24)
    region_id: str = Field(max_length=64)
    customer_id: str = Field(max_length=255)
    customer_name: str = Field(default="", max_length=200)
    customer_phone: str = Field(default="", max_length=40)
    driver_id: str | None = ref("drivers", default=None)
    created_by: str = Field(max_length=16)
    creator_id: str = Field(max_length=255)
    notes: str | None = Field(default=None, max_length=2000)
    pickup: dict[str, Any] = Field(sa_type=JSON)
    dropoff: dict[str, Any] = Field(sa_type=JSON)
    pickup_lat: float
    pickup_lng: float
    payment_method: str = Field(max_length=16)
    payment_status: str = Field(default="unpaid", max_length=16)
    quote_id: str | None = Field(default=None, max_length=ID_LENGTH, unique=True)
    scheduled_at: datetime | None = utc(default=None)
    cancellation: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = utc(now=True)
    updated_at: datetime = utc(now=True)
    accepted_at: datetime | None = utc(default=None)
    completed_at: datetime | None = utc(default=None)
    # Dispatch: how many drivers were offered the job, and when the loop should next look
    # for one (None: an offer is live, or automatic offers ran out and it waits in the feed).
    offer_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    dispatch_after: datetime | None = utc(default=None, index=True)
    # Why dispatch found nobody to offer the job to, the last time it looked (None: it did).
    dispatch_waiting: str | None = Field(default=None, max_length=24)
    # The public tracking link's generation: replacing the link (rotateTrackingLink) bumps it,
    # and a link made for another generation no longer answers.
    tracking_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The dropoff ETA that webhooks last reported: job.eta_changed goes out when the ETA moves
    # further than WEBHOOK_ETA_CHANGE_S from it.
    notified_eta_at: datetime | None = utc(default=None)


class JobEvent(Row, table=True):
    """A row of the job's timeline: one per transition."""

    __tablename__ = "job_events"
    # Unique: every writer holds the job lock, and a mistake there must fail, not duplicate.
    __table_args__ = (Index("ix_job_events_job", "job_id", "seq", unique=True),)

    job_id: str = ref("jobs")
    seq: int
    status: str = Field(max_length=24)
    at: datetime = utc(now=True)
    recorded_at: datetime | None = utc(default=None)
    lat: float | None = None
    lng: float | None = None
    actor_role: str = Field(max_length=16)
    actor_id: str = Field(max_length=255)
    note: str | None = Field(default=None, max_length=500)


class JobRejection(Row, table=True):
    __tablename__ = "job_rejections"
    __table_args__ = (UniqueConstraint("job_id", "driver_id"),)

    job_id: str = ref("jobs", index=True)
    driver_id: str = ref("drivers")
    reason: str = Field(max_length=32)
    at: datetime = utc(now=True)


class LocationPoint(Row, table=True):
    """A GPS point reported by the driver while a job is active (the tracking trail)."""

    __tablename__ = "location_points"
    __table_args__ = (Index("ix_location_points_job", "job_id", "recorded_at"),)

    job_id: str = ref("jobs")
    driver_id: str = ref("drivers")
    lat: float
    lng: float
    accuracy_m: float | None = None
    heading_deg: float | None = None
    speed_mps: float | None = None
    recorded_at: datetime = utc()
    received_at: datetime = utc(now=True)
