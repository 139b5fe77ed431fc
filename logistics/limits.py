"""Request limits, enforced before anything parses the request; the one JSON parser; the text
no database stores.

The headers together may be at most ``MAX_HEADER_BYTES``. A JSON body may be at most
``max_json_body_kb``; a multipart body may carry one file of ``max_upload_mb`` plus its form
fields. A declared ``Content-Length`` over the limit is refused at once; a chunked body is
counted as it streams in and cut off when it passes the limit. Both edges parse JSON with
:func:`parse_json`, which bounds how deeply a document may nest.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic_core
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from logistics.errors import DomainError, ErrorCode

MULTIPART_OVERHEAD = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
# jiter (pydantic's JSON parser) stops at this depth while it parses (its own fixed limit,
# named here for messages and tests), so a deeply nested document costs no deep recursion,
# neither while it is parsed nor in whatever reads the parsed value.
MAX_JSON_DEPTH = 200

# Text no database stores: U+0000 (PostgreSQL's text refuses it) and lone surrogates (halves
# of a UTF-16 pair, which no encoding of text can carry).
UNSTORABLE_TEXT = re.compile(r"[\x00\ud800-\udfff]")
UNSTORABLE_TEXT_MESSAGE = "text may not contain NUL (U+0000) or lone surrogate characters"


def parse_json(raw: bytes | str) -> Any:
    """A request's JSON document, or ``VALIDATION_FAILED`` saying where it went wrong.

    Stricter than :func:`json.loads`, on purpose: only UTF-8, no ``NaN`` or ``Infinity``, no
    lone surrogate escapes (``"\\ud800"`` is not text any database can store), and at most
    ``MAX_JSON_DEPTH`` levels of nesting."""
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        reason = str(exc)
        if reason.startswith("recursion limit exceeded"):
            reason = f"nested more than {MAX_JSON_DEPTH} levels deep ({reason})"
        elif "hex escape" in reason:
            reason += " (a \\u escape is four hex digits, and \\ud800-\\udfff only come as a surrogate pair)"
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            f"the body is not valid JSON: {reason}",
            {"fields": {"body": reason}},
        ) from exc


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


def too_large_error(limit: int) -> DomainError:
    return DomainError(
        ErrorCode.PAYLOAD_TOO_LARGE, f"the request body exceeds {limit} bytes", {"max_bytes": limit}
    )


class HeaderSizeLimit:
    """Refuses a request whose headers together pass ``MAX_HEADER_BYTES``, before anything
    reads them (a megabyte token would otherwise be decoded on every request)."""

    def __init__(self, app: ASGIApp, *, graphql_path: str) -> None:
        self.app = app
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > MAX_HEADER_BYTES:
                if scope["type"] == "websocket":
                    # Closing before the handshake is accepted refuses it.
                    await send({"type": "websocket.close", "code": 1009})
                else:
                    error = DomainError(
                        ErrorCode.HEADERS_TOO_LARGE,
                        f"the request headers exceed {MAX_HEADER_BYTES} bytes",
                        {"max_bytes": MAX_HEADER_BYTES},
                    )
                    await _send_error(send, error, graphql=scope["path"].startswith(self.graphql_path))
                return
        await self.app(scope, receive, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int, graphql_path: str) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit + MULTIPART_OVERHEAD
        self.graphql_path = graphql_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type, declared = b"", None
        for name, value in scope["headers"]:  # ASGI servers give the names in lower case
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                declared = value
        limit = self.upload_limit if content_type.startswith(b"multipart/") else self.json_limit
        graphql = scope["path"].startswith(self.graphql_path)
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                await _send_error(send, too_large_error(limit), graphql=graphql)
                return
            # The server delivers no more than a declared length: nothing left to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_error(send, too_large_error(limit), graphql=graphql)


async def _send_error(send: Send, error: DomainError, *, graphql: bool) -> None:
    # In the shape of the edge the request was for: a GraphQL client reads ``errors``.
    body = json.dumps(error.graphql_body() if graphql else error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
