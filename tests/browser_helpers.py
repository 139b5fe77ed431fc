"""A real browser on the app: Debian's Chromium driven by Playwright, against the app served by
uvicorn on a free port in the test's own event loop (so the test's platform, database and
clock are the server's). Every request that leaves 127.0.0.1 is refused and recorded, and
console errors and page errors are collected, so a test can say the page worked offline."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Route, async_playwright

from tests.realtime_helpers import free_port

CHROMIUM = os.environ.get("LOGISTICS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@asynccontextmanager
async def serving(app: object) -> AsyncIterator[str]:
    """The app (its lifespan already entered by the ``app`` fixture) on http://127.0.0.1:PORT."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 (once, before the browser starts)
        raise RuntimeError(f"no Chromium at {CHROMIUM}: apt-get install chromium (bash .ci/run does)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def clean(self) -> None:
        assert self.outside == [], f"the page asked for something off this server: {self.outside}"
        assert self.errors == [], f"the page logged errors: {self.errors}"


async def watched_page(browser: Browser, *, init_script: str | None = None) -> Watched:
    """A page in a new context that may reach 127.0.0.1 only."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    watched = Watched(page)

    async def gate(route: Route, request: Request) -> None:
        host = urlparse(request.url).hostname
        if host in ("127.0.0.1", "localhost") or request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            watched.outside.append(request.url)
            await route.abort()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    await context.route("**/*", gate)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    if init_script is not None:
        await context.add_init_script(init_script)
    return watched
