"""The public tracking page's edge: ``/t/{token}`` (the page), ``/state`` (its JSON),
``/events`` (a read-only Server-Sent Events stream of that job alone) and ``/proof`` (the
delivery photo). The link is the credential; the use cases are in
``resolvers.public_tracking``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from functools import cache
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from logistics.auth import Principal
from logistics.errors import DomainError
from logistics.job.status import is_terminal
from logistics.job.tracking_link import PATH_PREFIX
from logistics.platform import Ctx, Platform
from logistics.pubsub import SubscriptionClosed, job_channel, location_channel
from logistics.resolvers import public_tracking
from logistics.rest_compat.base import UnitOfWorkRoute
from logistics.shapes.public_tracking import PublicTracking
from logistics.web.assets import STATIC_PATH, VENDOR, WEB

VISITOR = Principal(sub="tracking-link", name="tracking link", roles=frozenset({"public"}))
# A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_S = 15.0

router = APIRouter(prefix=PATH_PREFIX.rstrip("/"), route_class=UnitOfWorkRoute, include_in_schema=False)
stream_router = APIRouter(prefix=PATH_PREFIX.rstrip("/"), include_in_schema=False)


async def visitor_ctx(request: Request) -> Ctx:
    platform: Platform = request.app.state.platform
    ctx = Ctx(principal=VISITOR, platform=platform, transaction=request.state.transaction)
    await ctx.begin()
    return ctx


@cache
def _page() -> str:
    page = (WEB / "pages" / "track.html").read_text(encoding="utf-8")
    return page.replace("{vendor}", VENDOR).replace("{static}", STATIC_PATH)


GONE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>Tracking link</title></head>
<body style="font: 16px system-ui, sans-serif; margin: 3rem auto; max-width: 30rem; padding: 0 1rem">
<h1>This tracking link is not valid</h1><p>It may have expired, or the delivery was cancelled.</p>
</body></html>"""


@router.get("/{token}")
async def page(token: str, ctx: Ctx = Depends(visitor_ctx)) -> HTMLResponse:
    try:
        await public_tracking.linked_job(ctx, token)
    except DomainError:
        return HTMLResponse(GONE_PAGE, status_code=404)
    # The token is URL-safe (an id, a dot and base64url), so it goes into the page as it is.
    return HTMLResponse(_page().replace("{token}", token), headers={"Referrer-Policy": "no-referrer"})


@router.get("/{token}/state")
async def state(token: str, ctx: Ctx = Depends(visitor_ctx)) -> PublicTracking:
    return await public_tracking.public_tracking(ctx, token)


@router.get("/{token}/proof")
async def proof(token: str, ctx: Ctx = Depends(visitor_ctx)) -> Response:
    photo = await public_tracking.proof_photo(ctx, token)
    return Response(
        photo.data, media_type=photo.content_type, headers={"Cache-Control": "private, max-age=300"}
    )


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _read_state(platform: Platform, token: str) -> PublicTracking | None:
    """The page's state now, in a transaction of its own (a stream holds none while it
    waits); None once the link no longer answers (cancelled, expired)."""
    async with platform.db.unit_of_work(write=False) as uow:
        try:
            return await public_tracking.public_tracking(
                Ctx(uow, principal=VISITOR, platform=platform), token
            )
        except DomainError:
            return None


def _position(event: dict[str, Any]) -> dict[str, Any] | None:
    point = event.get("point")
    if not isinstance(point, dict):
        return None
    return {"lat": point.get("lat"), "lng": point.get("lng"), "recorded_at": event.get("recorded_at")}


async def _stream(platform: Platform, token: str, job_id: str) -> AsyncIterator[bytes]:
    try:
        async with (
            platform.pubsub.subscribe(job_channel(job_id)) as changes,
            platform.pubsub.subscribe(location_channel(job_id), latest_only=True) as moves,
        ):
            # Read only now that both channels listen: a change meanwhile is not lost.
            first = await _read_state(platform, token)
            if first is None:
                yield _event("end", {"reason": "this tracking link is no longer valid"})
                return
            yield _event("state", first.model_dump(mode="json"))
            if is_terminal(first.status):
                yield _event("end", {"reason": "the delivery is finished"})
                return
            change_task = asyncio.ensure_future(changes.get())
            move_task = asyncio.ensure_future(moves.get())
            try:
                while True:
                    done, _ = await asyncio.wait(
                        {change_task, move_task}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    if not done:
                        yield b": keepalive\n\n"
                        continue
                    if move_task in done:
                        position = _position(move_task.result())
                        move_task = asyncio.ensure_future(moves.get())
                        if position is not None:
                            yield _event("position", position)
                    if change_task in done:
                        change_task.result()
                        change_task = asyncio.ensure_future(changes.get())
                        current = await _read_state(platform, token)
                        if current is None:
                            yield _event("end", {"reason": "this tracking link is no longer valid"})
                            return
                        yield _event("state", current.model_dump(mode="json"))
                        if is_terminal(current.status):
                            yield _event("end", {"reason": "the delivery is finished"})
                            return
            finally:
                for task in (change_task, move_task):
                    task.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await task
    except (SubscriptionClosed, StopAsyncIteration):
        # The broker went away or the job's stream ended: the browser reconnects, and the
        # first state it reads says where things stand.
        return


@stream_router.get("/{token}/events")
async def events(token: str, request: Request) -> Response:
    platform: Platform = request.app.state.platform
    first = await _read_state(platform, token)
    if first is None:
        return Response(status_code=404)
    return StreamingResponse(
        _stream(platform, token, first.job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def install(app: Any) -> None:
    app.include_router(router)
    app.include_router(stream_router)
