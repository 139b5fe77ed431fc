"""Outbound webhook endpoints, as their owners register and see them, and their deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from logistics.shapes.common import InputShape, Page, Shape


class WebhookEventType(StrEnum):
    """What an endpoint can be told. The value is the ``type`` of the event's body."""

    JOB_CREATED = "job.created"
    JOB_STATUS_CHANGED = "job.status_changed"
    JOB_DRIVER_ASSIGNED = "job.driver_assigned"
    JOB_ETA_CHANGED = "job.eta_changed"
    JOB_ISSUE_REPORTED = "job.issue_reported"
    JOB_DELIVERED = "job.delivered"
    JOB_CANCELLED = "job.cancelled"
    PAYMENT_REFUNDED = "payment.refunded"
    TIP_RECEIVED = "tip.received"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


class WebhookEndpointIn(InputShape):
    url: str = Field(
        min_length=8,
        max_length=2000,
        description="Where events are POSTed: https (http is accepted outside production).",
    )
    event_types: list[WebhookEventType] = Field(
        min_length=1, max_length=len(WebhookEventType), description="The events to send; at least one."
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookEndpointUpdateIn(InputShape):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[WebhookEventType] | None = Field(
        default=None, min_length=1, max_length=len(WebhookEventType)
    )
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(
        default=None,
        description="false stops deliveries (they wait, up to the retry horizon); true resumes "
        "them and clears the failure count.",
    )


class WebhookEndpointView(Shape):
    id: str
    owner_id: str
    owner_role: str = Field(description="merchant (hears of its own jobs) or ops (of every job).")
    url: str
    event_types: list[WebhookEventType]
    description: str | None = None
    enabled: bool
    disabled_reason: str | None = Field(
        default=None, description="owner (disabled by hand) or failures (too many in a row)."
    )
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="After a rotation: until when the previous secret still signs too."
    )
    created_at: datetime


class WebhookEndpointSecret(Shape):
    """An endpoint with its signing secret: the only answer that carries the secret."""

    endpoint: WebhookEndpointView
    secret: str = Field(description="whsec_...: shown once; verify Logistics-Signature with it.")


class WebhookEndpointPage(Page[WebhookEndpointView]):
    pass


class WebhookAttemptView(Shape):
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None


class WebhookDeliveryView(Shape):
    id: str
    event_id: str
    event_type: WebhookEventType
    job_id: str | None = None
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(default=None, description="While pending: the next try.")
    last_status_code: int | None = None
    last_error: str | None = None
    replay: bool
    created_at: datetime
    delivered_at: datetime | None = None
    attempt_log: list[WebhookAttemptView] = Field(description="Every attempt, oldest first.")
    payload: str = Field(description="The event's body, exactly as sent.")


class WebhookDeliveryPage(Page[WebhookDeliveryView]):
    pass
