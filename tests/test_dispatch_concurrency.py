"""Dispatch run by several processes at once, for real, on PostgreSQL: each "process" is a
platform with its own engine on the same database, running ``run_once`` concurrently with the
others and with drivers answering their offers. The database stays consistent at every point:
one pending offer per job and per driver, no job offered twice to one driver, no offer to a
busy driver or for a job no longer searching, and no pass of the loop fails.

Where an interleaving matters, a test forces it: it holds a row lock from a connection of its
own and waits until PostgreSQL reports the racers waiting on it (``pg_stat_activity``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from logistics.config import Settings
from logistics.dispatch.loop import run_once
from logistics.platform import Platform
from tests.conftest import PG_URL, Clock, requires_postgres
from tests.dispatch_helpers import PICKUP, another_platform, north_of
from tests.factories import Api

pytestmark = requires_postgres

DRIVERS = 12
JOBS = 20
ROUNDS = 8
BARRIER_TIMEOUT_S = 30


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A smaller dispatch radius: fewer H3 cells to search when every driver is taken.
    return settings.model_copy(update={"dispatch_max_radius_m": 4000})


@pytest.fixture
async def observer() -> AsyncIterator[AsyncEngine]:
    """Connections of the test's own, outside the platforms' pools."""
    assert PG_URL is not None
    engine = create_async_engine(PG_URL, pool_size=2)
    yield engine
    await engine.dispose()


@asynccontextmanager
async def two_loops(settings: Settings, clock: Clock) -> AsyncIterator[tuple[Platform, Platform]]:
    async with another_platform(settings, clock) as first, another_platform(settings, clock) as second:
        yield first, second


async def rows(observer: AsyncEngine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async with observer.connect() as conn:
        return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]


async def assert_consistent(observer: AsyncEngine) -> None:
    """What must hold of ``job_offers`` and ``jobs`` at every point."""
    two_per_job = await rows(
        observer,
        "SELECT job_id FROM job_offers WHERE status = 'pending' GROUP BY job_id HAVING count(*) > 1",
    )
    assert two_per_job == [], "a job with two pending offers"
    two_per_driver = await rows(
        observer,
        "SELECT driver_id FROM job_offers WHERE status = 'pending' GROUP BY driver_id HAVING count(*) > 1",
    )
    assert two_per_driver == [], "a driver with two pending offers"
    offered_twice = await rows(
        observer,
        "SELECT job_id, driver_id FROM job_offers GROUP BY job_id, driver_id HAVING count(*) > 1",
    )
    assert offered_twice == [], "a job offered twice to the same driver"
    pending_on_taken = await rows(
        observer,
        "SELECT o.id FROM job_offers o JOIN jobs j ON j.id = o.job_id "
        "WHERE o.status = 'pending' AND (j.status <> 'searching' OR j.driver_id IS NOT NULL)",
    )
    assert pending_on_taken == [], "a pending offer for a job that is no longer searching"
    pending_to_busy = await rows(
        observer,
        "SELECT o.id FROM job_offers o JOIN jobs j ON j.driver_id = o.driver_id "
        "WHERE o.status = 'pending' AND j.status IN ('accepted', 'pickup_started', 'pickup_arrived', "
        "'pickup_completed', 'dropoff_started', 'dropoff_arrived', 'dropoff_completed')",
    )
    assert pending_to_busy == [], "a pending offer to a driver who has a job"
    accepted_by_other = await rows(
        observer,
        "SELECT o.id FROM job_offers o JOIN jobs j ON j.id = o.job_id "
        "WHERE o.status = 'accepted' AND j.driver_id IS DISTINCT FROM o.driver_id",
    )
    assert accepted_by_other == [], "an accepted offer whose driver does not have the job"


async def pending_offers(observer: AsyncEngine) -> dict[str, str]:
    """job id -> driver id of every pending offer."""
    return {
        str(job): str(driver)
        for job, driver in await rows(
            observer, "SELECT job_id, driver_id FROM job_offers WHERE status = 'pending'"
        )
    }


async def offer_statuses(observer: AsyncEngine, job_id: str) -> list[tuple[str, str]]:
    """(driver id, status) of the job's offers, oldest first."""
    found = await rows(
        observer, "SELECT driver_id, status FROM job_offers WHERE job_id = :job ORDER BY id", job=job_id
    )
    return [(str(driver), str(status)) for driver, status in found]


async def job_state(observer: AsyncEngine, job_id: str) -> tuple[str, str | None]:
    [(status, driver)] = await rows(
        observer, "SELECT status, driver_id FROM jobs WHERE id = :job", job=job_id
    )
    return str(status), None if driver is None else str(driver)


async def drivers_report(api: Api, drivers: list[dict[str, Any]]) -> None:
    """Every driver's app reports its position again (positions go stale otherwise)."""
    await asyncio.gather(*(api.ok("PUT", "/location", d["sub"], 204, json=d["at"]) for d in drivers))


def outcome(response: httpx.Response) -> tuple[int, str | None]:
    code = response.json().get("error", {}).get("code") if response.status_code >= 400 else None
    return response.status_code, code


async def blocked_statements(observer: AsyncEngine) -> list[str]:
    found = await rows(
        observer,
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
    )
    return [str(query).lstrip().upper() for (query,) in found]


async def until(observer: AsyncEngine, done: Callable[[list[str]], bool], what: str) -> None:
    blocked: list[str] = []
    try:
        async with asyncio.timeout(BARRIER_TIMEOUT_S):
            while not done(blocked := await blocked_statements(observer)):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"waited for {what}; blocked now: {blocked}")


@asynccontextmanager
async def row_locked(
    observer: AsyncEngine, table: str, row_id: str, *, mode: str = "FOR UPDATE"
) -> AsyncIterator[None]:
    """Hold a lock on one row until the block ends. FOR NO KEY UPDATE lets foreign-key checks
    of rows inserted meanwhile (rejections, offers) through, as the app's own locks do."""
    async with observer.connect() as conn:
        transaction = await conn.begin()
        await conn.execute(text(f"SELECT id FROM {table} WHERE id = :id {mode}"), {"id": row_id})  # noqa: S608
        try:
            yield
        finally:
            await transaction.rollback()


# --- two loops, many jobs and drivers ---------------------------------------------------------


async def test_two_dispatch_loops_never_double_offer(
    api: Api, settings: Settings, clock: Clock, observer: AsyncEngine
) -> None:
    # given many drivers far out of range, and many orders that therefore wait for dispatch
    remote = north_of(PICKUP, settings.dispatch_max_radius_m + 20_000)
    drivers = [await api.register_driver(f"d{n}", at=remote) for n in range(DRIVERS)]
    orders = [
        await api.order(
            f"cust-{n}", pickup=north_of(PICKUP, 150 * n), dropoff=north_of(PICKUP, 150 * n + 3000)
        )
        for n in range(JOBS)
    ]
    assert {order["status"] for order in orders} == {"searching"}
    assert await pending_offers(observer) == {}
    # and the drivers then move in among the pickups (the loop is what finds them)
    for n, driver in enumerate(drivers):
        driver["at"] = north_of(PICKUP, 250 * n + 60)
    await drivers_report(api, drivers)
    by_id = {driver["id"]: driver for driver in drivers}

    async with two_loops(settings, clock) as (first, second):
        for round_ in range(ROUNDS):
            # when two loops run at once, while some offered drivers accept and others reject
            clock.advance(seconds=max(settings.offer_ttl_s, settings.dispatch_retry_s) + 1)
            await drivers_report(api, drivers)
            live = await pending_offers(observer)
            answers = []
            for n, (job_id, driver_id) in enumerate(sorted(live.items())):
                sub = by_id[driver_id]["sub"]
                if n % 4 == round_ % 4:
                    answers.append(api.call("PUT", f"/jobs/{job_id}/accept", sub))
                elif n % 4 == (round_ + 1) % 4:
                    answers.append(api.call("PUT", f"/jobs/{job_id}/reject", sub, json={"reason": "busy"}))
            results = await asyncio.gather(
                run_once(first), run_once(second), *answers, run_once(first), return_exceptions=True
            )

            # then no pass raised, every answer is a plain one, and the database is consistent
            failures = [result for result in results if isinstance(result, BaseException)]
            assert failures == [], failures
            for response in results[2:-1]:
                assert isinstance(response, httpx.Response)
                # An accept that comes second hears OFFER_TAKEN; a reject of a job that has
                # meanwhile gone to another driver (its offer lapsed) finds nothing to pass on.
                plain = {(200, None), (409, "OFFER_TAKEN"), (404, "NOT_FOUND")}
                if response.request.url.path.endswith("/accept"):
                    plain.discard((404, "NOT_FOUND"))
                assert outcome(response) in plain, response.text
            await assert_consistent(observer)

    # and dispatch made progress: drivers have jobs, and free drivers were offered waiting jobs
    taken = await rows(observer, "SELECT count(*) FROM jobs WHERE status = 'accepted'")
    assert taken[0][0] > 0
    total = await rows(observer, "SELECT count(*) FROM job_offers")
    assert total[0][0] >= DRIVERS


# --- the offered driver accepts while the loop expires the offer --------------------------------


async def offered_job(api: Api, observer: AsyncEngine) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(holder, next driver, job id): a job offered to the nearer of two online drivers."""
    holder = await api.register_driver("holder", at=north_of(PICKUP, 300))
    following = await api.register_driver("next", at=north_of(PICKUP, 900))
    order = await api.order("cust-1", pickup=PICKUP)
    assert await pending_offers(observer) == {order["id"]: holder["id"]}
    return holder, following, order["id"]


async def assert_one_winner(
    observer: AsyncEngine,
    response: httpx.Response,
    job_id: str,
    holder: dict[str, Any],
    following: dict[str, Any],
) -> None:
    """Either the holder has the job (its offer accepted, or lapsed), or the offer expired and
    moved on to the next driver, and the holder was told the job is taken."""
    await assert_consistent(observer)
    status, driver = await job_state(observer, job_id)
    offers = await offer_statuses(observer, job_id)
    if outcome(response) == (200, None):
        assert (status, driver) == ("accepted", holder["id"])
        assert await pending_offers(observer) == {}
        # (expired: the loop got there first but found nobody else to offer it to)
        assert offers in ([(holder["id"], "accepted")], [(holder["id"], "expired")]), offers
    else:
        assert outcome(response) == (409, "OFFER_TAKEN"), response.text
        assert (status, driver) == ("searching", None)
        assert offers == [(holder["id"], "expired"), (following["id"], "pending")]


async def test_accept_queued_before_the_expiry_on_the_job_row(
    api: Api, settings: Settings, clock: Clock, observer: AsyncEngine
) -> None:
    # given an offer at its expiry, and the job's row held for a moment
    holder, following, job_id = await offered_job(api, observer)
    clock.advance(seconds=settings.offer_ttl_s)
    async with another_platform(settings, clock) as loop:
        async with row_locked(observer, "jobs", job_id):
            # when the offered driver accepts (and waits for the row), and then the loop runs
            accept = asyncio.ensure_future(api.call("PUT", f"/jobs/{job_id}/accept", holder["sub"]))
            await until(observer, lambda b: any(q.startswith("UPDATE JOBS") for q in b), "the accept to wait")
            expiry = asyncio.ensure_future(run_once(loop))
            await until(
                observer, lambda b: expiry.done() or len(b) >= 2, "the loop to finish or to wait as well"
            )
        # then neither fails, and exactly one outcome holds
        results = await asyncio.gather(accept, expiry, return_exceptions=True)
    assert not isinstance(results[1], BaseException), repr(results[1])
    response = results[0]
    assert isinstance(response, httpx.Response)
    await assert_one_winner(observer, response, job_id, holder, following)


async def test_accept_and_expiry_at_once_many_times(
    api: Api, settings: Settings, clock: Clock, observer: AsyncEngine
) -> None:
    # given several jobs, each offered to its own driver, and as many drivers to offer them next
    holders = [await api.register_driver(f"h{n}", at=north_of(PICKUP, 2000 * n + 100)) for n in range(8)]
    jobs = [await api.order(f"cust-{n}", pickup=north_of(PICKUP, 2000 * n)) for n in range(8)]
    assert await pending_offers(observer) == {
        job["id"]: holder["id"] for job, holder in zip(jobs, holders, strict=True)
    }
    for n in range(8):
        await api.register_driver(f"n{n}", at=north_of(PICKUP, 2000 * n + 700))

    # when, at the moment the offers expire, every holder accepts while two loops run
    clock.advance(seconds=settings.offer_ttl_s)
    async with two_loops(settings, clock) as (first, second):
        results = await asyncio.gather(
            run_once(first),
            *(
                api.call("PUT", f"/jobs/{job['id']}/accept", h["sub"])
                for job, h in zip(jobs, holders, strict=True)
            ),
            run_once(second),
            return_exceptions=True,
        )

    # then no loop pass failed, each accept either won or heard OFFER_TAKEN, and all is consistent
    failures = [result for result in results if isinstance(result, BaseException)]
    assert failures == [], failures
    await assert_consistent(observer)
    # (a live offer to another driver always wins: never taken from under it)
    for job, holder, response in zip(jobs, holders, results[1:-1], strict=True):
        assert isinstance(response, httpx.Response)
        status, driver = await job_state(observer, job["id"])
        offers = await offer_statuses(observer, job["id"])
        if outcome(response) == (200, None):
            assert (status, driver) == ("accepted", holder["id"])
            assert offers in ([(holder["id"], "accepted")], [(holder["id"], "expired")]), offers
        else:
            assert outcome(response) == (409, "OFFER_TAKEN"), response.text
            assert (status, driver) == ("searching", None)
            assert offers[0] == (holder["id"], "expired")
            assert [state for _, state in offers[1:]] == ["pending"], offers


# --- the offered driver gives back a lapsed offer while another driver takes the job ----------


@pytest.mark.parametrize("give_back", ["reject", "go offline"])
async def test_giving_back_a_lapsed_offer_while_another_driver_accepts(
    api: Api, settings: Settings, clock: Clock, observer: AsyncEngine, give_back: str
) -> None:
    # given an offer past its expiry (the loop has not run), and the job's row held for a moment
    holder, following, job_id = await offered_job(api, observer)
    clock.advance(seconds=settings.offer_ttl_s + 1)
    async with row_locked(observer, "jobs", job_id, mode="FOR NO KEY UPDATE"):
        # when the next driver accepts the job (and waits for the row), and then the holder
        # gives its offer back, by rejecting it or by going offline
        accept = asyncio.ensure_future(api.call("PUT", f"/jobs/{job_id}/accept", following["sub"]))
        await until(observer, lambda b: len(b) >= 1, "the accept to wait")
        if give_back == "reject":
            back = api.call("PUT", f"/jobs/{job_id}/reject", holder["sub"], json={"reason": "busy"})
        else:
            back = api.call("PUT", "/availability", holder["sub"], json={"online": False})
        giving_back = asyncio.ensure_future(back)
        await until(observer, lambda b: giving_back.done() or len(b) >= 2, "the holder to wait as well")
    accepted, given_back = await asyncio.gather(accept, giving_back)

    # then both get a plain answer: the job is the next driver's, the holder's offer is closed
    assert outcome(accepted) == (200, None), accepted.text
    assert outcome(given_back) in ((200, None), (404, "NOT_FOUND")), given_back.text
    await assert_consistent(observer)
    assert await job_state(observer, job_id) == ("accepted", following["id"])
    [(driver, status)] = await offer_statuses(observer, job_id)
    assert driver == holder["id"] and status in ("expired", "rejected", "withdrawn")
