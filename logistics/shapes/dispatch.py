from datetime import datetime
from enum import StrEnum

from logistics.shapes.common import Shape


class OfferStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class OfferLogEntry(Shape):
    id: str
    job_id: str
    driver_id: str
    status: OfferStatus
    reason: str | None = None
    distance_m: int
    offered_at: datetime
    expires_at: datetime
    responded_at: datetime | None = None
