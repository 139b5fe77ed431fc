"""One rule decides whether a driver D may see and take an open job J, and every surface must
follow it: the feed (REST and GraphQL), the ``availableJobs`` subscription, ``GET /jobs/:id``,
accept, and dispatch both ways (a job looking for a driver; a driver looking for a job).

Every scenario starts from one baseline: D is an approved car driver, online, with a fresh
position 1 km from the pickup of J, a customer's cash order for a car that is ``searching``.
It then adds one condition, or two, from ``CONDITIONS``, and is played twice: with D online
when J is ordered (J looks for a driver) and with D coming online to a waiting J (D looks for a
job). ``expected`` is the rule written out once as a table; one test plays every scenario on an
emptied database and reports every surface that disagrees with the table, by scenario.
Dispatch runs by hand (``run_once``) and time moves on the test clock only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest
import strawberry
from sqlmodel import SQLModel

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from logistics.pubsub import FEED_CHANNEL
from logistics.schema import build_schema
from tests.conftest import Clock
from tests.dispatch_helpers import METRES_PER_DEGREE_LAT, PICKUP, live_offers, north_of
from tests.factories import Api, quote_body
from tests.realtime_helpers import DirectSubscription, codes, direct_subscription, graphql

# --- the conditions a scenario may add to the baseline --------------------------------------

OWN_ORDER = "own_order"  # J was ordered by D's own user (the same JWT sub)
OFFERED_ELSEWHERE = "offered_elsewhere"  # J is under a live exclusive offer to a nearer driver E
REJECTED = "rejected"  # D rejected J earlier
VEHICLE_MISMATCH = "vehicle_mismatch"  # D rides a bicycle; J needs a car
BUSY = "busy"  # D is doing another job it accepted
OFFLINE = "offline"  # D set itself offline
STALE = "stale"  # D's last position is older than location_stale_after_s
TOO_FAR = "too_far"  # J's pickup is beyond the feed radius and the dispatch radius
CONDITIONS = (OWN_ORDER, OFFERED_ELSEWHERE, REJECTED, VEHICLE_MISMATCH, BUSY, OFFLINE, STALE, TOO_FAR)
JOB_SIDE = frozenset({OWN_ORDER, OFFERED_ELSEWHERE, REJECTED, VEHICLE_MISMATCH})

# The two ways dispatch pairs a job with a driver.
JOB_TO_DRIVER = "job_to_driver"  # J enters searching while D is online: J looks for a driver
DRIVER_TO_JOB = "driver_to_job"  # J already waits when D comes online: D looks for a job

# --- the surfaces ---------------------------------------------------------------------------

FEED_REST = "feed (GET /jobs/available)"
FEED_GRAPHQL = "feed (GraphQL availableJobs)"
SUBSCRIPTION = "availableJobs subscription (entered minus left)"
GET_JOB = "GET /jobs/J"
DISPATCH = "dispatch: D holds a live offer of J"
ACCEPT = "PUT /jobs/J/accept"

D = "driver-d"
E = "driver-e"
CUSTOMER = "cust-j"
FEED_RADIUS_M = 5_000
DISPATCH_MAX_RADIUS_M = 8_000
DISPATCH_RETRY_S = 10  # shorter than the offer TTL: the loop retries while E's offer is live
TAKEN_BY_D = "accepted by D"


def east_of(point: dict[str, float], metres: float) -> dict[str, float]:
    """A point ``metres`` due east of ``point``."""
    per_degree = METRES_PER_DEGREE_LAT * math.cos(math.radians(point["lat"]))
    return {"lat": point["lat"], "lng": round(point["lng"] + metres / per_degree, 6)}


D_AT = north_of(PICKUP, 1_000)
# 20 km east of Alexanderplatz: still inside the Berlin service area (its east edge is at
# 13.7611 between 52.44 and 52.58 N), beyond the feed radius and the dispatch radius.
FAR_PICKUP = east_of(PICKUP, 20_000)
BUSY_PICKUP = north_of(D_AT, 100)
MARKER_PICKUP = north_of(D_AT, 200)

FEED_QUERY = """
query Feed($lat: Float!, $lng: Float!, $radiusM: Int!) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) { items { id } }
}
"""
FEED_SUBSCRIPTION = """
subscription Feed($lat: Float!, $lng: Float!, $radiusM: Int!) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) { jobId change }
}
"""


# --- the rule, as a table -------------------------------------------------------------------


def expected(conditions: frozenset[str]) -> dict[str, object]:
    """What each surface answers D about J under these conditions."""
    job_side_block = bool(conditions & JOB_SIDE)
    listed = not job_side_block and TOO_FAR not in conditions
    if OWN_ORDER in conditions:
        get: tuple[int, str | None] = (200, None)  # D sees it as its customer
    elif job_side_block:
        get = (404, "NOT_FOUND")
    else:
        get = (200, None)  # no distance rule on GET
    if OWN_ORDER in conditions:
        accept: tuple[int, str | None] = (403, "FORBIDDEN")
    elif conditions & {REJECTED, VEHICLE_MISMATCH}:
        # Never D's to take: GET's NOT_FOUND, whoever else holds it (no confirmation that
        # it exists).
        accept = (404, "NOT_FOUND")
    elif OFFERED_ELSEWHERE in conditions:
        # D could have taken it but for another driver's exclusive offer: it hears why.
        accept = (409, "OFFER_TAKEN")
    else:
        accept = (200, TAKEN_BY_D)  # busy, offline, stale, too far: D may take what it can see
    offered = listed and not conditions & {BUSY, OFFLINE, STALE}
    return {
        FEED_REST: listed,
        FEED_GRAPHQL: listed,
        SUBSCRIPTION: listed,
        GET_JOB: get,
        DISPATCH: offered,
        ACCEPT: accept,
    }


# --- the scenarios: the baseline, every condition, every pair, both ways of dispatch ---------


@dataclass(frozen=True)
class Scenario:
    conditions: frozenset[str]
    path: str

    @property
    def id(self) -> str:
        named = "+".join(c for c in CONDITIONS if c in self.conditions) or "baseline"
        return f"{named}[{self.path}]"


def scenarios() -> list[Scenario]:
    sets = [frozenset[str]()] + [frozenset(pair) for k in (1, 2) for pair in combinations(CONDITIONS, k)]
    return [
        Scenario(conditions, path)
        for conditions in sets
        for path in (JOB_TO_DRIVER, DRIVER_TO_JOB)
        # An offline driver never comes online, so both ways are the same scenario.
        if not (path == DRIVER_TO_JOB and OFFLINE in conditions)
    ]


SCENARIOS = scenarios()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"dispatch_max_radius_m": DISPATCH_MAX_RADIUS_M, "dispatch_retry_s": DISPATCH_RETRY_S}
    )


@pytest.fixture
def schema(settings: Settings) -> strawberry.Schema:
    return build_schema(settings)


# --- arranging a scenario -------------------------------------------------------------------


async def pending_offers(platform: Platform, job_id: str) -> set[str]:
    """The drivers (profile ids) holding a pending offer of the job."""
    return {driver_id for offered, driver_id in await live_offers(platform) if offered == job_id}


async def customer_job(api: Api, customer: str, pickup: dict[str, float], vehicle: str) -> dict[str, Any]:
    """A customer's cash job booked in one request (POST /jobs), for the jobs around J."""
    body = quote_body(pickup=pickup, vehicle_type=vehicle)
    job: dict[str, Any] = await api.ok("POST", "/jobs", customer, 201, json=body)
    return job


async def arrange(
    api: Api, clock: Clock, settings: Settings, platform: Platform, scenario: Scenario
) -> dict[str, Any]:
    """Everything the scenario's conditions add around D, then J itself; returns J.

    D is registered (and watching the feed) already. Steps run in an order that keeps each
    condition from undoing another: D takes its busy job while still free and fresh, time
    passes before E appears (so E and its offer are fresh), and D rejects J before E is
    offered it (D could no longer see J afterwards).
    """
    conditions = scenario.conditions
    pickup = FAR_PICKUP if TOO_FAR in conditions else PICKUP
    if BUSY in conditions:
        busy = await customer_job(api, "cust-busy", BUSY_PICKUP, "bicycle")
        await api.ok("PUT", f"/jobs/{busy['id']}/accept", D)
    if STALE in conditions:
        clock.advance(seconds=settings.location_stale_after_s + 1)
    if OFFLINE in conditions or scenario.path == DRIVER_TO_JOB:
        await api.ok("PUT", "/availability", D, json={"online": False})
    other = None
    if OFFERED_ELSEWHERE in conditions and REJECTED not in conditions:
        # E, nearer to the pickup than D, is online before J is ordered: dispatch offers J to E.
        other = await api.register_driver(E, at=north_of(pickup, 300))
    customer = D if OWN_ORDER in conditions else CUSTOMER
    job: dict[str, Any] = await api.order(customer, pickup=pickup, vehicle_type="car")
    if REJECTED in conditions:
        rejected = await api.call("PUT", f"/jobs/{job['id']}/reject", D, json={"reason": "other"})
        # D cannot reject a job it cannot see for another reason; the outcome is the same.
        already_hidden = bool(conditions & {OWN_ORDER, VEHICLE_MISMATCH})
        assert rejected.status_code == 200 or (already_hidden and rejected.status_code == 404), (
            f"{scenario.id}: could not arrange the rejection: {rejected.status_code} {rejected.text}"
        )
    if OFFERED_ELSEWHERE in conditions and other is None:
        # E comes online near the pickup of J, which waits without an offer: dispatch offers it.
        other = await api.register_driver(E, at=north_of(pickup, 300))
    holders = await pending_offers(platform, job["id"])
    if other is not None:
        assert holders == {other["id"]}, f"{scenario.id}: could not arrange a live offer of J to E"
    elif scenario.path == DRIVER_TO_JOB:
        assert holders == set(), f"{scenario.id}: J should wait without an offer for D to come online"
    return job


# --- observing each surface -----------------------------------------------------------------


def answer(response: Any) -> tuple[int, str | None]:
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return response.status_code, code


async def feed_rest(api: Api, job_id: str) -> object:
    params = {**D_AT, "radius_m": FEED_RADIUS_M}
    response = await api.call("GET", "/jobs/available", D, params=params)
    if response.status_code != 200:
        return answer(response)
    return job_id in {job["id"] for job in response.json()["items"]}


async def feed_graphql(api: Api, job_id: str) -> object:
    body = await graphql(api, D, FEED_QUERY, lat=D_AT["lat"], lng=D_AT["lng"], radiusM=FEED_RADIUS_M)
    if body.get("errors"):
        return codes(body)
    return job_id in {job["id"] for job in body["data"]["availableJobs"]["items"]}


async def watched_feed(api: Api, watch: DirectSubscription, job_id: str) -> object:
    """Whether J is in D's feed as the subscription tells it: the jobs announced ``entered``
    minus those announced ``left`` since before J existed.

    A nearby job for a bicycle, ordered now, marks the end: once it is announced, every
    change published before it has arrived (one channel, in order).
    """
    marker = await customer_job(api, "cust-marker", MARKER_PICKUP, "bicycle")
    net: set[str] = set()
    while True:
        try:
            change = await watch.data("availableJobs")
        except TimeoutError:
            return f"no end: the marker job never entered the feed (net so far: {job_id in net})"
        if change["jobId"] == marker["id"]:
            return job_id in net
        if change["change"] == "ENTERED":
            net.add(change["jobId"])
        else:
            net.discard(change["jobId"])


async def get_job(api: Api, job_id: str) -> tuple[int, str | None]:
    return answer(await api.call("GET", f"/jobs/{job_id}", D))


async def accept(api: Api, job_id: str, driver_id: str) -> tuple[int, str | None]:
    response = await api.call("PUT", f"/jobs/{job_id}/accept", D)
    if response.status_code != 200:
        return answer(response)
    job = response.json()
    taken = TAKEN_BY_D if (job["status"], job["driver_id"]) == ("accepted", driver_id) else str(job)
    return 200, taken


def disagreements(scenario: Scenario, seen: dict[str, object]) -> list[str]:
    want = expected(scenario.conditions)
    return [
        f"{scenario.id}: {surface}: expected {want[surface]!r}, observed {seen[surface]!r}"
        for surface in want
        if seen[surface] != want[surface]
    ]


# --- the test -------------------------------------------------------------------------------


async def wipe(platform: Platform) -> None:
    """Every row gone: each scenario starts from an empty platform (one app serves them all)."""
    async with platform.db.engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            await conn.execute(table.delete())
    # What the process remembers of those rows goes with them: the drivers it knows are fresh.
    platform.positions.forget_all()


async def run(
    scenario: Scenario,
    api: Api,
    clock: Clock,
    settings: Settings,
    platform: Platform,
    schema: strawberry.Schema,
) -> dict[str, object]:
    """Arrange the scenario, let dispatch run, and read what every surface answers D about J."""
    conditions = scenario.conditions
    # given driver D, online with a fresh position, watching the feed around it before any job
    vehicle = "bicycle" if VEHICLE_MISMATCH in conditions else "car"
    driver = await api.register_driver(D, vehicle=vehicle, at=D_AT)
    async with direct_subscription(
        schema,
        platform,
        settings,
        D,
        FEED_SUBSCRIPTION,
        channel=FEED_CHANNEL,
        lat=D_AT["lat"],
        lng=D_AT["lng"],
        radiusM=FEED_RADIUS_M,
    ) as watch:
        # and the scenario's conditions arranged around the open job J
        job = await arrange(api, clock, settings, platform, scenario)

        # when dispatch gets its chance: D comes online to a waiting J (driver to job), and
        # the loop runs once J's retry is due (job to driver)
        if scenario.path == DRIVER_TO_JOB and OFFLINE not in conditions:
            await api.ok("PUT", "/availability", D, json={"online": True})
        clock.advance(seconds=DISPATCH_RETRY_S)
        await run_once(platform)

        # then what every surface answers; accepting, which changes J, comes last
        seen: dict[str, object] = {
            FEED_REST: await feed_rest(api, job["id"]),
            FEED_GRAPHQL: await feed_graphql(api, job["id"]),
            GET_JOB: await get_job(api, job["id"]),
            DISPATCH: driver["id"] in await pending_offers(platform, job["id"]),
        }
        seen[SUBSCRIPTION] = await watched_feed(api, watch, job["id"])
        seen[ACCEPT] = await accept(api, job["id"], driver["id"])
    return seen


async def test_every_surface_agrees_whether_a_driver_may_see_and_take_an_open_job(
    api: Api, clock: Clock, settings: Settings, platform: Platform, schema: strawberry.Schema
) -> None:
    # given every scenario: the baseline, each condition alone, each pair, both ways of dispatch
    mismatches: list[str] = []
    for scenario in SCENARIOS:
        await wipe(platform)
        # when it is arranged and dispatch has run
        try:
            seen = await run(scenario, api, clock, settings, platform, schema)
        except AssertionError as failed:
            # A step the scenario needs was refused: report it with the others, and go on.
            mismatches.append(f"{scenario.id}: stopped: {failed}")
            continue
        # then each surface answers as the rule says
        mismatches += disagreements(scenario, seen)

    assert not mismatches, f"{len(mismatches)} disagreements with the rule:\n" + "\n".join(mismatches)
