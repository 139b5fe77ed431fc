"""The live ops map in a real browser, with nothing reachable but this server: ops sign in with a
token, see every online driver (a stale one marked), the order held by a live offer with its
countdown on the server's clock, and the job's timeline and offer log on a click; a token
without the ops role is refused on the page, and nothing of the map is drawn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize

from logistics.config import Settings
from tests.browser_helpers import Watched, watched_page
from tests.conftest import Clock
from tests.dispatch_helpers import OPS, PICKUP, north_of
from tests.factories import Api

TIMEOUT_MS = 20_000
LAPTOP = ViewportSize(width=1280, height=800)
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "ops-map.png"
TOKEN_KEY = "logistics.ops.token"
# A second job across town, under way, so that the map has a busy driver and a route too.
BRANDENBURGER_TOR = {"lat": 52.5163, "lng": 13.3777}


@asynccontextmanager
async def laptop_page(browser: Browser) -> AsyncIterator[Watched]:
    """A watched page at a laptop's size, closed before the server stops."""
    watched = await watched_page(browser)
    await watched.page.set_viewport_size(LAPTOP)
    try:
        yield watched
    finally:
        await watched.page.context.close()


def bare_token(api: Api, sub: str, roles: list[str] | None = None) -> str:
    """The JWT alone, as ``logistics token`` prints it and ops paste it."""
    return api.headers(sub, roles=roles)["Authorization"].removeprefix("Bearer ")


async def sign_in(page: Page, base_url: str, token: str) -> None:
    await page.goto(base_url + "/ops", wait_until="load")
    form = page.get_by_test_id("sign-in")
    await form.wait_for(timeout=TIMEOUT_MS)
    await page.get_by_label("Token with the ops role").fill(token)
    await form.get_by_role("button", name="Sign in").click()


async def polls(page: Page) -> int:
    count: int = await page.evaluate("window.ops.polls")
    return count


async def wait_polls(page: Page, count: int) -> None:
    await page.wait_for_function("(count) => window.ops.polls >= count", arg=count, timeout=TIMEOUT_MS)


async def test_the_ops_map_shows_online_drivers_and_a_live_offer(
    browser: Browser, base_url: str, api: Api, clock: Clock, settings: Settings
) -> None:
    # The stale driver's last position is older than LOCATION_STALE_AFTER_S by the time the
    # others ping (each ping is stamped with the clock's now): only it is stale.
    busy_at = north_of(BRANDENBURGER_TOR, 300)
    stale = await api.register_driver("stale", at=north_of(PICKUP, 1500))
    clock.advance(seconds=settings.location_stale_after_s + 10)
    # The only fresh driver when the first order comes: it gets the offer, takes it, sets off.
    busy = await api.register_driver("busy", at=busy_at)
    under_way = await api.order("cust-2", pickup=BRANDENBURGER_TOR)
    await api.ok("PUT", f"/jobs/{under_way['id']}/accept", "busy")
    await api.ok("PUT", f"/jobs/{under_way['id']}/start-pickup", "busy", json={"point": busy_at})
    # Then the order watched here: greedy dispatch offers it at once to the nearest free driver.
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    far = await api.register_driver("far", at=north_of(PICKUP, 3000))
    order = await api.order("cust-1", pickup=PICKUP)
    offer_row = f"[data-offer-job-id='{order['id']}']"

    async with laptop_page(browser) as watched:
        page = watched.page
        await sign_in(page, base_url, bare_token(api, OPS, ["ops"]))
        states = {near["id"]: "offered", far["id"]: "free", busy["id"]: "busy", stale["id"]: "stale"}
        for driver_id, state in states.items():
            marker = page.locator(f"[data-driver-id='{driver_id}']")
            await marker.wait_for(timeout=TIMEOUT_MS)
            assert await marker.get_attribute("data-state") == state, (driver_id, state)
        assert await page.locator("[data-driver-id]").count() == 4
        assert await page.locator("[data-stale='true']").count() == 1
        assert await page.get_attribute(f"[data-driver-id='{stale['id']}']", "data-stale") == "true"
        job_pin = page.locator(f"[data-job-id='{order['id']}']")
        await job_pin.wait_for(timeout=TIMEOUT_MS)
        assert await job_pin.get_attribute("data-status") == "SEARCHING"
        assert (
            await page.get_attribute(f"[data-job-id='{under_way['id']}']", "data-status") == "PICKUP_STARTED"
        )
        # a route for the job under way only; the offer: a dashed line from the near driver to
        # the pickup, and a row counting down
        assert await page.locator("path.route").count() == 1
        assert await page.locator("path.offer-line").count() == 1
        # The server's clock stands still, LOCATION_STALE_AFTER_S + 10 s ahead of this machine's:
        # counted on the device's clock the offer would have minutes left, not OFFER_TTL_S at most.
        countdown = page.locator(f"{offer_row} .countdown")
        await countdown.wait_for(timeout=TIMEOUT_MS)
        seconds = int(await countdown.get_attribute("data-seconds") or "0")
        assert 1 <= seconds <= settings.offer_ttl_s, seconds
        assert (await countdown.inner_text()) == f"{seconds} s"
        # and it counts down between two polls, every second
        await page.wait_for_function(
            "([row, ttl]) => Number(document.querySelector(row + ' .countdown').dataset.seconds) < ttl",
            arg=[offer_row, settings.offer_ttl_s],
            timeout=TIMEOUT_MS,
        )
        assert "Driver near" in await page.locator(offer_row).inner_text()
        counts = await page.get_by_test_id("driver-counts").inner_text()
        for count in ("online\n4", "free\n1", "busy\n1", "offered\n1", "stale\n1"):
            assert count in counts, counts
        # The markers are the same elements poll after poll, and the map is fitted once only:
        # dragged away, it stays where ops left it.
        await page.evaluate(f"window.pin = document.querySelector(\"[data-job-id='{order['id']}']\")")
        fitted = await job_pin.bounding_box()
        await wait_polls(page, await polls(page) + 1)  # dragged just after a poll, not during one
        await page.mouse.move(1150, 700)
        await page.mouse.down()
        await page.mouse.move(1050, 650, steps=5)
        await page.wait_for_timeout(100)  # still before letting go: no inertia after the drag
        await page.mouse.up()
        dragged = await job_pin.bounding_box()
        assert fitted and dragged and (fitted["x"], fitted["y"]) != (dragged["x"], dragged["y"])
        await wait_polls(page, await polls(page) + 2)
        assert await page.evaluate(
            f"window.pin === document.querySelector(\"[data-job-id='{order['id']}']\")"
        )
        assert await job_pin.bounding_box() == dragged

        await page.locator(offer_row).click()
        detail = page.get_by_test_id("job-detail")
        entry = detail.locator(f"[data-entry-driver-id='{near['id']}']")
        await entry.wait_for(timeout=TIMEOUT_MS)
        assert await entry.get_attribute("data-status") == "PENDING"
        entry_text = await entry.inner_text()
        assert "PENDING" in entry_text and "Driver near" in entry_text and "300 m" in entry_text, entry_text
        text = await detail.inner_text()
        assert order["id"] in text and "SEARCHING" in text and "by customer" in text, text
        assert "Dispatch\noffered" in text and "Offers made\n1" in text, text
        # the offer is still live, on the server's clock
        left = int(await countdown.get_attribute("data-seconds") or "0")
        assert 1 <= left <= settings.offer_ttl_s, left

        # A driver's tooltip: its name, its vehicle and how long ago it was last heard of.
        await page.locator(f"[data-driver-id='{stale['id']}']").hover()
        tooltip = page.locator(".leaflet-tooltip")
        await tooltip.wait_for(timeout=TIMEOUT_MS)
        tip = await tooltip.inner_text()
        assert "Driver stale" in tip and "car · stale" in tip and "last seen" in tip, tip
        ago = int(tip.split("last seen ")[1].split(" s ago")[0])
        assert ago >= settings.location_stale_after_s + 10, tip

        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOT)
        assert SCREENSHOT.stat().st_size < 300_000
        assert await page.locator(".leaflet-tile").count() == 0

        # The token stays for the tab (a reload signs in again) and goes with "sign out".
        await page.reload(wait_until="load")
        await page.locator(f"[data-driver-id='{near['id']}']").wait_for(timeout=TIMEOUT_MS)
        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_test_id("sign-in").wait_for(timeout=TIMEOUT_MS)
        assert await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
        assert await page.locator("[data-driver-id]").count() == 0
        watched.clean()


async def test_a_token_without_the_ops_role_is_refused(browser: Browser, base_url: str, api: Api) -> None:
    await api.register_driver("near", at=north_of(PICKUP, 300))
    await api.order("cust-1", pickup=PICKUP)
    asked: list[str] = []

    async with laptop_page(browser) as watched:
        page = watched.page
        page.on("request", lambda request: asked.append(request.url))
        await sign_in(page, base_url, bare_token(api, "cust-1"))
        error = page.get_by_test_id("error")
        await error.wait_for(timeout=TIMEOUT_MS)
        assert "FORBIDDEN" in await error.inner_text()
        assert "requires the ops role" in await error.inner_text()
        # the form again, the token forgotten, and nothing drawn
        assert await page.get_by_test_id("sign-in").is_visible()
        assert await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
        assert await page.evaluate("window.ops.data") is None
        assert await page.locator("[data-driver-id]").count() == 0
        assert await page.locator("[data-job-id]").count() == 0
        # No poll after a refusal: the page waits for another token.
        await page.wait_for_timeout(2_500)
        assert len([url for url in asked if url.endswith("/graphql")]) == 1, asked
        watched.clean()
