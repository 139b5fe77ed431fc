"""The public tracking page's view of a job: what whoever holds its link may see, and nothing
else (no phone numbers, no contacts, no other job)."""

from __future__ import annotations

from datetime import datetime

from logistics.shapes.common import Eta, Shape


class PublicVehicle(Shape):
    type: str
    make: str | None = None
    model: str | None = None
    color: str | None = None


class PublicDriver(Shape):
    first_name: str
    vehicle: PublicVehicle


class PublicPosition(Shape):
    lat: float
    lng: float
    recorded_at: datetime | None = None


class PublicStop(Shape):
    lat: float
    lng: float
    label: str


class PublicStep(Shape):
    status: str
    at: datetime


class PublicProof(Shape):
    url: str
    at: datetime


class Tiles(Shape):
    url: str
    attribution: str


class PublicTracking(Shape):
    job_id: str
    status: str
    live: bool
    eta: Eta | None = None
    driver: PublicDriver | None = None
    position: PublicPosition | None = None
    pickup: PublicStop
    dropoff: PublicStop
    timeline: list[PublicStep]
    proof: PublicProof | None = None
    service_area: list[tuple[float, float]]
    tiles: Tiles | None = None
    expires_at: datetime | None = None
