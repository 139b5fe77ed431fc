"""The customer's public tracking page in a real browser, with nothing reachable but this server:
the courier's marker moves with each ping the driver sends, the page of one job shows and asks
for nothing of another, and a delivered job shows its proof photo and no courier."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playwright.async_api import Browser, Page, ViewportSize

from logistics.platform import Platform
from logistics.pubsub import location_channel
from tests.browser_helpers import Watched, watched_page
from tests.conftest import Clock
from tests.dispatch_helpers import PICKUP, north_of
from tests.factories import Api, png_bytes, quote_body, stop
from tests.realtime_helpers import wait_subscribed

TIMEOUT_MS = 20_000
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=800)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# A second job across town, so that nothing of it can be mistaken for the first one's.
BRANDENBURGER_TOR = {"lat": 52.5163, "lng": 13.3777}
BERGMANNSTRASSE = {"lat": 52.4890, "lng": 13.3900}
DRIVER_MARKER = "[data-testid=driver]"


@asynccontextmanager
async def phone_page(browser: Browser) -> AsyncIterator[Watched]:
    """A watched page at a phone's size, closed before the server stops: an open event stream
    would otherwise hold the server's shutdown."""
    watched = await watched_page(browser)
    await watched.page.set_viewport_size(PHONE)
    try:
        yield watched
    finally:
        await watched.page.context.close()


async def register_driver(api: Api, sub: str, name: str, at: dict[str, float]) -> None:
    """A driver as ``Api.register_driver`` makes one, but under a name of its own: the factory
    calls every driver "Driver <sub>", so every first name on the page would be "Driver"."""
    documents = {}
    for purpose in ("licence", "insurance"):
        files = {"file": ("doc.png", io.BytesIO(png_bytes()), "image/png")}
        documents[purpose] = await api.ok("POST", "/upload", sub, 201, files=files, data={"purpose": purpose})
    expires = (date.today() + timedelta(days=365)).isoformat()
    vehicle = {"type": "car", "make": "VW", "model": "Caddy", "plate": "B-LG 123", "color": "white"}
    await api.ok(
        "POST",
        "/register",
        sub,
        201,
        json={
            "name": name,
            "phone": "+49 30 7654321",
            "vehicle": vehicle,
            "licence": {"number": "B123456", "expires_on": expires, "upload_id": documents["licence"]["id"]},
            "insurance": {
                "provider": "Allianz",
                "policy_number": "P-1",
                "expires_on": expires,
                "upload_id": documents["insurance"]["id"],
            },
        },
    )
    await api.ok("PUT", "/availability", sub, json={"online": True})
    await api.ok("PUT", "/location", sub, 204, json=at)


async def on_the_way(api: Api, order: dict[str, Any], driver: str, name: str, at: dict[str, float]) -> None:
    """The driver registers at ``at``, accepts the order and sets off to the pickup."""
    await register_driver(api, driver, name, at)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver)
    await api.ok("PUT", f"/jobs/{order['id']}/start-pickup", driver, json={"point": at})


async def tracking_path(api: Api, customer: str, job_id: str) -> str:
    """The path of the link the customer reads on the order in their list (there is no
    ``GET /orders/{id}``); the URL starts with the public address, the browser takes the path."""
    orders = await api.ok("GET", "/orders", customer)
    [order] = [order for order in orders["items"] if order["id"] == job_id]
    path = urlparse(order["tracking_url"]).path
    assert path.startswith("/t/"), order["tracking_url"]
    return path


async def ping(api: Api, clock: Clock, job_id: str, driver: str, point: dict[str, float]) -> None:
    """One GPS point on the job's trail, newer than every point before it."""
    clock.advance(seconds=5)
    body = {"points": [{**point, "recorded_at": clock.now.isoformat()}]}
    result = await api.ok("PUT", f"/jobs/{job_id}/tracking", driver, json=body)
    assert result["accepted"] == 1, result


async def driver_reaches(page: Page, point: dict[str, float]) -> None:
    expected = [round(point["lat"], 5), round(point["lng"], 5)]
    await page.wait_for_function(
        """(expected) => {
            const at = window.tracking && window.tracking.driverLatLng();
            return at !== null && at.map((value) => Number(value.toFixed(5))).join() === expected.join();
        }""",
        arg=expected,
        timeout=TIMEOUT_MS,
    )


async def open_tracking(page: Page, url: str) -> None:
    await page.goto(url, wait_until="load")
    await page.wait_for_function("window.tracking && window.tracking.state !== null", timeout=TIMEOUT_MS)


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / name, full_page=full_page)


async def state_of(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate("window.tracking.state")
    return state


async def test_the_tracking_page_moves_the_driver_with_each_ping(
    browser: Browser, base_url: str, api: Api, clock: Clock, platform: Platform
) -> None:
    order = await api.order("cust-1")
    start = north_of(PICKUP, 300)
    await on_the_way(api, order, "drv-1", "Bo Berger", start)
    path = await tracking_path(api, "cust-1", order["id"])

    async with phone_page(browser) as watched:
        page = watched.page
        await open_tracking(page, base_url + path)
        marker = page.locator(DRIVER_MARKER)
        await marker.wait_for(timeout=TIMEOUT_MS)
        await driver_reaches(page, start)
        assert await page.get_by_test_id("status").inner_text() == "Your courier is on the way to pick up"
        panel = await page.locator(".panel").inner_text()
        assert "Bo · white VW Caddy (car)" in panel and "Delivery around" in panel
        # the map: the service area, the dashed route, both stops, and no tiles at all
        for drawn in (
            "path.service-area",
            "path.route[stroke-dasharray]",
            "path.stop-pickup",
            "path.stop-dropoff",
        ):
            assert await page.locator(drawn).count() == 1, drawn
        assert await page.locator(".leaflet-tile").count() == 0
        # The page's own handle on the marker's element: it must be the same one at the end.
        await page.evaluate("window.driverElement = document.querySelector('[data-testid=driver]')")
        # A ping reaches the page only once its event stream listens on the job's channel.
        await wait_subscribed(platform.pubsub, location_channel(order["id"]))

        boxes = [await marker.bounding_box()]
        for seen, point in enumerate(({"lat": 52.5238, "lng": 13.4139}, {"lat": 52.5227, "lng": 13.4150}), 1):
            await ping(api, clock, order["id"], "drv-1", point)
            await driver_reaches(page, point)
            assert await page.evaluate("window.tracking.positionsSeen") == seen
            boxes.append(await marker.bounding_box())
        assert None not in boxes and len({(box["x"], box["y"]) for box in boxes if box}) == 3, boxes
        assert await marker.count() == 1
        assert await page.evaluate("document.querySelector('[data-testid=driver]') === window.driverElement")

        await screenshot(page, "tracking-page.png")
        await page.set_viewport_size(DESKTOP)
        await page.wait_for_timeout(300)  # Leaflet redraws for the new size on a timer
        await screenshot(page, "tracking-page-desktop.png", full_page=False)
        watched.clean()


async def test_the_page_shows_nothing_of_another_job(
    browser: Browser, base_url: str, api: Api, clock: Clock, platform: Platform
) -> None:
    first = await api.order("cust-1")
    body = {
        **quote_body(),
        "pickup": stop(BRANDENBURGER_TOR, line1="Pariser Platz 1", postcode="10117"),
        "dropoff": stop(BERGMANNSTRASSE, line1="Bergmannstrasse 5", postcode="10961"),
    }
    quote = await api.ok("POST", "/quote", "cust-2", 201, json=body)
    second = await api.ok(
        "POST", "/orders", "cust-2", 201, json={"quote_id": quote["id"], "payment_method": "cash"}
    )
    await on_the_way(api, first, "drv-1", "Bo Berger", north_of(PICKUP, 300))
    await on_the_way(api, second, "drv-2", "Zoe Zimmer", north_of(BRANDENBURGER_TOR, 300))
    await ping(api, clock, second["id"], "drv-2", north_of(BRANDENBURGER_TOR, 200))
    path = await tracking_path(api, "cust-1", first["id"])
    # What the second job's own page would show: none of it may appear on the first one's.
    other = (await api.client.get(await tracking_path(api, "cust-2", second["id"]) + "/state")).json()
    secrets = [
        second["id"],
        other["driver"]["first_name"],
        other["pickup"]["label"],
        other["dropoff"]["label"],
    ]
    assert other["job_id"] == second["id"] and other["driver"]["first_name"] == "Zoe"
    assert "Pariser Platz 1" in other["pickup"]["label"]

    async with phone_page(browser) as watched:
        page = watched.page
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await open_tracking(page, base_url + path)
        await page.locator(DRIVER_MARKER).wait_for(timeout=TIMEOUT_MS)
        await wait_subscribed(platform.pubsub, location_channel(first["id"]))
        # Both drivers move, the second one first: only the first job's move may reach the page.
        await ping(api, clock, second["id"], "drv-2", north_of(BRANDENBURGER_TOR, 100))
        mine = {"lat": 52.5235, "lng": 13.4136}
        await ping(api, clock, first["id"], "drv-1", mine)
        await driver_reaches(page, mine)
        assert await page.evaluate("window.tracking.positionsSeen") == 1

        state = await state_of(page)
        text = await page.locator("body").inner_text()
        html = await page.content()
        assert state["job_id"] == first["id"] and first["id"] in text
        assert state["driver"]["first_name"] == "Bo" and "Bo · " in text
        for secret in secrets:
            assert secret not in json.dumps(state, ensure_ascii=False), secret
            assert secret not in text and secret not in html, secret
        assert any(path in url for url in requested), requested
        assert not [url for url in requested if second["id"] in url], requested
        watched.clean()


async def test_a_delivered_job_shows_the_proof_and_no_position(
    browser: Browser, base_url: str, api: Api
) -> None:
    order = await api.order("cust-1")
    await register_driver(api, "drv-1", "Bo Berger", north_of(PICKUP, 300))
    await api.ok("PUT", f"/jobs/{order['id']}/accept", "drv-1")
    # every step, the dropoff photo before complete-dropoff, then complete
    await api.walk_to("drv-1", order["id"], "complete")
    path = await tracking_path(api, "cust-1", order["id"])

    async with phone_page(browser) as watched:
        page = watched.page
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        await open_tracking(page, base_url + path)
        proof = page.get_by_test_id("proof")
        await proof.wait_for(timeout=TIMEOUT_MS)
        await page.wait_for_function(
            "(image) => image.complete && image.naturalWidth > 0",
            arg=await proof.element_handle(),
            timeout=TIMEOUT_MS,
        )
        assert await page.get_by_test_id("status").inner_text() == "Delivered"
        state = await state_of(page)
        assert state["status"] == "completed" and not state["live"] and state["position"] is None
        assert await page.evaluate("window.tracking.driverLatLng()") is None
        assert await page.locator(DRIVER_MARKER).count() == 0
        assert not await page.get_by_test_id("eta").is_visible()
        timeline = await page.get_by_test_id("timeline").inner_text()
        assert "Picked up" in timeline and "Delivered" in timeline
        # A finished job has nothing to stream: the page does not open one.
        assert not [url for url in requested if url.endswith("/events")], requested
        await screenshot(page, "tracking-page-delivered.png")
        watched.clean()
