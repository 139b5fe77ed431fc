from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Field

from logistics.models.base import Row, utc


class Driver(Row, table=True):
    """A customer who registered to deliver; its live position is kept on the row."""

    __tablename__ = "drivers"
    # Dispatch looks drivers up by cell and status = 'approved'. With both columns in one index,
    # SQLite (which plans without statistics: the app runs no ANALYZE) takes it over the index
    # on status alone, which every approved driver shares; with h3_cell alone it did not.
    __table_args__ = (Index("ix_drivers_cell_status", "h3_cell", "status"),)

    user_id: str = Field(unique=True, index=True, max_length=255)
    status: str = Field(default="pending_review", max_length=20, index=True)
    name: str = Field(max_length=200)
    phone: str = Field(max_length=40)
    vehicle_type: str = Field(max_length=20)
    vehicle: dict[str, Any] = Field(sa_type=JSON)
    licence: dict[str, Any] = Field(sa_type=JSON)
    insurance: dict[str, Any] = Field(sa_type=JSON)
    online: bool = Field(default=False)
    online_since: datetime | None = utc(default=None)
    lat: float | None = None
    lng: float | None = None
    # H3 cell at resolution 9 (about 0.1 km^2): dispatch looks drivers up by cell.
    h3_cell: str | None = Field(default=None, max_length=16)
    accuracy_m: float | None = None
    heading_deg: float | None = None
    speed_mps: float | None = None
    location_recorded_at: datetime | None = utc(default=None)
    rating_sum: int = 0
    rating_count: int = 0
    completed_jobs: int = 0
    created_at: datetime = utc(now=True)
    updated_at: datetime = utc(now=True)

    @property
    def rating(self) -> float | None:
        return rating_of(self.rating_sum, self.rating_count)


def rating_of(stars: int, ratings: int) -> float | None:
    """The mean of a driver's ratings, to two places; None before the first."""
    return round(stars / ratings, 2) if ratings else None
