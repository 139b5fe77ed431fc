from datetime import datetime
from enum import StrEnum, auto

from pydantic import Field

from logistics.enums import ApiEnum
from logistics.shapes.common import Shape


class OfferStatus(ApiEnum):
    PENDING, ACCEPTED, REJECTED, EXPIRED, WITHDRAWN = auto(), auto(), auto(), auto(), auto()


# Why dispatch found nobody to offer a job to: nobody online within the dispatch radius;
# everyone there with a stale position; everyone there doing another job or holding another
# offer; everyone there already tried (offered or passed); or a mix of these.
DispatchWaiting = StrEnum(
    "DispatchWaiting", "NO_DRIVER_NEARBY ALL_STALE ALL_BUSY ALL_TRIED NO_ELIGIBLE_DRIVER"
)


class DispatchProgress(Shape):
    """While a job is searching: what dispatch is doing for it."""

    state: str = Field(
        description="offered (a driver is considering it), searching (nobody in range yet) or open_feed."
    )
    offers: int = Field(description="How many drivers have been offered the job so far.")
    waiting: DispatchWaiting | None = Field(
        default=None, description="While searching: why nobody could be offered the job the last time."
    )


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
    window_at: datetime | None = None  # the dispatch window that chose it (batched dispatch)
    cost_m: int | None = None  # its cost in that window: pickup metres less the waiting bonus


class OfferLog(Shape):
    """A job's dispatch, for ops: where it stands and every offer made, oldest first."""

    job_id: str
    dispatch: DispatchProgress | None = None
    entries: list[OfferLogEntry]
