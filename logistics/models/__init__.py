"""Tables, one module per aggregate. Importing this package registers them all."""

from logistics.models.dispatch import JobOffer
from logistics.models.driver import Driver
from logistics.models.idempotency import IdempotencyKey
from logistics.models.job import Job, JobEvent, JobRejection, LocationPoint
from logistics.models.media import JobImage, Upload
from logistics.models.messaging import JobIssue, Message
from logistics.models.money import LedgerEntry
from logistics.models.payment import Payment, Payout, PayoutMethod, ProviderEvent, Rating
from logistics.models.quote import Quote
from logistics.models.webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "Driver",
    "IdempotencyKey",
    "Job",
    "JobEvent",
    "JobImage",
    "JobIssue",
    "JobOffer",
    "JobRejection",
    "LedgerEntry",
    "LocationPoint",
    "Message",
    "Payment",
    "Payout",
    "PayoutMethod",
    "ProviderEvent",
    "Quote",
    "Rating",
    "Upload",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
