"""The OpenAPI document describes every REST path of the core loop: its method, its request
body, its success answer and its errors (all in the one ``ErrorBody`` shape)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from logistics.app import create_app
from logistics.config import Settings
from tests.factories import Api

REST = "/client/logistics"
ERROR_BODY = "#/components/schemas/ErrorBody"
LIFECYCLE_STEPS = (
    "start-pickup",
    "arrive-pickup",
    "complete-pickup",
    "start-dropoff",
    "arrive-dropoff",
    "complete-dropoff",
    "complete",
)

# (method, path, success status, request body content type or None, error codes the path
# must document beyond UNAUTHENTICATED and VALIDATION_FAILED, which every path documents).
OPERATIONS: list[tuple[str, str, int, str | None, tuple[str, ...]]] = [
    ("get", "/init", 200, None, ()),
    ("post", "/register", 201, "application/json", ()),
    ("get", "/me", 200, None, ("NOT_FOUND",)),
    ("post", "/upload", 201, "multipart/form-data", ("PAYLOAD_TOO_LARGE",)),
    ("post", "/quote", 201, "application/json", ("ADDRESS_INVALID",)),
    ("post", "/quote/validated", 201, "application/json", ("ADDRESS_INVALID",)),
    ("post", "/orders", 201, "application/json", ("QUOTE_EXPIRED", "IDEMPOTENCY_CONFLICT", "NOT_FOUND")),
    ("get", "/orders", 200, None, ()),
    ("get", "/orders/{job_id}/track", 200, None, ("NOT_FOUND",)),
    ("put", "/orders/{job_id}/cancel", 200, "application/json", ("NOT_FOUND", "INVALID_TRANSITION")),
    ("put", "/orders/{job_id}", 200, "application/json", ("NOT_FOUND", "INVALID_TRANSITION")),
    ("get", "/jobs/available", 200, None, ("FORBIDDEN",)),
    ("get", "/jobs", 200, None, ("FORBIDDEN",)),
    ("post", "/jobs", 201, "application/json", ("FORBIDDEN", "IDEMPOTENCY_CONFLICT")),
    ("get", "/jobs/{job_id}", 200, None, ("NOT_FOUND",)),
    ("put", "/jobs/{job_id}/accept", 200, None, ("FORBIDDEN", "NOT_FOUND", "OFFER_TAKEN")),
    (
        "put",
        "/jobs/{job_id}/reject",
        200,
        "application/json",
        ("FORBIDDEN", "NOT_FOUND", "INVALID_TRANSITION"),
    ),
    *[
        (
            "put",
            f"/jobs/{{job_id}}/{step}",
            200,
            "application/json",
            ("FORBIDDEN", "NOT_FOUND", "INVALID_TRANSITION")
            + (("PROOF_REQUIRED",) if step == "complete-dropoff" else ()),
        )
        for step in LIFECYCLE_STEPS
    ],
    ("put", "/jobs/{job_id}/tracking", 200, "application/json", ("NOT_FOUND", "JOB_NOT_ACTIVE")),
    ("post", "/jobs/{job_id}/images", 201, "multipart/form-data", ("NOT_FOUND", "PAYLOAD_TOO_LARGE")),
    ("get", "/jobs/{job_id}/images", 200, None, ("NOT_FOUND",)),
    ("put", "/availability", 200, "application/json", ("FORBIDDEN",)),
    ("put", "/location", 204, "application/json", ("FORBIDDEN",)),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``GET /openapi.json`` of an app that is never started: the document needs no database."""
    folder = tmp_path_factory.mktemp("openapi")
    settings = Settings(
        env="test", database_url=f"sqlite+aiosqlite:///{folder / 'unused.db'}", storage_dir=folder
    )

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/openapi.json")

    response = asyncio.run(fetch())
    assert response.status_code == 200
    yield response.json()


def _operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    paths = document["paths"]
    assert REST + path in paths, f"{REST + path} is not documented"
    assert method in paths[REST + path], f"{method.upper()} {REST + path} is not documented"
    operation: dict[str, Any] = paths[REST + path][method]
    return operation


def _has_schema(media: dict[str, Any]) -> bool:
    schema = media.get("schema")
    return isinstance(schema, dict) and bool(schema)


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)


def test_the_table_names_each_operation_once() -> None:
    # 29 operations: 26 paths, three of which (/orders, /jobs, /jobs/{job_id}/images) take
    # both GET and POST.
    assert len({(method, path) for method, path, *_ in OPERATIONS}) == len(OPERATIONS) == 29


@pytest.mark.parametrize(
    ("method", "path", "success", "body_type", "codes"),
    OPERATIONS,
    ids=[f"{method.upper()} {path}" for method, path, *_ in OPERATIONS],
)
def test_operation_is_documented(
    document: dict[str, Any],
    method: str,
    path: str,
    success: int,
    body_type: str | None,
    codes: tuple[str, ...],
) -> None:
    operation = _operation(document, method, path)

    # The request body, when the path takes one, and none where it takes none.
    if body_type is None:
        assert "requestBody" not in operation, f"{method.upper()} {path} takes no body"
    else:
        content = operation["requestBody"]["content"]
        assert body_type in content, f"{method.upper()} {path}: {sorted(content)}"
        assert _has_schema(content[body_type])

    # Its success answer: a JSON schema, except the body-less 204 of /location.
    responses = operation["responses"]
    successes = [status for status in responses if status.startswith("2")]
    assert successes == [str(success)], f"{method.upper()} {path}: {successes}"
    if success == 204:
        assert not responses["204"].get("content")
    else:
        assert _has_schema(responses[str(success)]["content"]["application/json"])

    # Its errors: every 4xx answer is an ErrorBody, naming the codes it stands for.
    errors = {status: answer for status, answer in responses.items() if status[0] in "45"}
    for status, answer in errors.items():
        assert answer["content"]["application/json"]["schema"] == {"$ref": ERROR_BODY}, status
    documented = " ".join(answer.get("description", "") for answer in errors.values())
    for code in ("UNAUTHENTICATED", "VALIDATION_FAILED", *codes):
        assert code in documented, f"{method.upper()} {path} does not document {code}"
    assert "401" in errors and "422" in errors

    # Every path needs a bearer token.
    schemes = document["components"]["securitySchemes"]
    assert operation.get("security"), f"{method.upper()} {path} declares no security"
    for requirement in operation["security"]:
        for name in requirement:
            assert schemes[name]["type"] == "http" and schemes[name]["scheme"] == "bearer"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)

    unresolved = []
    for ref in sorted(set(refs)):
        target: Any = document
        for part in ref.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        if not ref.startswith("#/") or not isinstance(target, dict):
            unresolved.append(ref)

    assert len(refs) > 100
    assert unresolved == []


# Bodies that pass validation, where the path reads one before it looks at the caller.
VALID_BODIES = {("put", "/payout-methods/{method_id}"): {"label": "Main"}}


async def test_every_path_that_refuses_a_caller_who_is_not_a_driver_documents_403(
    api: Api, document: dict[str, Any]
) -> None:
    order = await api.order("cust-1")
    undocumented = []
    for path, operations in document["paths"].items():
        if not path.startswith(REST):
            continue
        for method, operation in operations.items():
            short = path.removeprefix(REST)
            url = (
                short.replace("{job_id}", order["id"]).replace("{method_id}", "m").replace("{upload_id}", "u")
            )
            body = VALID_BODIES.get((method, short), {})

            response = await api.call(method, url, "not-a-driver", json=body)

            if response.status_code == 403 and "403" not in operation["responses"]:
                undocumented.append(f"{method.upper()} {short}")

    assert undocumented == []


def test_error_body_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    error_body = schemas["ErrorBody"]
    assert error_body["required"] == ["error"]
    detail = schemas[error_body["properties"]["error"]["$ref"].rsplit("/", 1)[-1]]
    assert {"code", "message"} <= set(detail["required"])
    assert {"code", "message", "details"} <= set(detail["properties"])
    # No path falls back to FastAPI's own validation error shape.
    assert "HTTPValidationError" not in schemas


async def test_openapi_json_and_swagger_ui_are_served(client: httpx.AsyncClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.headers["content-type"].startswith("application/json")
    assert f"{REST}/jobs/{{job_id}}/accept" in spec.json()["paths"]

    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in docs.text.lower()
    assert "/openapi.json" in docs.text
