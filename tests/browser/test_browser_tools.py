"""The developer tools in a real browser, with nothing reachable but this server: GraphiQL runs a
query and receives subscription events, Swagger UI and ReDoc list the REST paths, the start page
links them, and none of them logs an error or asks for anything elsewhere."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import Browser

from logistics.platform import Platform
from tests.browser_helpers import watched_page
from tests.factories import Api

TIMEOUT_MS = 20_000


def graphiql_state(query: str, headers: dict[str, str]) -> str:
    """What GraphiQL would have kept from an earlier visit: the editors' contents."""
    return (
        f"localStorage.setItem('graphiql:query', {json.dumps(query)});"
        f"localStorage.setItem('graphiql:headers', {json.dumps(json.dumps(headers))});"
    )


async def test_graphiql_runs_a_query_with_the_token_from_its_headers(
    browser: Browser, base_url: str, api: Api
) -> None:
    query = "query Start { init { user { id } isDriver region { id } } }"
    watched = await watched_page(browser, init_script=graphiql_state(query, api.headers("cust-1")))
    page = watched.page
    await page.goto(f"{base_url}/graphql", wait_until="load")
    await page.locator(".graphiql-execute-button").click(timeout=TIMEOUT_MS)
    response = page.locator(".graphiql-response")
    await response.get_by_text('"cust-1"').wait_for(timeout=TIMEOUT_MS)
    assert '"isDriver": false' in await response.inner_text()
    watched.clean()


async def test_graphiql_receives_subscription_events(
    browser: Browser, base_url: str, api: Api, platform: Platform
) -> None:
    order = await api.order("cust-1")
    subscription = f'subscription Watch {{ jobUpdated(jobId: "{order["id"]}") {{ jobId status }} }}'
    watched = await watched_page(browser, init_script=graphiql_state(subscription, api.headers("cust-1")))
    page = watched.page
    await page.goto(f"{base_url}/graphql", wait_until="load")
    await page.locator(".graphiql-execute-button").click(timeout=TIMEOUT_MS)
    # the subscription is live once the server's hub holds it
    for _ in range(TIMEOUT_MS // 10):
        if platform.hub.members == 1:
            break
        await asyncio.sleep(0.01)
    assert platform.hub.members == 1

    # when the customer cancels the order, then the event reaches the page
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "testing"})
    await page.locator(".graphiql-response").get_by_text('"CANCELLED"').wait_for(timeout=TIMEOUT_MS)
    watched.clean()


async def test_swagger_ui_lists_the_rest_paths(browser: Browser, base_url: str) -> None:
    watched = await watched_page(browser)
    page = watched.page
    await page.goto(f"{base_url}/docs", wait_until="load")
    operations = page.locator(".opblock")
    await operations.first.wait_for(timeout=TIMEOUT_MS)
    assert await operations.count() >= 54
    track = page.locator(".opblock-summary-path[data-path='/client/logistics/orders/{job_id}/track']")
    await track.wait_for(timeout=TIMEOUT_MS)
    watched.clean()


async def test_redoc_renders_the_rest_reference(browser: Browser, base_url: str) -> None:
    watched = await watched_page(browser)
    page = watched.page
    await page.goto(f"{base_url}/redoc", wait_until="load")
    await page.locator("[data-section-id^='tag/']").first.wait_for(timeout=TIMEOUT_MS)
    assert await page.locator("[data-section-id*='operation/']").count() >= 54
    watched.clean()


async def test_the_start_page_links_every_tool(browser: Browser, base_url: str) -> None:
    watched = await watched_page(browser)
    page = watched.page
    await page.goto(base_url, wait_until="load")
    for name, path in [("GraphiQL", "/graphql"), ("Swagger UI", "/docs"), ("ReDoc", "/redoc")]:
        assert await page.get_by_role("link", name=name).get_attribute("href") == path
    await page.get_by_role("link", name="Swagger UI").click()
    await page.locator(".opblock").first.wait_for(timeout=TIMEOUT_MS)
    watched.clean()
