"""Races, run for real: many requests at once through the in-process app, each request in its
own session on its own PostgreSQL connection (SQLite serialises writers, so it cannot race).

To prove that the requests really overlap, without trusting timing, a test holds a row lock
from a connection of its own, starts the race, and waits until PostgreSQL reports every racing
request blocked on a lock (``pg_stat_activity``): at that moment all of them are inside their
transactions at once. Then it lets go and checks that exactly the right ones won.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel

from logistics.config import Settings
from logistics.job.status import LIFECYCLE
from tests.conftest import PG_URL, requires_postgres
from tests.factories import KREUZBERG, MITTE, Api, quote_body

pytestmark = requires_postgres

DRIVERS = 20
# Ample for a healthy race; only a hang (a request that never reaches its lock) runs into it.
BARRIER_TIMEOUT_S = 60


@pytest.fixture
async def observer() -> AsyncIterator[AsyncEngine]:
    """Connections of the test's own, outside the app's pool: the lock holder and the watcher."""
    assert PG_URL is not None
    engine = create_async_engine(PG_URL, pool_size=2)
    yield engine
    await engine.dispose()


async def _blocked_queries(observer: AsyncEngine) -> list[str]:
    """The statements of this database's backends that are waiting for a lock right now."""
    async with observer.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock'"
            )
        )
        return [str(query) for query in rows.scalars()]


@asynccontextmanager
async def _row_locked(observer: AsyncEngine, table: str, row_id: str) -> AsyncIterator[None]:
    """Hold ``SELECT ... FOR UPDATE`` on one row until the block ends (then roll back)."""
    async with observer.connect() as conn:
        transaction = await conn.begin()
        rows = SQLModel.metadata.tables[table]
        locked = await conn.execute(select(rows.c.id).where(rows.c.id == row_id).with_for_update())
        assert locked.scalar_one() == row_id
        try:
            yield
        finally:
            await transaction.rollback()


async def _until_blocked(observer: AsyncEngine, race: asyncio.Future[Any], *, count: int, on: str) -> None:
    """Wait until ``count`` backends wait for a lock in statements starting with ``on``.

    A racing request that finishes while the barrier row is locked never reached the race:
    that fails the test at once rather than waiting for the timeout.
    """
    blocked: list[str] = []
    try:
        async with asyncio.timeout(BARRIER_TIMEOUT_S):
            while True:
                blocked = await _blocked_queries(observer)
                if sum(query.lstrip().upper().startswith(on.upper()) for query in blocked) >= count:
                    return
                assert not race.done(), "a racing request finished before the barrier was lifted"
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"expected {count} requests blocked on {on!r}; blocked now: {blocked}")


async def _race(
    observer: AsyncEngine,
    requests: list[Awaitable[httpx.Response]],
    *,
    lock: tuple[str, str],
    blocked: dict[str, int],
) -> list[httpx.Response]:
    """Start all ``requests`` at once (``asyncio.gather``) while ``lock`` (table, id) is held;
    lift the lock once PostgreSQL shows them waiting; return the answers in request order."""
    async with _row_locked(observer, *lock):
        race = asyncio.gather(*requests)
        try:
            for statement, count in blocked.items():
                await _until_blocked(observer, race, count=count, on=statement)
        except BaseException:
            race.cancel()
            raise
    return list(await race)


def _codes(responses: list[httpx.Response]) -> list[tuple[int, str | None]]:
    def code(response: httpx.Response) -> str | None:
        return response.json().get("error", {}).get("code") if response.status_code >= 400 else None

    return [(response.status_code, code(response)) for response in responses]


async def _timeline(observer: AsyncEngine, job_id: str) -> list[tuple[int, str]]:
    async with observer.connect() as conn:
        rows = await conn.execute(
            text("SELECT seq, status FROM job_events WHERE job_id = :job ORDER BY seq, id"), {"job": job_id}
        )
        return [(int(seq), str(status)) for seq, status in rows.all()]


def _assert_consistent_timeline(timeline: list[tuple[int, str]]) -> None:
    """One row per transition, numbered 1..n without gaps or repeats, each step a legal one."""
    seqs = [seq for seq, _ in timeline]
    assert seqs == list(range(1, len(timeline) + 1)), f"timeline seq values: {seqs}"
    statuses = [status for _, status in timeline]
    assert len(set(statuses)) == len(statuses), f"a status was recorded twice: {statuses}"
    for before, after in itertools.pairwise(statuses):
        assert after in LIFECYCLE[before].next, f"illegal step {before} -> {after} in {statuses}"


async def _accepted_job(api: Api, driver: str, customer: str) -> str:
    order = await api.order(customer)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    return str(order["id"])


# --- (a) many drivers, one job ---------------------------------------------------------------


async def test_twenty_drivers_accept_one_job_exactly_one_wins(
    api: Api, settings: Settings, observer: AsyncEngine
) -> None:
    # Given 20 approved drivers and one job in the open feed (the drivers are offline, so
    # dispatch offers the job to none of them exclusively: all may take it), and an app pool
    # (pool_size plus as much overflow again, see Database) with a connection for each at once.
    assert 2 * settings.database_pool_size >= DRIVERS
    drivers = [await api.register_driver(f"racer-{n}", online=False, at=None) for n in range(DRIVERS)]
    order = await api.order("cust-race")
    job_id = order["id"]

    # When all of them accept at once, each in its own transaction, all waiting together
    # at the conditional UPDATE before any of them may run it,
    responses = await _race(
        observer,
        [api.call("PUT", f"/jobs/{job_id}/accept", driver["sub"]) for driver in drivers],
        lock=("jobs", job_id),
        blocked={"UPDATE jobs": DRIVERS},
    )

    # Then exactly one wins, and every other gets OFFER_TAKEN.
    codes = _codes(responses)
    assert sorted(codes, key=str) == sorted([(200, None)] + [(409, "OFFER_TAKEN")] * (DRIVERS - 1), key=str)
    winner = drivers[codes.index((200, None))]
    won = responses[codes.index((200, None))].json()
    assert won["status"] == "accepted" and won["driver_id"] == winner["id"]

    job = await api.ok("GET", f"/jobs/{job_id}", winner["sub"])
    assert job["status"] == "accepted"
    assert job["driver_id"] == winner["id"]
    assert [entry["status"] for entry in job["timeline"]].count("accepted") == 1
    timeline = await _timeline(observer, job_id)
    assert [status for _, status in timeline] == ["searching", "accepted"]
    _assert_consistent_timeline(timeline)


async def test_twenty_drivers_accept_without_a_barrier(api: Api, observer: AsyncEngine) -> None:
    # The same race left to the scheduler: requests interleave however they happen to.
    drivers = [await api.register_driver(f"rush-{n}", online=False, at=None) for n in range(DRIVERS)]
    order = await api.order("cust-rush")

    responses = await asyncio.gather(
        *(api.call("PUT", f"/jobs/{order['id']}/accept", driver["sub"]) for driver in drivers)
    )

    codes = _codes(list(responses))
    assert codes.count((200, None)) == 1, codes
    assert codes.count((409, "OFFER_TAKEN")) == DRIVERS - 1, codes
    winner = drivers[codes.index((200, None))]
    job = await api.ok("GET", f"/orders/{order['id']}/track", "cust-rush")
    assert [entry["status"] for entry in job["timeline"]] == ["searching", "accepted"]
    assert (await api.ok("GET", f"/jobs/{order['id']}", winner["sub"]))["driver_id"] == winner["id"]


# --- (b) one Idempotency-Key, sent ten times at once -----------------------------------------


async def test_same_idempotency_key_ten_times_at_once_creates_one_order(
    api: Api, observer: AsyncEngine
) -> None:
    quote = await api.ok("POST", "/quote", "cust-idem", 201, json=quote_body())
    body = {"quote_id": quote["id"], "payment_method": "cash"}
    headers = {"Idempotency-Key": "book-once"}

    # The first request claims the key and waits at the quote; the nine others wait for it on
    # the key's unique index: ten transactions open at once.
    responses = await _race(
        observer,
        [api.call("POST", "/orders", "cust-idem", json=body, headers=headers) for _ in range(10)],
        lock=("quotes", quote["id"]),
        blocked={"UPDATE quotes": 1, "INSERT INTO idempotency_keys": 9},
    )

    assert _codes(responses) == [(201, None)] * 10, [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 1
    orders = await api.ok("GET", "/orders", "cust-idem")
    assert [order["id"] for order in orders["items"]] == [responses[0].json()["id"]]


async def test_same_idempotency_key_without_a_barrier(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-idem2", 201, json=quote_body())
    body = {"quote_id": quote["id"], "payment_method": "cash"}

    responses = await asyncio.gather(
        *(
            api.call("POST", "/orders", "cust-idem2", json=body, headers={"Idempotency-Key": "k"})
            for _ in range(10)
        )
    )

    assert _codes(list(responses)) == [(201, None)] * 10, [r.text for r in responses]
    assert len({response.json()["id"] for response in responses}) == 1
    assert len((await api.ok("GET", "/orders", "cust-idem2"))["items"]) == 1


# --- (c) one quote, ten bookings --------------------------------------------------------------


async def test_one_quote_booked_ten_times_at_once_books_once(api: Api, observer: AsyncEngine) -> None:
    quote = await api.ok("POST", "/quote", "cust-quote", 201, json=quote_body())
    body = {"quote_id": quote["id"], "payment_method": "cash"}

    responses = await _race(
        observer,
        [
            api.call("POST", "/orders", "cust-quote", json=body, headers={"Idempotency-Key": f"key-{n}"})
            for n in range(10)
        ],
        lock=("quotes", quote["id"]),
        blocked={"UPDATE quotes": 10},
    )

    codes = _codes(responses)
    assert codes.count((201, None)) == 1, codes
    assert codes.count((409, "QUOTE_EXPIRED")) == 9, codes
    booked = responses[codes.index((201, None))].json()
    orders = await api.ok("GET", "/orders", "cust-quote")
    assert [order["id"] for order in orders["items"]] == [booked["id"]]


# --- (d) one job, many writers ----------------------------------------------------------------


async def test_concurrent_transitions_and_tracking_never_duplicate_timeline_seq(
    api: Api, observer: AsyncEngine
) -> None:
    driver = (await api.register_driver("busy-driver"))["sub"]
    job_id = await _accepted_job(api, driver, "cust-busy")
    path = f"/jobs/{job_id}"

    def step(name: str) -> Awaitable[httpx.Response]:
        return api.call("PUT", f"{path}/{name}", driver, json={"point": KREUZBERG})

    def track(n: int) -> Awaitable[httpx.Response]:
        point = {"lat": MITTE["lat"] + n / 10_000, "lng": MITTE["lng"]}
        return api.call("PUT", f"{path}/tracking", driver, json=point)

    # Wave 1, behind a barrier: retried and out-of-order steps, a cancellation and GPS
    # points, all inside their transactions at once (each waits for the job's row, or for the
    # driver's row held by a request that waits for the job's).
    wave = [step("start-pickup") for _ in range(4)] + [step("arrive-pickup") for _ in range(3)]
    wave += [api.call("PUT", f"/orders/{job_id}/cancel", "cust-busy", json={"reason": "race"})]
    wave += [track(n) for n in range(4)]
    responses = await _race(observer, wave, lock=("jobs", job_id), blocked={"": len(wave)})
    assert {status for status, _ in _codes(responses)} <= {200, 409}, [r.text for r in responses]
    _assert_consistent_timeline(await _timeline(observer, job_id))

    # Wave 2, left to the scheduler, on a job that is not cancelled.
    job_id = await _accepted_job(api, driver, "cust-busy")
    path = f"/jobs/{job_id}"
    steps = ["start-pickup", "arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]
    responses = list(
        await asyncio.gather(
            *(step(name) for name in steps for _ in range(3)), *(track(n) for n in range(10))
        )
    )
    assert {status for status, _ in _codes(responses)} <= {200, 409}, [r.text for r in responses]
    timeline = await _timeline(observer, job_id)
    _assert_consistent_timeline(timeline)


async def test_tracking_while_the_job_completes_never_fails(api: Api, observer: AsyncEngine) -> None:
    # `complete` locks the job and then updates the driver; tracking locks the driver and then
    # inserts a point that references the job. Run them together many times: neither may fail
    # (a deadlock between them would be a 500).
    driver = (await api.register_driver("finisher"))["sub"]
    for round_ in range(8):
        job_id = await _accepted_job(api, driver, f"cust-finish-{round_}")
        await api.walk_to(driver, job_id, "complete-dropoff")

        responses = await asyncio.gather(
            api.call("PUT", f"/jobs/{job_id}/complete", driver, json={}),
            *(
                api.call("PUT", f"/jobs/{job_id}/tracking", driver, json=KREUZBERG | {"accuracy_m": n})
                for n in range(4)
            ),
        )

        codes = _codes(list(responses))
        assert codes[0] == (200, None), responses[0].text
        assert set(codes[1:]) <= {(200, None), (409, "JOB_NOT_ACTIVE")}, codes
        _assert_consistent_timeline(await _timeline(observer, job_id))


async def test_two_jobs_completing_at_once_both_count(api: Api, observer: AsyncEngine) -> None:
    # A driver with two jobs finishes both at the same moment: the driver's completed_jobs
    # counter must count both (no lost update).
    driver = await api.register_driver("double")
    jobs = [await _accepted_job(api, driver["sub"], f"cust-double-{n}") for n in range(2)]
    for job_id in jobs:
        await api.walk_to(driver["sub"], job_id, "complete-dropoff")

    responses = await _race(
        observer,
        [api.call("PUT", f"/jobs/{job_id}/complete", driver["sub"], json={}) for job_id in jobs],
        lock=("drivers", driver["id"]),
        blocked={"": 2},
    )

    assert _codes(responses) == [(200, None), (200, None)], [r.text for r in responses]
    assert (await api.ok("GET", "/me", driver["sub"]))["completed_jobs"] == 2
