from datetime import datetime
from enum import StrEnum

from logistics.shapes.common import Shape

OfferStatus = StrEnum("OfferStatus", "PENDING ACCEPTED REJECTED EXPIRED WITHDRAWN")


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
