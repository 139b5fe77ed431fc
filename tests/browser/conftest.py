"""The browser tests' fixtures: Debian's Chromium, and the test's app served on a free port
(``tests/browser_helpers.py``), with no map tiles so that no page asks anything of another
host."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from logistics.config import Settings
from tests.browser_helpers import chromium, serving


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"tracking_tile_url": ""})


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


@pytest.fixture
async def base_url(app: object) -> AsyncIterator[str]:
    async with serving(app) as url:
        yield url
