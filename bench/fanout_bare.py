"""The bare-send limit: a raw ASGI app that fans a prebuilt frame out to every subscribed socket.

Served by the same uvicorn with the same flags as the service (``fanout_server.bare_server``:
``uvicorn bench.fanout_bare:create_app --factory ... --ws-per-message-deflate false``, pinned to
the same core), it speaks just enough graphql-transport-ws for the benchmark's client processes:
``connection_init`` gets ``connection_ack`` (no token check), ``subscribe`` registers the socket
under its ``variables.jobId`` (no query parsing), ``ping`` gets ``pong``, ``complete`` forgets it.

A tracking PUT (or POST) to ``/client/logistics/jobs/{id}/tracking``, the service's path and body,
is answered 200 at once; then the point's ``driverLocation`` payload is serialised once, and its
frame (``{"id":...,"type":"next","payload":...}``) built once per distinct operation id (the
clients all use ``"1"``) by string concatenation, and sent with ASGI ``send`` to every socket of
the job:

* ``loop`` (the default, ``--bare-fanout``): one task per point walks the job's sockets and awaits
  each ``send`` in turn, the least work a fan-out can do;
* ``tasks``: each subscription has a queue and a task of its own that sends what it is handed,
  the shape of a server whose every subscription is a task (one wake-up more per delivery).

So its server CPU per delivery is what uvicorn's websocket protocol and the kernel cost per frame,
the floor the service's figure is compared with. Only the standard library: the server process
imports nothing of the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODE_ENV = "FANOUT_BARE_MODE"
TRACKING_PREFIX, TRACKING_SUFFIX = "/client/logistics/jobs/", "/tracking"
PROTOCOL = "graphql-transport-ws"
ACK = json.dumps({"type": "connection_ack"})
PONG = json.dumps({"type": "pong"})


class Subscriber:
    """One subscription: the socket's ``send`` and its operation id; in ``tasks`` mode, its queue."""

    __slots__ = ("op", "queue", "send")

    def __init__(self, send: Send, op: str, queue: asyncio.Queue[str] | None) -> None:
        self.send, self.op, self.queue = send, op, queue


def frame_prefix(op: str) -> str:
    return '{"id":' + json.dumps(op) + ',"type":"next","payload":'


def payload_of(job_id: str, body: dict[str, Any]) -> str:
    """The service's ``driverLocation`` result for a tracking body, as JSON text plus the frame's
    closing brace (``etaSeconds`` left null: the service's value is a number of the same size)."""
    location = {
        "jobId": job_id,
        "point": {"lat": body["lat"], "lng": body["lng"]},
        "headingDeg": body.get("heading_deg"),
        "speedMps": body.get("speed_mps"),
        "recordedAt": body.get("recorded_at"),
        "etaSeconds": None,
    }
    return json.dumps({"data": {"driverLocation": location}}, separators=(",", ":")) + "}"


class BareApp:
    def __init__(self, mode: str) -> None:
        if mode not in ("loop", "tasks"):
            raise ValueError(f"{MODE_ENV} must be loop or tasks, not {mode!r}")
        self.mode = mode
        self.jobs: dict[str, list[Subscriber]] = {}
        # Fan-out tasks outlive the request that started them; the loop keeps only weak references.
        self.running: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self.websocket(receive, send)
        elif scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, answer = 404, b'{"detail":"not found"}'
        if method == "GET" and path == "/readyz":
            status, answer = 200, b'{"status":"ok"}'
        elif (
            method in ("PUT", "POST") and path.startswith(TRACKING_PREFIX) and path.endswith(TRACKING_SUFFIX)
        ):
            job_id = path[len(TRACKING_PREFIX) : -len(TRACKING_SUFFIX)]
            payload = payload_of(job_id, json.loads(b"".join(chunks)))
            task = asyncio.get_running_loop().create_task(self.fan_out(job_id, payload))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
            status, answer = 200, b"{}"
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def fan_out(self, job_id: str, payload: str) -> None:
        frames: dict[str, str] = {}
        for sub in list(self.jobs.get(job_id, ())):
            frame = frames.get(sub.op)
            if frame is None:
                frame = frames[sub.op] = frame_prefix(sub.op) + payload
            if sub.queue is not None:
                sub.queue.put_nowait(frame)
                continue
            # A socket that went away under us is forgotten when its handler ends.
            with contextlib.suppress(Exception):
                await sub.send({"type": "websocket.send", "text": frame})

    async def websocket(self, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept", "subprotocol": PROTOCOL})
        mine: list[tuple[str, Subscriber]] = []
        senders: list[asyncio.Task[None]] = []
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode()
                request = json.loads(text)
                kind = request.get("type")
                if kind == "connection_init":
                    await send({"type": "websocket.send", "text": ACK})
                elif kind == "ping":
                    await send({"type": "websocket.send", "text": PONG})
                elif kind == "subscribe":
                    job_id = str(request["payload"]["variables"]["jobId"])
                    queue: asyncio.Queue[str] | None = None
                    if self.mode == "tasks":
                        queue = asyncio.Queue()
                        senders.append(asyncio.create_task(_drain(queue, send)))
                    sub = Subscriber(send, str(request["id"]), queue)
                    self.jobs.setdefault(job_id, []).append(sub)
                    mine.append((job_id, sub))
                elif kind == "complete":
                    for job_id, sub in [m for m in mine if m[1].op == str(request.get("id"))]:
                        self.jobs[job_id].remove(sub)
                        mine.remove((job_id, sub))
        finally:
            for job_id, sub in mine:
                self.jobs[job_id].remove(sub)
            for task in senders:
                task.cancel()


async def _drain(queue: asyncio.Queue[str], send: Send) -> None:
    while True:
        frame = await queue.get()
        try:
            await send({"type": "websocket.send", "text": frame})
        except Exception:  # closed: the socket's handler cancels this task on its way out
            return


def create_app() -> BareApp:
    return BareApp(os.environ.get(MODE_ENV, "loop"))
