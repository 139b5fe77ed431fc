"""Outbound webhooks: the endpoints merchants and ops register, the events written in the
transaction of the change they report, one delivery per (event, endpoint), and every attempt."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from logistics.models.base import ID_LENGTH, Row, ref, utc

# An integer key that autoincrements on both backends (SQLite: INTEGER PRIMARY KEY; PostgreSQL:
# BIGSERIAL): deliveries of one job are sent in the order of this key, which follows commit order.
_SERIAL = BigInteger().with_variant(Integer(), "sqlite")


class WebhookEndpoint(Row, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_owner", "owner_id", "id"),)

    owner_id: str = Field(max_length=255)
    # merchant: events of the jobs it created or ordered; ops: every job's.
    owner_role: str = Field(max_length=16)
    url: str = Field(max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(sa_type=JSON)
    # Fernet-sealed: the worker needs the secret itself to sign, so it cannot be hashed.
    secret_sealed: str = Field(max_length=500)
    # After a rotation the old secret signs too, until it expires, so receivers can switch.
    previous_secret_sealed: str | None = Field(default=None, max_length=500)
    previous_secret_expires_at: datetime | None = utc(default=None)
    enabled: bool = True
    # Why it is disabled: "owner" (by hand) or "failures" (too many failed attempts in a row).
    disabled_reason: str | None = Field(default=None, max_length=16)
    consecutive_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = utc(now=True)
    updated_at: datetime = utc(now=True)
    deleted_at: datetime | None = utc(default=None)


class WebhookEvent(Row, table=True):
    """What happened, as the exact bytes every attempt sends (a signature covers them)."""

    __tablename__ = "webhook_events"

    type: str = Field(max_length=64)
    job_id: str | None = Field(default=None, max_length=ID_LENGTH, index=True)
    body: str = Field(sa_type=Text)
    created_at: datetime = utc(now=True)


class WebhookDelivery(SQLModel, table=True):
    """One event owed to one endpoint: pending until a 2xx answer (delivered), or until it is
    given up (failed: older than the retry horizon) or its endpoint is deleted (cancelled)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "job_id", "status", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(_SERIAL, primary_key=True, autoincrement=True))
    event_id: str = Field(
        sa_column=Column(String(ID_LENGTH), ForeignKey("webhook_events.id"), nullable=False)
    )
    endpoint_id: str = ref("webhook_endpoints")
    job_id: str | None = Field(default=None, max_length=ID_LENGTH)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = utc(now=True)
    # A worker that claimed the delivery owns it until then; past it, another may retry.
    lease_until: datetime | None = utc(default=None)
    lease_owner: str | None = Field(default=None, max_length=64)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    # Made by a replay (ops, or the endpoint's owner), not by the change itself.
    replay: bool = False
    created_at: datetime = utc(now=True)
    delivered_at: datetime | None = utc(default=None)


class WebhookAttempt(Row, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery", "delivery_id", "id"),)

    delivery_id: int = Field(sa_column=Column(_SERIAL, ForeignKey("webhook_deliveries.id"), nullable=False))
    at: datetime = utc(now=True)
    duration_ms: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    response_excerpt: str | None = Field(default=None, max_length=500)
