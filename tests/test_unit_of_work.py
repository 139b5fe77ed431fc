"""The unit of work every request runs in: opened only once the caller is known and the
body read, committed with its events after, and one implementation on both edges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from tests.factories import REST, Api


async def test_a_slow_request_body_does_not_hold_up_other_writers(api: Api) -> None:
    # given a driver whose app sends its availability body slowly
    slow_driver = (await api.register_driver("slow"))["sub"]
    quick_driver = (await api.register_driver("quick"))["sub"]
    body_may_finish = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"online": '
        await body_may_finish.wait()
        yield b"false}"

    slow = asyncio.create_task(
        api.client.put(
            REST + "/availability",
            content=slow_body(),
            headers={**api.headers(slow_driver), "Content-Type": "application/json"},
        )
    )
    # when another driver writes while that body is still arriving
    quick = asyncio.create_task(api.ok("PUT", "/availability", quick_driver, json={"online": False}))
    done, _ = await asyncio.wait({slow, quick}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    # then the other write has gone through (a transaction opened before the body was read
    # would hold SQLite's writer lock until the slow client finished)
    assert quick in done and slow not in done
    body_may_finish.set()
    assert (await slow).status_code == 200
    assert (await api.ok("GET", "/me", slow_driver))["online"] is False


async def test_an_unauthenticated_write_opens_no_transaction(api: Api) -> None:
    # given a request with a bad token and a body that never ends
    never = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        yield b"{"
        await never.wait()

    hanging = asyncio.create_task(
        api.client.put(
            REST + "/availability",
            content=endless(),
            headers={"Authorization": "Bearer not-a-token", "Content-Type": "application/json"},
        )
    )
    # then writers are not blocked behind it
    driver = (await api.register_driver("writer"))["sub"]
    await api.ok("PUT", "/availability", driver, json={"online": True})
    hanging.cancel()
