"""A lean graphql-transport-ws client socket: an asyncio Protocol that speaks just enough of
RFC 6455 (handshake, masked client frames, unmasked server frames, fragments, ping, close).

Why not the ``websockets`` library, as ``fanout_clients`` uses: a thousand subscribers of a
feed that changes 40 times a second are 40,000 messages a second, all read on the one core the
benchmark's load may use. Through ``websockets`` each message costs a frame parser generator,
a queue and an awaited ``recv()``, several times what the server's side of the same message
costs per subscriber once fan-out is cheap; the clients would then saturate first, and their
lag would be read as the server's latency. Here a message is parsed in ``data_received``, with
one ``time.time()`` per read, and handed to a plain callback.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import Any, cast

import orjson

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
SUBPROTOCOL = "graphql-transport-ws"


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final frame, masked as RFC 6455 requires of every client frame."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    if not size:
        return header + mask
    key = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")
    return header + mask + masked


class FeedSocket(asyncio.Protocol):
    """One websocket. ``on_message(message, arrived)`` gets every decoded JSON message with the
    ``time.time()`` of the read that completed it; ``opened`` resolves after the 101 answer,
    ``closed`` (to the reason) when the connection ends for any reason."""

    def __init__(self, host: str, port: int, path: str, on_message: Callable[[Any, float], None]) -> None:
        loop = asyncio.get_running_loop()
        self.host, self.port, self.path = host, port, path
        self.on_message = on_message
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
            ).encode()
        )

    def send(self, message: dict[str, Any]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(orjson.dumps(message)))

    def close(self, reason: str = "client done") -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame((1000).to_bytes(2, "big"), OP_CLOSE))
            self.transport.close()
        self._end(reason)

    def _end(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(reason))
            self.opened.exception()  # read here: an unawaited failure must not be logged
        if not self.closed.done():
            self.closed.set_result(reason)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"connection lost: {exc!r}" if exc else "connection closed")

    def data_received(self, data: bytes) -> None:
        arrived = time.time()
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if status.split(b" ", 2)[1:2] != [b"101"]:
                self.close(f"handshake refused: {status.decode(errors='replace')}")
                return
            self._upgraded = True
            self.opened.set_result(None)
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length, head = second & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
            if second & 0x80:
                self.close("protocol error: a masked frame from the server")
                return
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buffer[pos + head : end])
            pos = end
            self._frame(first, payload, arrived)
        if pos:
            del buffer[:pos]

    def _frame(self, first: int, payload: bytes, arrived: float) -> None:
        opcode = first & 0x0F
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if not first & 0x80:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join([*self._fragments, payload])
                self._fragments.clear()
            self.on_message(orjson.loads(payload), arrived)
        elif opcode == OP_PING:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(client_frame(payload, OP_PONG))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.close(f"closed by the server: {code} {payload[2:].decode(errors='replace')}".strip())


async def open_socket(
    host: str, port: int, path: str, on_message: Callable[[Any, float], None]
) -> FeedSocket:
    """A connected, upgraded socket within 60 s (``ConnectionError`` or ``TimeoutError`` if not)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(60):
        transport, protocol = await loop.create_connection(
            lambda: FeedSocket(host, port, path, on_message), host, port
        )
        try:
            await protocol.opened
        except BaseException:
            transport.close()
            raise
    return protocol
