from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class Payment(SQLModel, table=True):
    """Money asked of a customer through a provider: a delivery's price or a tip."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        Index("ix_payments_job", "job_id", "purpose"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26)
    customer_id: str = Field(max_length=255)
    purpose: str = Field(max_length=16)
    provider: str = Field(max_length=16)
    provider_ref: str | None = Field(default=None, max_length=255)
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(default="pending", max_length=16)
    client_secret: str | None = Field(default=None, max_length=255)
    approve_url: str | None = Field(default=None, max_length=1000)
    refunded_amount: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderEvent(SQLModel, table=True):
    """A webhook event already handled: providers retry, the platform acts once."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Rating(SQLModel, table=True):
    __tablename__ = "ratings"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26, unique=True)
    customer_id: str = Field(max_length=255)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26, index=True)
    stars: int
    comment: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PayoutMethod(SQLModel, table=True):
    """Where a driver is paid. Account details are encrypted; only ``last4`` and a label show."""

    __tablename__ = "payout_methods"
    __table_args__ = (Index("ix_payout_methods_driver", "driver_id", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26)
    type: str = Field(max_length=16)
    label: str = Field(max_length=100)
    last4: str | None = Field(default=None, max_length=4)
    currency: str = Field(max_length=3)
    is_default: bool = False
    details_encrypted: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Payout(SQLModel, table=True):
    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_driver", "driver_id", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26)
    method_id: str = Field(foreign_key="payout_methods.id", max_length=26)
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(default="pending", max_length=16)
    provider: str = Field(max_length=16)
    provider_ref: str | None = Field(default=None, max_length=255)
    failure_reason: str | None = Field(default=None, max_length=500)
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
