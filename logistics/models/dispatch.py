from datetime import datetime

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class JobOffer(SQLModel, table=True):
    """An exclusive offer of a job to one driver, until it expires or is answered.

    Two partial unique indexes make the database itself refuse a second live offer for a job
    or for a driver, whatever several dispatch processes do at once.
    """

    __tablename__ = "job_offers"
    __table_args__ = (
        Index("ix_job_offers_job", "job_id", "id"),
        Index("ix_job_offers_driver", "driver_id", "status"),
        Index("ix_job_offers_due", "status", "expires_at"),
        Index(
            "uq_job_offers_live_job",
            "job_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "uq_job_offers_live_driver",
            "driver_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26)
    driver_id: str = Field(foreign_key="drivers.id", max_length=26)
    status: str = Field(default="pending", max_length=16)
    reason: str | None = Field(default=None, max_length=64)
    distance_m: int
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
