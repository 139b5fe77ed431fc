"""The public tracking link: shown to the customer (and ops) only, it answers without a login,
shows its own job and nothing private, and is checked like any credential: a wrong or forged
token, one of a cancelled job and an expired one are NOT_FOUND, and one job's token never
opens another job's stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from logistics.config import Settings
from tests.browser_helpers import serving
from tests.conftest import Clock
from tests.dispatch_helpers import PICKUP, north_of
from tests.factories import KREUZBERG, Api
from tests.realtime_helpers import codes, graphql

ORDER_QUERY = "query Order($id: ID!) { order(id: $id) { id trackingUrl } }"


async def accepted(api: Api, customer: str = "cust-1", driver: str = "drv-1") -> tuple[dict[str, Any], str]:
    order = await api.order(customer)
    await api.register_driver(driver, at=north_of(PICKUP, 300))
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    return order, urlparse(order["tracking_url"]).path


async def public(api: Api, path: str) -> httpx.Response:
    return await api.client.get(path)


async def test_the_customer_gets_a_link_the_driver_does_not(api: Api, settings: Settings) -> None:
    order, path = await accepted(api)
    assert path.startswith(f"/t/{order['id']}.")
    body = await graphql(api, "cust-1", ORDER_QUERY, id=order["id"])
    assert urlparse(body["data"]["order"]["trackingUrl"]).path == path
    assert (await api.ok("GET", f"/jobs/{order['id']}", "drv-1")).get("tracking_url") is None
    assert order["tracking_url"].startswith(settings.public_url)
    listed = await api.ok("GET", "/orders", "cust-1")
    assert [urlparse(o["tracking_url"]).path for o in listed["items"]] == [path]


async def test_the_link_shows_its_job_without_anything_private(api: Api) -> None:
    order, path = await accepted(api)
    await api.ok("PUT", f"/jobs/{order['id']}/start-pickup", "drv-1", json={"point": north_of(PICKUP, 200)})

    answer = await public(api, f"{path}/state")
    assert answer.status_code == 200
    state = answer.json()
    assert state["job_id"] == order["id"] and state["status"] == "pickup_started" and state["live"]
    assert state["driver"] == {
        "first_name": "Driver",
        "vehicle": {"type": "car", "make": "VW", "model": "Caddy", "color": "white"},
    }
    # where the driver last reported (its registration ping, 300 m north)
    assert state["position"]["lat"] == pytest.approx(north_of(PICKUP, 300)["lat"])
    assert state["pickup"]["label"] and state["dropoff"]["label"]
    # no phone numbers, contacts or account ids
    for private in ("+49", "phone", "contact", "cust-1", "drv-1", "customer_id"):
        assert private not in answer.text, private
    page = await public(api, path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.parametrize("tamper", ["mac", "other job", "no mac", "garbage"])
async def test_a_wrong_or_forged_token_is_not_found(api: Api, tamper: str) -> None:
    order, path = await accepted(api)
    other, _ = await accepted(api, "cust-2", "drv-2")
    token = path.removeprefix("/t/")
    job_id, mac = token.split(".")
    forged = {
        "mac": f"{job_id}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        "other job": f"{other['id']}.{mac}",
        "no mac": job_id,
        "garbage": "x" * 40,
    }[tamper]
    for suffix in ("", "/state", "/events", "/proof"):
        answer = await public(api, f"/t/{forged}{suffix}")
        assert answer.status_code == 404, (suffix, answer.text)
        assert order["id"] not in answer.text and other["id"] not in answer.text


async def test_cancelling_revokes_the_link(api: Api) -> None:
    order, path = await accepted(api)
    assert (await public(api, f"{path}/state")).status_code == 200
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "changed my mind"})
    for suffix in ("", "/state", "/events"):
        assert (await public(api, f"{path}{suffix}")).status_code == 404, suffix


async def test_a_delivered_job_shows_its_proof_until_the_link_expires(
    api: Api, clock: Clock, settings: Settings
) -> None:
    order, path = await accepted(api)
    await api.walk_to("drv-1", order["id"], "complete")

    state = (await public(api, f"{path}/state")).json()
    assert state["status"] == "completed" and not state["live"] and state["position"] is None
    photo = await public(api, state["proof"]["url"])
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"

    clock.advance(seconds=settings.tracking_link_ttl_s - 1)
    assert (await public(api, f"{path}/state")).status_code == 200
    clock.advance(seconds=2)
    for suffix in ("", "/state", "/proof", "/events"):
        assert (await public(api, f"{path}{suffix}")).status_code == 404, suffix


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    name = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name is not None:
            yield name, json.loads(line.removeprefix("data: "))
            name = None


async def test_the_stream_carries_its_own_job_alone_and_ends_on_cancel(
    app: object, api: Api, clock: Clock
) -> None:
    order, path = await accepted(api)
    other, _ = await accepted(api, "cust-2", "drv-2")
    async with (
        serving(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as browser,
        browser.stream("GET", f"{path}/events") as response,
    ):
        if True:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = sse(response)
            name, first = await anext(events)
            assert name == "state" and first["job_id"] == order["id"]
            await asyncio.sleep(0.2)  # the stream's subscriptions are in place

            # the other job's driver moves, then this one's; then this order is cancelled
            clock.advance(seconds=5)
            await api.ok("PUT", f"/jobs/{other['id']}/tracking", "drv-2", json={"points": [KREUZBERG]})
            await api.ok(
                "PUT", f"/jobs/{order['id']}/tracking", "drv-1", json={"points": [north_of(PICKUP, 100)]}
            )
            name, moved = await asyncio.wait_for(anext(events), 5)
            assert name == "position" and moved["lat"] == pytest.approx(north_of(PICKUP, 100)["lat"])
            await api.ok(
                "PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "no longer needed"}
            )
            rest = [event async for event in events]
    assert rest[-1][0] == "end" and [name for name, _ in rest[:-1]] == []


ROTATE = "mutation Rotate($id: ID!) { rotateTrackingLink(jobId: $id) { id trackingUrl } }"


async def test_the_customer_replaces_the_link_and_the_old_one_stops_answering(api: Api) -> None:
    order, old = await accepted(api)

    body = await graphql(api, "cust-1", ROTATE, id=order["id"])
    new = urlparse(body["data"]["rotateTrackingLink"]["trackingUrl"]).path

    assert new != old and new.startswith(f"/t/{order['id']}.")
    for suffix in ("", "/state", "/events"):
        assert (await public(api, f"{old}{suffix}")).status_code == 404, suffix
    assert (await public(api, f"{new}/state")).json()["job_id"] == order["id"]
    listed = await api.ok("GET", "/orders", "cust-1")
    assert urlparse(listed["items"][0]["tracking_url"]).path == new


async def test_only_the_customer_replaces_the_link(api: Api) -> None:
    order, path = await accepted(api)
    for sub in ("drv-1", "cust-2"):
        assert codes(await graphql(api, sub, ROTATE, id=order["id"])) == ["NOT_FOUND"], sub
    assert (await public(api, f"{path}/state")).status_code == 200
