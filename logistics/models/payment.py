from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from logistics.models.base import ListedByDriver, Row, ref, utc


class Payment(Row, table=True):
    """Money asked of a customer through a provider: a delivery's price or a tip."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        Index("ix_payments_job", "job_id", "purpose"),
    )

    job_id: str = ref("jobs")
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
    created_at: datetime = utc(now=True)
    updated_at: datetime = utc(now=True)


class ProviderEvent(Row, table=True):
    """A webhook event already handled: providers retry, the platform acts once."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    type: str = Field(max_length=100)
    received_at: datetime = utc(now=True)


class Rating(Row, table=True):
    __tablename__ = "ratings"

    job_id: str = ref("jobs", unique=True)
    customer_id: str = Field(max_length=255)
    driver_id: str = ref("drivers", index=True)
    stars: int
    comment: str | None = Field(default=None, max_length=1000)
    created_at: datetime = utc(now=True)


class PayoutMethod(ListedByDriver, table=True):
    """Where a driver is paid. Account details are encrypted; only ``last4`` and a label show."""

    __tablename__ = "payout_methods"

    type: str = Field(max_length=16)
    label: str = Field(max_length=100)
    last4: str | None = Field(default=None, max_length=4)
    currency: str = Field(max_length=3)
    is_default: bool = False
    details_encrypted: str
    created_at: datetime = utc(now=True)
    deleted_at: datetime | None = utc(default=None)


class Payout(ListedByDriver, table=True):
    __tablename__ = "payouts"

    method_id: str = ref("payout_methods")
    amount: int
    currency: str = Field(max_length=3)
    status: str = Field(default="pending", max_length=16)
    provider: str = Field(max_length=16)
    provider_ref: str | None = Field(default=None, max_length=255)
    failure_reason: str | None = Field(default=None, max_length=500)
    requested_at: datetime = utc(now=True)
    paid_at: datetime | None = utc(default=None)
