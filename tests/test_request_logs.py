"""One structured log line per request, and its id: taken from ``X-Request-ID`` when it is safe
to repeat, made otherwise, returned on the answer and carried by every record logged while the
request is served; in JSON from ``logistics serve`` with ``LOGISTICS_LOG_FORMAT=json``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from logistics.observability.logs import JsonFormatter, RequestContext, TextFormatter
from tests.factories import KREUZBERG, MITTE, Api
from tests.served import logistics_serve

GENERATED = re.compile(r"[0-9a-f]{32}")
TRACK = "/client/logistics/orders/{job_id}/track"


class Lines:
    """What the service's loggers wrote, through the JSON formatter, as a server writes it."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def of(self, request_id: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("request_id") == request_id]

    def access(self, request_id: str) -> dict[str, Any]:
        [line] = [line for line in self.of(request_id) if line["logger"] == "logistics.access"]
        return line


@pytest.fixture
def lines() -> Iterator[Lines]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContext())
    service = logging.getLogger("logistics")
    level = service.level
    service.addHandler(handler)
    service.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        service.removeHandler(handler)
        service.setLevel(level)


async def test_a_given_request_id_is_in_the_answer_and_the_log_line(api: Api, lines: Lines) -> None:
    order = await api.order("cust-1")

    response = await api.call(
        "GET", f"/orders/{order['id']}/track", "cust-1", headers={"X-Request-ID": "edge-7f3a.2:9_b"}
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"] == "edge-7f3a.2:9_b"
    line = lines.access("edge-7f3a.2:9_b")
    assert line["level"] == "INFO"
    assert (line["method"], line["route"], line["status"]) == ("GET", TRACK, 200)
    assert line["user_id"] == "cust-1"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["ts"].endswith("+00:00")
    # the raw path (which may carry a secret, like a tracking link's) is never logged
    assert order["id"] not in json.dumps(line)


async def test_without_a_request_id_one_is_made_and_returned(api: Api, lines: Lines) -> None:
    response = await api.client.get("/healthz")

    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    line = lines.access(request_id)
    assert (line["route"], line["status"], line["user_id"]) == ("/healthz", 200, None)


@pytest.mark.parametrize("given", ["x" * 129, "has space", "semi;colon", "ünïcode", ""])
async def test_an_unsafe_request_id_is_replaced(api: Api, lines: Lines, given: str) -> None:
    response = await api.client.get("/healthz", headers={"X-Request-ID": given.encode()})

    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    assert lines.access(request_id)["status"] == 200


async def test_a_successful_presence_ping_is_logged_at_debug_only(api: Api, lines: Lines) -> None:
    driver = await api.register_driver(at=MITTE)

    quiet = await api.call("PUT", "/location", driver["sub"], json=KREUZBERG)
    assert quiet.status_code == 204
    assert lines.of(quiet.headers["x-request-id"]) == []

    logging.getLogger("logistics.access").setLevel(logging.DEBUG)
    try:
        heard = await api.call("PUT", "/location", driver["sub"], json=MITTE)
    finally:
        logging.getLogger("logistics.access").setLevel(logging.NOTSET)
    line = lines.access(heard.headers["x-request-id"])
    assert (line["level"], line["route"], line["status"]) == ("DEBUG", "/client/logistics/location", 204)

    # a refused ping is an ordinary line
    refused = await api.call("PUT", "/location", driver["sub"], json={"lat": 200, "lng": 0})
    assert refused.status_code == 422
    assert lines.access(refused.headers["x-request-id"])["level"] == "INFO"


async def test_an_unexpected_error_answers_500_with_the_id_of_its_logged_lines(
    app: FastAPI, client: httpx.AsyncClient, lines: Lines
) -> None:
    async def fails(_request: Request) -> Response:
        logging.getLogger("logistics.test").warning("about to fail")
        raise RuntimeError("boom")

    app.add_route("/fails", fails)

    response = await client.get("/fails", headers={"X-Request-ID": "incident-42"})

    assert response.status_code == 500
    assert response.headers["x-request-id"] == "incident-42"
    logged = {(line["logger"], line["message"]) for line in lines.of("incident-42")}
    assert ("logistics.test", "about to fail") in logged
    assert ("logistics", "unexpected error") in logged
    assert lines.access("incident-42")["status"] == 500
    assert "RuntimeError: boom" in next(
        line["exc_info"] for line in lines.of("incident-42") if "exc_info" in line
    )


def test_the_text_format_is_one_readable_line_with_the_id() -> None:
    record = logging.LogRecord("logistics.access", logging.INFO, __file__, 1, "GET /healthz 200", None, None)
    record.request_id = "abc"
    assert TextFormatter().format(record).endswith(" INFO logistics.access [abc]: GET /healthz 200")


def test_serve_in_json_mode_writes_only_json_lines_one_per_request(tmp_path: Path) -> None:
    with logistics_serve(tmp_path, "--access-log", log_format="json") as served:
        answer = httpx.get(f"{served.base}/readyz", headers={"X-Request-ID": "from-the-edge"})
        assert answer.headers["x-request-id"] == "from-the-edge"

    records = [json.loads(line) for line in served.output.splitlines() if line.strip()]
    # one line for the request, none from uvicorn's own access log
    [line] = [record for record in records if record.get("request_id") == "from-the-edge"]
    assert (line["logger"], line["route"], line["status"]) == ("logistics.access", "/readyz", 200)
    assert not any(record["logger"] == "uvicorn.access" for record in records)
    # and start-up, the banner included, in the same shape
    messages = [record["message"] for record in records]
    assert any(message.startswith("Logistics (development) on ") for message in messages)
    assert any("Application startup complete" in message for message in messages)
