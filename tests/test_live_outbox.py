"""Slow sockets never stall the rest: each socket's outbox, filled by the hub and drained by its
own task, on the real hub, broker and schema; only the socket's writes are stood in for, by
one that stops reading."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from logistics.live.hub import Watch
from logistics.live.members import SocketMember
from logistics.live.outbox import SLOW_CONSUMER, Outbox
from logistics.platform import Platform
from logistics.resolvers import realtime
from logistics.schema.context import read_ctx
from logistics.schema.live import render_key, renderer
from tests.conftest import Clock
from tests.factories import KREUZBERG, Api
from tests.realtime_helpers import WAIT_S, accepted_job, token
from tests.subscription_helpers import DRIVER_LOCATION, JOB_UPDATED, location

LIMIT = 3
STEPS = ["start-pickup", "arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]


class Socket:
    """A client socket: it reads everything at once, or (``reading=False``) nothing until told."""

    def __init__(self, *, reading: bool) -> None:
        self.frames: list[dict[str, Any]] = []
        self.closed: list[tuple[int, str]] = []
        self.reading = asyncio.Event()
        if reading:
            self.reading.set()
        self.outbox = Outbox(self.send, self.close, limit=LIMIT)

    async def send(self, text: str) -> None:
        await self.reading.wait()
        self.frames.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


async def until(condition: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not condition():  # noqa: ASYNC110  (no event to wait on)
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_S)


async def join(
    platform: Platform,
    schema: strawberry.Schema,
    socket: Socket,
    sub: str,
    query: str,
    authorize: Callable[[Any], Awaitable[Watch]],
    **variables: Any,
) -> SocketMember:
    principal = platform.verifier.principal(f"Bearer {token(platform.settings, sub)}")
    async with read_ctx(platform, principal) as ctx:
        watch = await authorize(ctx)

    async def allowed() -> bool:
        return True

    member = SocketMember(
        watch,
        sub=sub,
        expires_at=None,
        recheck=allowed,
        op_id="op",
        outbox=socket.outbox,
        done=lambda _: None,
    )
    render = renderer(schema._schema, query, variables, None)
    await platform.hub.join(member, render_key=render_key(query, variables, None), render=render)
    return member


async def test_a_socket_that_stops_reading_is_closed_and_the_others_get_every_event(
    api: Api, platform: Platform, schema: strawberry.Schema
) -> None:
    # given the customer following the job on a socket that reads and one that stopped reading
    driver, job = await accepted_job(api, "cust-1")
    fast, slow = Socket(reading=True), Socket(reading=False)
    for socket in (fast, slow):
        await join(
            platform,
            schema,
            socket,
            "cust-1",
            JOB_UPDATED,
            lambda ctx: realtime.job_updates(ctx, job["id"]),
            jobId=job["id"],
        )
    assert platform.hub.groups == 1

    # when the driver takes more steps than a socket may have waiting
    for step in STEPS:
        await api.ok("PUT", f"/jobs/{job['id']}/{step}", driver["sub"], json={"point": KREUZBERG})

    # then the reading socket gets every one, in order
    await until(lambda: len(fast.frames) == len(STEPS))
    statuses = [frame["payload"]["data"]["jobUpdated"]["status"] for frame in fast.frames]
    assert statuses == [
        "PICKUP_STARTED",
        "PICKUP_ARRIVED",
        "PICKUP_COMPLETED",
        "DROPOFF_STARTED",
        "DROPOFF_ARRIVED",
    ]
    assert fast.closed == []
    # and the other is closed with a code and a reason, having been sent no more than it read
    await until(lambda: bool(slow.closed))
    assert slow.closed == [(SLOW_CONSUMER, f"slow consumer: more than {LIMIT} messages waiting; reconnect")]
    assert slow.frames == []


async def test_a_socket_that_reads_slowly_gets_the_newest_position_and_stays_open(
    api: Api, platform: Platform, schema: strawberry.Schema, clock: Clock
) -> None:
    # given a customer's map on a socket that is not reading for now, and one that is
    driver, job = await accepted_job(api, "cust-1")
    slow, witness = Socket(reading=False), Socket(reading=True)
    for socket in (slow, witness):
        await join(
            platform,
            schema,
            socket,
            "cust-1",
            DRIVER_LOCATION,
            lambda ctx: realtime.driver_locations(ctx, job["id"]),
            jobId=job["id"],
        )

    # when the driver reports many more points than the outbox's limit
    points = [location(clock, {"lat": 52.5 + n / 1000, "lng": 13.4}) for n in range(LIMIT * 4)]
    for point in points:
        await api.ok("PUT", f"/jobs/{job['id']}/tracking", driver["sub"], json=point)

    def newest(socket: Socket) -> bool:
        return bool(socket.frames) and latitude(socket.frames[-1]) == points[-1]["lat"]

    # (the group rendered the last point once for both: it is in the slow socket's outbox)
    await until(lambda: newest(witness))

    # then, once it reads again, it gets at most the one that was in flight, then the newest
    slow.reading.set()
    await until(lambda: newest(slow))
    assert len(slow.frames) <= 2
    assert slow.closed == []


def latitude(frame: dict[str, Any]) -> float:
    value: float = frame["payload"]["data"]["driverLocation"]["point"]["lat"]
    return value
