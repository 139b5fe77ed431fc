"""Serving the browser tools without any CDN: every script and stylesheet they load is a file
of ``static/vendor``, taken from the npm package at the version ``tools/vendor-web-assets.sh``
pins, with its licence beside it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from logistics.config import Settings

WEB = Path(__file__).resolve().parent
STATIC_PATH = "/static"
VENDOR = f"{STATIC_PATH}/vendor"
GRAPHQL_PATH = "/graphql"
SWAGGER_JS = f"{VENDOR}/swagger-ui-dist-5.17.14/swagger-ui-bundle.js"
SWAGGER_CSS = f"{VENDOR}/swagger-ui-dist-5.17.14/swagger-ui.css"
SWAGGER_ICON = f"{VENDOR}/swagger-ui-dist-5.17.14/favicon-32x32.png"
REDOC_JS = f"{VENDOR}/redoc-2.1.5/bundles/redoc.standalone.js"

DEFAULT_QUERY = """# Logistics GraphQL. Put a token in the Headers tab below
# (`logistics token --sub you` prints one), then run a query with Ctrl-Enter.
# Subscriptions (jobUpdated, driverLocation, ...) stream over the same page.

query Start {
  init {
    user { id name }
    isDriver
    region { id name currency }
    payment { methods sandbox }
  }
}
"""


@cache
def graphiql_page() -> str:
    """GraphiQL on the vendored assets (read once: the template does not change at run time)."""
    page = (WEB / "pages" / "graphiql.html").read_text(encoding="utf-8")
    for name, value in {
        "{vendor}": VENDOR,
        "{graphql_path}": GRAPHQL_PATH,
        "{default_query}": json.dumps(DEFAULT_QUERY),
    }.items():
        page = page.replace(name, value)
    return page


def ops_page(settings: Settings) -> str:
    """The live ops map (``pages/ops.html``), told where its tiles come from."""
    tiles = None
    if settings.tracking_tile_url:
        tiles = {"url": settings.tracking_tile_url, "attribution": settings.tracking_tile_attribution}
    page = (WEB / "pages" / "ops.html").read_text(encoding="utf-8")
    # JSON inside a <script type="application/json">: "</" cannot end the element early.
    config = json.dumps({"graphql": GRAPHQL_PATH, "tiles": tiles}).replace("</", "<\\/")
    return page.replace("{vendor}", VENDOR).replace("{static}", STATIC_PATH).replace("{config}", config)


def install(app: FastAPI) -> None:
    """The static files, the start page and the documentation pages (FastAPI's own, pointed
    at local assets; the app is created with ``docs_url=None`` and ``redoc_url=None``)."""
    app.mount(STATIC_PATH, StaticFiles(directory=WEB / "static"), name="static")
    openapi_url = app.openapi_url or "/openapi.json"
    start_page = (WEB / "pages" / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    async def start(_request: Request) -> HTMLResponse:
        return HTMLResponse(start_page)

    @app.get("/ops", include_in_schema=False)
    async def ops(request: Request) -> HTMLResponse:
        # The page holds no data: it asks GraphQL (opsMap, opsJob) with the token ops paste.
        return HTMLResponse(ops_page(request.app.state.platform.settings))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: REST API",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=SWAGGER_ICON,
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(_request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title}: REST API",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=SWAGGER_ICON,
            with_google_fonts=False,
        )
