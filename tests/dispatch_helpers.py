"""Helpers for the dispatch tests: points and drivers at known distances from the pickup, the
drivers' feeds, the ops offer log over GraphQL, offers run out by the loop, and more platforms on
the same database (a restarted process, or a second process running the dispatch loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlmodel import col

from logistics.app import build_platform
from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.models import Job
from logistics.platform import Platform
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, Api
from tests.realtime_helpers import codes, graphql

PICKUP = ALEXANDERPLATZ
METRES_PER_DEGREE_LAT = 111_195
OPS = "ops-1"
EXPIRED = "no answer before the offer expired"

OFFER_LOG = """
query OfferLog($jobId: ID!) {
  offerLog(jobId: $jobId) {
    jobId dispatch { state offers waiting }
    entries { id jobId driverId status reason distanceM offeredAt expiresAt respondedAt }
  }
}
"""
JOB_UPDATED = """
subscription Updates($jobId: ID!) {
  jobUpdated(jobId: $jobId) { jobId status previous driverId dispatch { state offers } }
}
"""


def north_of(point: dict[str, float], metres: float) -> dict[str, float]:
    """A point ``metres`` due north of ``point``."""
    return {"lat": round(point["lat"] + metres / METRES_PER_DEGREE_LAT, 6), "lng": point["lng"]}


def at(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def feed(api: Api, driver: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The driver's open feed around its last position, by job id."""
    page = await api.ok("GET", "/jobs/available", driver["sub"])
    return {job["id"]: job for job in page["items"]}


async def offer_log(api: Api, job_id: str) -> list[dict[str, Any]]:
    """The job's offers as ops sees them, oldest first."""
    body = await graphql(api, OPS, OFFER_LOG, headers=api.headers(OPS, roles=["ops"]), jobId=job_id)
    assert not body.get("errors"), body
    entries: list[dict[str, Any]] = body["data"]["offerLog"]["entries"]
    return entries


async def dispatch_of(api: Api, job_id: str) -> dict[str, Any] | None:
    """Where the job's dispatch stands, as ops sees it in the offer log."""
    body = await graphql(api, OPS, OFFER_LOG, headers=api.headers(OPS, roles=["ops"]), jobId=job_id)
    assert not body.get("errors"), body
    progress: dict[str, Any] | None = body["data"]["offerLog"]["dispatch"]
    return progress


async def offer_log_codes(api: Api, sub: str, job_id: str, roles: list[str] | None = None) -> list[str]:
    body = await graphql(api, sub, OFFER_LOG, headers=api.headers(sub, roles=roles), jobId=job_id)
    return codes(body)


def outcomes(log: list[dict[str, Any]], drivers: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(driver sub, offer status) per offer, oldest first."""
    by_id = {driver["id"]: sub for sub, driver in drivers.items()}
    return [(by_id.get(entry["driverId"], entry["driverId"]), entry["status"]) for entry in log]


async def three_drivers(api: Api) -> dict[str, dict[str, Any]]:
    """Online drivers 300 m, 1 km and 3 km north of the pickup (registered farthest first)."""
    far = await api.register_driver("far", at=north_of(PICKUP, 3000))
    mid = await api.register_driver("mid", at=north_of(PICKUP, 1000))
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    return {"near": near, "mid": mid, "far": far}


async def expire_and_run(clock: Clock, settings: Settings, platform: Platform) -> tuple[int, int]:
    clock.advance(seconds=settings.offer_ttl_s + 1)
    return await run_once(platform)


async def job_row(platform: Platform, job_id: str) -> Job:
    async with platform.db.session(write=False) as session:
        job: Job = (await session.execute(select(Job).where(col(Job.id) == job_id))).scalar_one()
        return job


async def pending_holder(api: Api, job_id: str) -> str | None:
    pending = [entry["driverId"] for entry in await offer_log(api, job_id) if entry["status"] == "PENDING"]
    assert len(pending) <= 1, pending
    return pending[0] if pending else None


async def live_offers(platform: Platform) -> list[tuple[str, str]]:
    """(job id, driver id) of every pending offer, read straight from ``job_offers``."""
    async with platform.db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT job_id, driver_id FROM job_offers WHERE status = 'pending'"))
        return [(str(job_id), str(driver_id)) for job_id, driver_id in rows.all()]


@asynccontextmanager
async def another_platform(settings: Settings, clock: Clock) -> AsyncIterator[Platform]:
    """A second process's services on the same database: its own engine, its own broker
    connection, its own driver index built on start, the same test clock."""
    platform = build_platform(settings)
    platform.clock = clock
    await platform.pubsub.connect()
    await platform.driver_sync.start()
    try:
        yield platform
    finally:
        await platform.driver_sync.stop()
        await platform.pubsub.disconnect()
        await platform.db.dispose()
