"""A job's ETA and the driver position it is measured from.

The distance along the great circle times a circuity factor over the vehicle's speed, per
remaining leg (``geo.estimate_eta``); a routing engine can replace it behind this function.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import col

from logistics.config import Region, Settings
from logistics.geo import estimate_eta
from logistics.job.status import Trait, stage
from logistics.models import Job
from logistics.shapes.common import Eta


class Located(Protocol):
    """A driver row, or a position not yet written (``positions.Position``)."""

    @property
    def lat(self) -> float | None: ...
    @property
    def lng(self) -> float | None: ...
    @property
    def location_recorded_at(self) -> datetime | None: ...


class Trip(Protocol):
    """A job row, or the columns of one that a statement read."""

    @property
    def status(self) -> str: ...
    @property
    def vehicle_type(self) -> str: ...
    @property
    def pickup(self) -> dict[str, Any]: ...
    @property
    def dropoff(self) -> dict[str, Any]: ...


# The columns of a job that its ETA and its place on the map are computed from, for the hot
# reads that select columns rather than ORM rows (tracking polls, batches of pings).
TRIP_COLUMNS = (
    col(Job.id),
    col(Job.driver_id),
    col(Job.status),
    col(Job.region_id),
    col(Job.vehicle_type),
    col(Job.pickup),
    col(Job.dropoff),
)


def driver_position(driver: Located | None, settings: Settings, now: datetime) -> tuple[float, float] | None:
    """The driver's last position, or None when unknown or older than the stale limit."""
    if driver is None or driver.lat is None or driver.lng is None or driver.location_recorded_at is None:
        return None
    if now - driver.location_recorded_at > timedelta(seconds=settings.location_stale_after_s):
        return None
    return driver.lat, driver.lng


def job_eta(
    job: Trip, region: Region, driver: Located | None, settings: Settings, now: datetime
) -> Eta | None:
    current = stage(job.status)
    if not current.has(Trait.HAS_ETA):
        return None
    pickup_at, dropoff_at, seconds = estimate_eta(
        region,
        job.vehicle_type,
        now=now,
        pickup=(job.pickup["point"]["lat"], job.pickup["point"]["lng"]),
        dropoff=(job.dropoff["point"]["lat"], job.dropoff["point"]["lng"]),
        driver=driver_position(driver, settings, now),
        picked_up=current.has(Trait.PICKED_UP),
    )
    return Eta(pickup_at=pickup_at, dropoff_at=dropoff_at, seconds=seconds)
