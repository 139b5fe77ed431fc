"""The live ops map's snapshot: the online drivers and the jobs under way, with live offers."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from logistics.shapes.common import Point, Shape
from logistics.shapes.dispatch import OfferLog
from logistics.shapes.jobs import JobStatus, TimelineEntry


class OpsMapDriver(Shape):
    id: str
    name: str
    vehicle_type: str
    point: Point
    recorded_at: datetime | None = None
    stale: bool = Field(
        description="Its position is older than LOCATION_STALE_AFTER_S: dispatch passes it over."
    )
    busy: bool = Field(description="Doing a job.")
    offered_job_id: str | None = Field(default=None, description="The job it holds a live offer of.")


class OpsMapOffer(Shape):
    driver_id: str
    expires_at: datetime


class OpsMapJob(Shape):
    id: str
    status: JobStatus
    pickup: Point
    dropoff: Point
    driver_id: str | None = None
    offer: OpsMapOffer | None = Field(default=None, description="The live exclusive offer, while one is out.")
    dispatch_waiting: str | None = Field(
        default=None, description="Why dispatch found nobody, last time it looked."
    )
    created_at: datetime


class OpsMap(Shape):
    drivers: list[OpsMapDriver]
    jobs: list[OpsMapJob]
    truncated: bool = Field(description="More drivers or jobs than the limit: the map shows the first ones.")
    generated_at: datetime


class OpsJob(Shape):
    """A job as the ops map shows it when clicked: its steps and its dispatch."""

    job_id: str
    status: JobStatus
    timeline: list[TimelineEntry]
    offer_log: OfferLog
