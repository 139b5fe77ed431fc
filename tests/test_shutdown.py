"""Graceful shutdown: on SIGTERM ``logistics serve`` stops accepting, closes its websockets with
1001, lets the request in flight finish with its normal answer and exits 0; the drain stops the
background workers from claiming work."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from logistics import shutdown
from logistics.app import create_app
from logistics.auth import mint_token
from logistics.config import Settings
from logistics.dispatch.loop import DispatchLoop
from logistics.platform import Platform
from tests.factories import REST, Api, png_bytes
from tests.served import Served, logistics_serve

WAIT_S = 10.0
GRACE_S = 30
JWT_SECRET = "shutdown-secret-" + "s" * 32
SETTINGS = Settings(jwt_secret=JWT_SECRET)  # to mint the server's tokens
JOB_UPDATED = "subscription U($jobId: ID!) { jobUpdated(jobId: $jobId) { jobId status } }"
BOUNDARY = "shutdown-test-boundary"
PNG = png_bytes(64, 64)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with logistics_serve(tmp_path, jwt_secret=JWT_SECRET, shutdown_grace_s=str(GRACE_S)) as server:
        yield server


def port_of(served: Served) -> int:
    return int(served.base.rsplit(":", 1)[1])


async def subscribed_socket(served: Served, customer: str, job_id: str) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{port_of(served)}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        open_timeout=WAIT_S,
    )
    init = {"type": "connection_init", "payload": {"token": mint_token(SETTINGS, customer)}}
    await ws.send(json.dumps(init))
    assert json.loads(await asyncio.wait_for(ws.recv(), WAIT_S)) == {"type": "connection_ack"}
    subscribe = {"query": JOB_UPDATED, "variables": {"jobId": job_id}}
    await ws.send(json.dumps({"id": "job", "type": "subscribe", "payload": subscribe}))
    return ws


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(WAIT_S):
            while True:
                await ws.recv()
    return ws.close_code


def multipart_upload() -> tuple[bytes, bytes]:
    """A document upload's body, in two halves."""
    body = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nlicence\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="doc.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body += PNG + f"\r\n--{BOUNDARY}--\r\n".encode()
    half = len(body) // 2
    return body[:half], body[half:]


class SlowUpload:
    """An upload whose client sends the headers and half the body, and the rest when told. It
    asks ``Expect: 100-continue``: the server's ``100 Continue`` says the app is reading it."""

    def __init__(self, served: Served, sub: str) -> None:
        self.served, self.sub = served, sub
        self.first, self.rest = multipart_upload()

    async def start(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port_of(self.served))
        token = mint_token(SETTINGS, self.sub)
        head = (
            f"POST {REST}/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(self.first) + len(self.rest)}\r\nExpect: 100-continue\r\n\r\n"
        )
        self.writer.write(head.encode())
        await self.writer.drain()
        interim = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        self.writer.write(self.first)
        await self.writer.drain()

    async def finish(self) -> tuple[int, dict[str, Any]]:
        self.writer.write(self.rest)
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), WAIT_S)
        status = int(head.split(b" ", 2)[1])
        # uvicorn writes header names in lower case
        headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if line)
        body = await asyncio.wait_for(self.reader.readexactly(int(headers[b"content-length"])), WAIT_S)
        self.writer.close()
        return status, json.loads(body)


async def test_sigterm_closes_sockets_with_1001_finishes_the_request_in_flight_and_exits_0(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.base, timeout=WAIT_S) as client:
        order = await Api(client, SETTINGS).order("cust-1")
    # given a live subscriber, and an upload under way (the server is reading its body)
    ws = await subscribed_socket(served, "cust-1", order["id"])
    upload = SlowUpload(served, "cust-1")
    await upload.start()

    # when the server is told to stop
    served.process.send_signal(signal.SIGTERM)

    # then the subscriber hears "going away"
    assert await close_code(ws) == 1001
    # and, the listener being closed before the sockets are, nobody new gets in
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient(base_url=served.base) as client:
            await client.get("/healthz")
    # while the upload in flight still completes with its normal answer
    status, uploaded = await upload.finish()
    assert status == 201, uploaded
    # (all of it: the bytes sent after the signal too)
    assert (uploaded["size"], uploaded["sha256"]) == (len(PNG), hashlib.sha256(PNG).hexdigest())
    # and the process exits cleanly within the grace period
    assert served.process.wait(GRACE_S) == 0


async def test_after_the_drain_the_dispatch_loop_claims_nothing_more(platform: Platform) -> None:
    settings = platform.settings.model_copy(update={"dispatch_loop": True})
    platform.settings = settings
    app = create_app(settings, platform)
    async with app.router.lifespan_context(app):
        (loop,) = [worker for worker in app.state.background if isinstance(worker, DispatchLoop)]
        assert loop.running

        await shutdown.drain()

        # its task has ended: nothing of it is left to claim work
        assert not loop.running
        assert not [task for task in asyncio.all_tasks() if task.get_name() == "dispatch-loop"]
