"""The jobs, over REST as customers and drivers make them: each booked (a quote, then the order
with its own ``Idempotency-Key``) on an open-loop schedule, and taken (``accept``) by a driver of
its own ``--dwell-ms`` after its order was sent.

Open loop: the k-th job is booked at start + k / rate whatever became of the earlier ones (at
most ``--max-in-flight`` jobs between booking and taken), as customers arrive independently. A
closed loop would book more slowly exactly when the server is slow, and hide that delay from the
latencies. The window ends when every change expected has arrived, or at the schedule plus the
dwell plus ``--drain-timeout``: an overloaded server costs missing deliveries, not a run that
never ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bench.feed_seed import JOB_VEHICLE, Population, dropoff_point, pickup_point

REST = "/client/logistics"
NAN = float("nan")


@dataclass
class JobRecord:
    """One job's requests: ``order_sent`` and ``accept_sent`` are ``time.time()`` just before
    each request went out, the latency's start for its entering and its leaving."""

    pickup: tuple[float, float]
    dropoff: tuple[float, float]
    job_id: str | None = None
    order_sent: float = NAN
    order_ms: float = NAN
    accept_sent: float | None = None
    accept_ms: float = NAN
    taken: bool = False
    error: str | None = None


class RequestFailed(Exception):
    pass


def _stop(point: tuple[float, float], line1: str, postcode: str) -> dict[str, Any]:
    return {
        "address": {"line1": line1, "city": "Berlin", "postcode": postcode, "country": "DE"},
        "point": {"lat": point[0], "lng": point[1]},
        "contact": {"name": "Kim Example", "phone": "+49 30 1234567"},
        "instructions": "Ring twice",
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def book(http: httpx.AsyncClient, customer_token: str, record: JobRecord) -> None:
    quote_body = {
        "pickup": _stop(record.pickup, "Alexanderplatz 1", "10178"),
        "dropoff": _stop(record.dropoff, "Oranienstrasse 10", "10999"),
        "items": [{"description": "Box of books", "quantity": 1, "weight_kg": 4, "size": "small"}],
        "vehicle_type": JOB_VEHICLE,
    }
    quote = await http.post(f"{REST}/quote", headers=_auth(customer_token), json=quote_body)
    if quote.status_code != 201:
        raise RequestFailed(f"quote: {quote.status_code} {quote.text[:300]}")
    headers = {**_auth(customer_token), "Idempotency-Key": uuid.uuid4().hex}
    body = {"quote_id": quote.json()["id"], "payment_method": "cash"}
    record.order_sent = time.time()
    order = await http.post(f"{REST}/orders", headers=headers, json=body)
    record.order_ms = (time.time() - record.order_sent) * 1000
    if order.status_code != 201:
        raise RequestFailed(f"order: {order.status_code} {order.text[:300]}")
    job = order.json()
    if job.get("status") != "searching":
        raise RequestFailed(f"order: status {job.get('status')}, not searching")
    record.job_id = job["id"]


async def take(http: httpx.AsyncClient, taker_token: str, record: JobRecord) -> None:
    record.accept_sent = time.time()
    answer = await http.put(f"{REST}/jobs/{record.job_id}/accept", headers=_auth(taker_token))
    record.accept_ms = (time.time() - record.accept_sent) * 1000
    if answer.status_code != 200:
        raise RequestFailed(f"accept: {answer.status_code} {answer.text[:300]}")
    record.taken = True


def plan(count: int, radius_m: int, seed: int) -> list[JobRecord]:
    """The same ``count`` jobs (pickups in the area, dropoffs in central Berlin) for every run."""
    rng = random.Random(seed)
    return [JobRecord(pickup_point(rng, radius_m), dropoff_point(rng)) for _ in range(count)]


async def book_and_take(
    http: httpx.AsyncClient, population: Population, index: int, record: JobRecord, dwell_s: float
) -> None:
    try:
        await book(http, population.customer_tokens[index], record)
        await asyncio.sleep(max(0.0, record.order_sent + dwell_s - time.time()))
        await take(http, population.taker_tokens[index], record)
    except (httpx.HTTPError, RequestFailed) as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:300]


async def run_schedule(
    http: httpx.AsyncClient,
    population: Population,
    records: list[JobRecord],
    args: argparse.Namespace,
    all_arrived: Callable[[list[JobRecord]], bool],
) -> int:
    """Book and take ``records`` on the schedule; returns how many were started."""
    in_flight = asyncio.Semaphore(args.max_in_flight)
    loop = asyncio.get_running_loop()
    dwell_s = args.dwell_ms / 1000
    start = loop.time()
    deadline = start + len(records) / args.rate + dwell_s + args.drain_timeout

    async def one(index: int) -> None:
        try:
            await book_and_take(http, population, index, records[index], dwell_s)
        finally:
            in_flight.release()

    tasks: list[asyncio.Task[None]] = []
    try:
        for index in range(len(records)):
            await asyncio.sleep(max(0.0, start + index / args.rate - loop.time()))
            try:
                await asyncio.wait_for(in_flight.acquire(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                break
            tasks.append(asyncio.create_task(one(index)))
        while loop.time() < deadline:
            if all(task.done() for task in tasks) and all_arrived(records):
                break
            await asyncio.sleep(0.02)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for record in records[: len(tasks)]:
        if record.error is None and not record.taken:
            record.error = "unanswered at the end of the window"
    return len(tasks)


async def wait_for_count(read: Callable[[], int], target: int, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while read() < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: {read()} of {target} after {limit_s:.0f} s")
        await asyncio.sleep(0.05)


async def warm_up(
    http: httpx.AsyncClient,
    population: Population,
    records: list[JobRecord],
    first_index: int,
    warm: Callable[[], int],
    cooled: Callable[[], int],
    announce_final: Callable[[str], None],
    subscribers: int,
) -> None:
    """Warm-up jobs, booked and taken outside the window, until every subscriber has seen one
    enter (an acked subscription may not be registered yet when the first is booked); then one
    more, the final, which every subscriber must see leave: every subscription is then live,
    and each has received all of the warm-up (a subscriber's changes arrive in order)."""
    *probes, final = records
    for offset, probe in enumerate(probes):
        await book(http, population.customer_tokens[first_index + offset], probe)
        with contextlib.suppress(TimeoutError):
            await wait_for_count(warm, subscribers, 5, "")
        await take(http, population.taker_tokens[first_index + offset], probe)
        if warm() >= subscribers:
            break
    else:
        raise TimeoutError(f"{warm()} of {subscribers} subscribers saw a warm-up job enter")
    index = first_index + len(probes)
    await book(http, population.customer_tokens[index], final)
    assert final.job_id is not None
    announce_final(final.job_id)
    await take(http, population.taker_tokens[index], final)
    await wait_for_count(cooled, subscribers, 60, "subscribers that saw the final warm-up job leave")
