from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field

from logistics.models.base import Row, ref, utc

_LIVE = text("status = 'pending'")


def _one_live(name: str, column: str) -> Index:
    """A unique index over the pending offers only."""
    return Index(name, column, unique=True, sqlite_where=_LIVE, postgresql_where=_LIVE)


class JobOffer(Row, table=True):
    """An exclusive offer of a job to one driver, until it expires or is answered.

    Two partial unique indexes make the database itself refuse a second live offer for a job
    or for a driver, whatever several dispatch processes do at once.
    """

    __tablename__ = "job_offers"
    __table_args__ = (
        Index("ix_job_offers_job", "job_id", "id"),
        Index("ix_job_offers_driver", "driver_id", "status"),
        Index("ix_job_offers_due", "status", "expires_at"),
        _one_live("uq_job_offers_live_job", "job_id"),
        _one_live("uq_job_offers_live_driver", "driver_id"),
    )

    job_id: str = ref("jobs")
    driver_id: str = ref("drivers")
    status: str = Field(default="pending", max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    distance_m: int
    offered_at: datetime = utc(now=True)
    expires_at: datetime = utc()
    responded_at: datetime | None = utc(default=None)
    # Batched dispatch: the window whose matching chose this offer, and the pair's cost there
    # (pickup metres less the waiting bonus); both empty for a greedy offer.
    window_at: datetime | None = utc(default=None)
    cost_m: int | None = None
