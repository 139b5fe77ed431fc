"""The drivers' side, over REST: one active job set up (or many seeded, ``fanout_spread``), then
warm-up points until every subscription is live, then each job's tracking points on a schedule."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bench.fanout_clients import TRACK_LNG, WARMUP_KEY, SendTimes, lat_of
from bench.fanout_server import JWT_SECRET

REST = "/client/logistics"
CUSTOMER, DRIVER = "bench-customer", "bench-driver"

# logistics (and the tests' builders, which import it) is imported where it is used: every client
# process imports the benchmark's modules again and needs none of it.


def token_for(sub: str) -> str:
    from logistics.auth import mint_token
    from logistics.config import Settings

    return mint_token(Settings(jwt_secret=JWT_SECRET), sub, name=f"Bench {sub}", phone="+49 30 5550000")


@dataclass(frozen=True)
class Job:
    id: str
    customer_token: str
    driver_token: str


async def active_job(client: httpx.AsyncClient) -> Job:
    """A customer's cash order, accepted by a registered, approved, online driver, pickup started.

    Built with the test suite's REST builders, so that the job is set up the way the tests do it."""
    from logistics.config import Settings
    from tests.factories import MITTE, Api

    api = Api(client, Settings(jwt_secret=JWT_SECRET))
    order = await api.order(CUSTOMER)
    await api.register_driver(DRIVER, at=MITTE)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", DRIVER)
    await api.ok("PUT", f"/jobs/{order['id']}/start-pickup", DRIVER, json={"point": MITTE})
    return Job(order["id"], token_for(CUSTOMER), token_for(DRIVER))


async def post_point(
    client: httpx.AsyncClient, job: Job, key: int, send_times: SendTimes, index: int = 0
) -> float:
    """PUT one tracking point of the ``index``-th job; its send time is its ``recorded_at``.
    Returns the PUT's duration in ms."""
    sent = time.time()
    send_times[index, key] = sent
    body = {
        "lat": lat_of(key),
        "lng": TRACK_LNG,
        "heading_deg": 180.0,
        "speed_mps": 8.0,
        "recorded_at": datetime.fromtimestamp(sent, UTC).isoformat(),
    }
    headers = {"Authorization": f"Bearer {job.driver_token}"}
    response = await client.put(f"{REST}/jobs/{job.id}/tracking", headers=headers, json=body)
    if response.status_code != 200:
        raise RuntimeError(f"tracking PUT: {response.status_code} {response.text[:500]}")
    return (time.time() - sent) * 1000


async def wait_until(predicate: Callable[[], bool], limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def warm_up(
    client: httpx.AsyncClient, jobs: list[Job], live: Callable[[], bool], limit_s: float
) -> None:
    """Post warm-up points (to every job at once) until every subscription has delivered one, so
    that all are known to be live."""
    key, deadline = WARMUP_KEY, time.monotonic() + limit_s
    while not live():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the subscriptions did not all go live within {limit_s:.0f} s")
        await asyncio.gather(*(post_point(client, job, key, {}) for job in jobs))
        key += 1
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # let the last warm-up fan-out finish


async def post_schedule(
    client: httpx.AsyncClient,
    jobs: list[Job],
    args: argparse.Namespace,
    send_times: SendTimes,
    done: Callable[[], bool],
) -> tuple[list[float], int, list[str]]:
    """Post the measured points open-loop on a fixed schedule, then wait until every subscriber
    has the last one, all within the window (the schedule plus ``--drain-timeout``): an
    overloaded server costs unanswered PUTs and missing deliveries, not an unbounded run.

    Each job's driver posts every ``--interval-ms``; driver ``j`` of ``n`` is ``j / n`` of an
    interval behind the first, so that the jobs' points arrive spread evenly, as independent
    phones' would, not all in one burst.
    Returns the answered PUTs' durations in ms, how many PUTs were sent, and why any failed."""
    durations: list[float] = []
    failures: list[str] = []
    in_flight = asyncio.Semaphore(args.max_in_flight)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + args.points * args.interval_ms / 1000 + args.drain_timeout

    async def one(index: int, key: int) -> None:
        try:
            durations.append(await post_point(client, jobs[index], key, send_times, index))
        except Exception as exc:  # counted and reported: one failed PUT must not end the run
            failures.append(f"PUT: {type(exc).__name__}: {exc}"[:300])
        finally:
            in_flight.release()

    tasks: list[asyncio.Task[None]] = []
    # In time order: a phase (j / n) is less than one interval.
    schedule = [
        (key + index / len(jobs), index, key) for key in range(args.points) for index in range(len(jobs))
    ]
    try:
        for at, index, key in schedule:
            await asyncio.sleep(max(0.0, start + at * args.interval_ms / 1000 - loop.time()))
            try:
                await asyncio.wait_for(in_flight.acquire(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            tasks.append(asyncio.create_task(one(index, key)))
        with contextlib.suppress(TimeoutError):
            await wait_until(
                lambda: done() and all(task.done() for task in tasks), deadline - loop.time(), ""
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return durations, len(tasks), failures
