from datetime import datetime
from enum import auto

from logistics.enums import ApiEnum
from logistics.shapes.common import Shape


class OfferStatus(ApiEnum):
    PENDING = auto()
    ACCEPTED = auto()
    REJECTED = auto()
    EXPIRED = auto()
    WITHDRAWN = auto()


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
