"""Bad input anywhere is a 4xx with ``{"error": {"code", "message"}}``, never a 500."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from tests.factories import KREUZBERG, MITTE, REST, Api, quote_body

JOB = "01aaaaaaaaaaaaaaaaaaaaaaaa"  # no such job: the body is refused before it matters

ERROR_STATUSES = {400, 401, 403, 404, 405, 409, 413, 422}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def fields_of(response: Any) -> dict[str, str]:
    return error(response, 422, "VALIDATION_FAILED")["details"]["fields"]


def order_body(**extra: Any) -> dict[str, Any]:
    return {"quote_id": "q", "payment_method": "cash", **extra}


def register_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Dana",
        "phone": "+49 30 7654321",
        "vehicle": {"type": "car"},
        "licence": {"number": "L", "expires_on": "2099-01-01", "upload_id": "u1"},
        "insurance": {"provider": "A", "policy_number": "P", "expires_on": "2099-01-01", "upload_id": "u2"},
    }
    body.update(changes)
    return body


def with_change(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the dotted ``path`` set to ``value`` (or removed, for ``...``)."""
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    target: Any = changed
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is ...:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return changed


# (method, path, body) for every JSON body the REST edge takes.
JSON_PATHS = [
    ("POST", "/quote", quote_body()),
    ("POST", "/quote/validated", quote_body()),
    ("POST", "/orders", order_body()),
    ("POST", "/jobs", quote_body()),
    ("POST", "/register", register_body()),
    ("PUT", "/availability", {"online": True}),
    ("PUT", "/location", MITTE),
    ("PUT", f"/jobs/{JOB}/tracking", MITTE),
    ("PUT", f"/jobs/{JOB}/start-pickup", {"point": MITTE}),
    ("PUT", f"/jobs/{JOB}/reject", {"reason": "busy"}),
    ("PUT", f"/orders/{JOB}", {"notes": "n"}),
    ("PUT", f"/orders/{JOB}/cancel", {"reason": "r"}),
    ("POST", f"/jobs/{JOB}/images", {"upload_id": "u", "kind": "other"}),
]
JSON_IDS = [f"{method} {path.replace(JOB, ':id')}" for method, path, _ in JSON_PATHS]


NOT_JSON = [
    b"{",
    b'{"online": true,}',
    b"not json at all",
    b"\xff\xfe\x00garbage",
    b'{"a": [1, 2}',
    b"'single'",
]
NOT_AN_OBJECT = [b"[]", b"42", b'"a string"', b"true", b"null"]


@pytest.mark.parametrize(("method", "path", "_body"), JSON_PATHS, ids=JSON_IDS)
async def test_malformed_json_is_a_validation_failure(api: Api, method: str, path: str, _body: Any) -> None:
    await api.register_driver("drv")

    for raw in NOT_JSON:
        response = await api.call(
            method, path, "drv", content=raw, headers={"content-type": "application/json"}
        )

        error(response, 422, "VALIDATION_FAILED")


@pytest.mark.parametrize(("method", "path", "_body"), JSON_PATHS, ids=JSON_IDS)
async def test_json_that_is_not_an_object_is_refused(api: Api, method: str, path: str, _body: Any) -> None:
    await api.register_driver("drv")

    for raw in NOT_AN_OBJECT:
        response = await api.call(
            method, path, "drv", content=raw, headers={"content-type": "application/json"}
        )

        assert response.status_code in (404, 422), (raw, response.text)
        assert response.json()["error"]["code"] in ("VALIDATION_FAILED", "NOT_FOUND")


@pytest.mark.parametrize(("method", "path", "body"), JSON_PATHS, ids=JSON_IDS)
async def test_a_5_mb_json_body_is_too_large(api: Api, method: str, path: str, body: dict[str, Any]) -> None:
    huge = {**body, "notes": "x" * (5 * 1024 * 1024)}

    response = await api.call(method, path, "drv", json=huge)

    error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_a_large_body_without_a_declared_length_is_cut_off(api: Api) -> None:
    async def chunks() -> Any:
        for _ in range(6):
            yield b" " * (1024 * 1024)

    response = await api.call(
        "POST", "/quote", "drv", content=chunks(), headers={"content-type": "application/json"}
    )

    error(response, 413, "PAYLOAD_TOO_LARGE")


# --- wrong types, missing fields, out of range, unknown enum values --------------------------

QUOTE = quote_body()
BAD_FIELDS = [
    # (method, path, body, field named in details.fields)
    ("POST", "/quote", with_change(QUOTE, "pickup.point.lat", 200), "pickup.point.lat"),
    ("POST", "/quote", with_change(QUOTE, "dropoff.point.lng", -181), "dropoff.point.lng"),
    ("POST", "/quote", with_change(QUOTE, "pickup.point.lat", "north"), "pickup.point.lat"),
    ("POST", "/quote", with_change(QUOTE, "pickup.point", [52.5, 13.4]), "pickup.point"),
    ("POST", "/quote", with_change(QUOTE, "vehicle_type", "rocket"), "vehicle_type"),
    ("POST", "/quote", with_change(QUOTE, "items.0.size", "huge"), "items.0.size"),
    ("POST", "/quote", with_change(QUOTE, "items.0.quantity", "two"), "items.0.quantity"),
    ("POST", "/quote", with_change(QUOTE, "items.0.quantity", 0), "items.0.quantity"),
    ("POST", "/quote", with_change(QUOTE, "items.0.weight_kg", -3), "items.0.weight_kg"),
    ("POST", "/quote", with_change(QUOTE, "items", []), "items"),
    ("POST", "/quote", with_change(QUOTE, "items", "a box"), "items"),
    ("POST", "/quote", with_change(QUOTE, "dropoff", ...), "dropoff"),
    ("POST", "/quote", with_change(QUOTE, "pickup.address.city", ...), "pickup.address.city"),
    ("POST", "/quote", with_change(QUOTE, "pickup.address.country", "Germany"), "pickup.address.country"),
    ("POST", "/quote", with_change(QUOTE, "pickup.contact.phone", "call me"), "pickup.contact.phone"),
    ("POST", "/quote", with_change(QUOTE, "scheduled_at", "tomorrow-ish"), "scheduled_at"),
    ("POST", "/quote/validated", with_change(QUOTE, "pickup.point.lat", 200), "pickup.point.lat"),
    ("POST", "/jobs", with_change(QUOTE, "vehicle_type", "rocket"), "vehicle_type"),
    ("POST", "/jobs", with_change(QUOTE, "payment_method", "barter"), "payment_method"),
    ("POST", "/orders", {"payment_method": "cash"}, "quote_id"),
    ("POST", "/orders", order_body(payment_method="bitcoin"), "payment_method"),
    ("POST", "/orders", order_body(quote_id=12), "quote_id"),
    ("POST", "/register", register_body(vehicle={"type": "rocket"}), "vehicle.type"),
    ("POST", "/register", register_body(licence={"number": "L", "upload_id": "u"}), "licence.expires_on"),
    (
        "POST",
        "/register",
        with_change(register_body(), "insurance.expires_on", "soon"),
        "insurance.expires_on",
    ),
    ("PUT", "/availability", {"online": "maybe"}, "online"),
    ("PUT", "/availability", {}, "online"),
    ("PUT", "/location", {"lat": 200, "lng": 13.4}, "lat"),
    ("PUT", "/location", {"lat": 52.5}, "lng"),
    ("PUT", "/location", {**MITTE, "speed_mps": -1}, "speed_mps"),
    ("PUT", "/location", {**MITTE, "heading_deg": 720}, "heading_deg"),
    ("PUT", "/location", {**MITTE, "recorded_at": "yesterday"}, "recorded_at"),
    ("PUT", f"/jobs/{JOB}/start-pickup", {"point": {"lat": 200, "lng": 13.4}}, "point.lat"),
    ("PUT", f"/jobs/{JOB}/start-pickup", {"point": "here"}, "point"),
    ("PUT", f"/jobs/{JOB}/reject", {"reason": "bored"}, "reason"),
    ("PUT", f"/orders/{JOB}/cancel", {"reason": 42}, "reason"),
    ("PUT", f"/orders/{JOB}", {"notes": ["a", "b"]}, "notes"),
    (
        "PUT",
        f"/orders/{JOB}",
        {"dropoff": {"contact": {"name": "", "phone": "+49 30 1"}}},
        "dropoff.contact.name",
    ),
    ("POST", f"/jobs/{JOB}/images", {"upload_id": "u", "kind": "selfie"}, "kind"),
    ("POST", f"/jobs/{JOB}/images", {"kind": "other"}, "upload_id"),
]


# JSON's types are not coerced: each of these was once accepted as another type.
WRONG_TYPES = [
    ("PUT", "/location", {"lat": True, "lng": 13.4}, "lat"),
    ("PUT", "/location", {"lat": "52.5", "lng": 13.4}, "lat"),
    ("PUT", "/location", {**MITTE, "recorded_at": 1_700_000_000}, "recorded_at"),
    ("PUT", "/location", {**MITTE, "recorded_at": "1700000000"}, "recorded_at"),
    ("PUT", "/availability", {"online": "yes"}, "online"),
    ("PUT", "/availability", {"online": "true"}, "online"),
    ("PUT", "/availability", {"online": 1}, "online"),
    ("PUT", f"/jobs/{JOB}/tracking", {"points": [{"lat": False, "lng": 13.4}]}, "points.0.lat"),
    ("POST", "/quote", with_change(QUOTE, "items.0.quantity", True), "items.0.quantity"),
    ("POST", "/quote", with_change(QUOTE, "items.0.quantity", "2"), "items.0.quantity"),
    ("POST", "/quote", with_change(QUOTE, "items.0.weight_kg", "4"), "items.0.weight_kg"),
    ("POST", "/quote", with_change(QUOTE, "pickup.address.line1", 12), "pickup.address.line1"),
    ("POST", "/quote", with_change(QUOTE, "pickup.contact.phone", 3012345678), "pickup.contact.phone"),
    ("POST", "/quote", with_change(QUOTE, "scheduled_at", 1_700_000_000), "scheduled_at"),
    ("POST", f"/orders/{JOB}/rate", {"stars": "5"}, "stars"),
    ("POST", f"/orders/{JOB}/rate", {"stars": True}, "stars"),
    (
        "POST",
        f"/orders/{JOB}/tip",
        {"amount": {"amount": "500", "currency": "EUR"}, "method": "stripe"},
        "amount.amount",
    ),
    ("POST", "/register", with_change(register_body(), "licence.expires_on", 20990101), "licence.expires_on"),
    ("POST", "/register", with_change(register_body(), "licence.number", 123456), "licence.number"),
]
# A payout asks for money: none or less is malformed, not a question for the balance.
BAD_AMOUNTS = [
    ("POST", "/payouts/request", {"amount": {"amount": -500, "currency": "EUR"}}, "amount"),
    ("POST", "/payouts/request", {"amount": {"amount": 0, "currency": "EUR"}}, "amount"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    BAD_FIELDS + WRONG_TYPES + BAD_AMOUNTS,
    ids=[f"{m} {p.replace(JOB, ':id')} {f}" for m, p, _, f in BAD_FIELDS + WRONG_TYPES + BAD_AMOUNTS],
)
async def test_a_bad_field_is_named(api: Api, method: str, path: str, body: Any, field: str) -> None:
    await api.register_driver("drv")

    response = await api.call(method, path, "drv", json=body)

    fields = fields_of(response)
    assert any(name == field or name.startswith(f"{field}.") for name in fields), fields


async def test_json_types_that_need_no_coercion_are_accepted(api: Api) -> None:
    # A whole number is a number; a time and an enum value come as text.
    await api.register_driver("drv")

    await api.ok(
        "PUT", "/location", "drv", 204, json={"lat": 52, "lng": 13, "recorded_at": "2026-01-01T10:00:00Z"}
    )
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=with_change(QUOTE, "items.0.weight_kg", 4))

    assert quote["vehicle_type"] in {"bicycle", "motorbike", "car", "van"}


async def test_every_bad_field_is_named_at_once(api: Api) -> None:
    body = with_change(with_change(QUOTE, "vehicle_type", "rocket"), "items.0.size", "huge")
    body = with_change(body, "pickup.point.lat", 200)

    fields = fields_of(await api.call("POST", "/quote", "cust-1", json=body))

    assert {"vehicle_type", "items.0.size", "pickup.point.lat"} <= set(fields)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/orders", {"limit": "many"}, "limit"),
        ("/orders", {"limit": 0}, "limit"),
        ("/orders", {"status": "lost"}, "status"),
        ("/jobs", {"status": "sideways"}, "status"),
        ("/jobs", {"limit": 101}, "limit"),
        ("/jobs/available", {"lat": 200, "lng": 13.4}, "lat"),
        ("/jobs/available", {"lat": "north", "lng": 13.4}, "lat"),
        ("/jobs/available", {"lat": 52.5}, "lng"),
        ("/jobs/available", {"radius_m": 0}, "radius_m"),
        ("/jobs/available", {"radius_m": 10_000_000}, "radius_m"),
        ("/jobs/available", {"radius_m": "far"}, "radius_m"),
        (f"/jobs/{JOB}/images", {"limit": "x"}, "limit"),
    ],
)
async def test_bad_query_parameters_are_named(
    api: Api, path: str, params: dict[str, Any], field: str
) -> None:
    await api.register_driver("drv")

    response = await api.call("GET", path, "drv", params=params)

    assert field in fields_of(response)


async def test_a_long_cancellation_reason_is_refused(api: Api) -> None:
    order = await api.order("cust-1")

    response = await api.call("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "r" * 501})

    assert "reason" in fields_of(response)


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
async def test_json_sent_as_another_content_type_is_refused(api: Api, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = await api.call(
        "POST", "/quote", "cust-1", content=json.dumps(quote_body()).encode(), headers=headers
    )

    error(response, 422, "VALIDATION_FAILED")


async def test_an_upload_sent_as_json_is_refused(api: Api) -> None:
    response = await api.call("POST", "/upload", "cust-1", json={"file": "aGVsbG8=", "purpose": "proof"})

    error(response, 422, "VALIDATION_FAILED")


# --- unknown paths and methods --------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [f"{REST}/nope", f"{REST}/jobs/{JOB}/teleport", f"{REST}/orders/{JOB}/track/extra", "/nope", "/client"],
)
async def test_an_unknown_path_is_a_json_404(api: Api, path: str) -> None:
    response = await api.client.get(path, headers=api.headers("cust-1"))

    error(response, 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/quote"),
        ("GET", "/quote"),
        ("GET", "/upload"),
        ("PATCH", "/orders"),
        ("DELETE", f"/jobs/{JOB}"),
        ("POST", f"/jobs/{JOB}/accept"),
        ("GET", f"/orders/{JOB}/cancel"),
        ("POST", "/me"),
        ("PUT", "/init"),
    ],
)
async def test_a_wrong_method_is_a_json_405(api: Api, method: str, path: str) -> None:
    response = await api.call(method, path, "cust-1")

    assert response.status_code == 405, response.text
    body = response.json()
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert body["error"]["message"]


BAD_AUTHORIZATION = [None, "Bearer", "Bearer not.a.jwt", "Basic dXNlcjpwYXNz", "Bearer " + "a" * 5000]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/init", None), ("GET", "/orders", None), *JSON_PATHS],
    ids=["GET /init", "GET /orders", *JSON_IDS],
)
async def test_no_valid_token_is_401(api: Api, method: str, path: str, body: Any) -> None:
    for authorization in BAD_AUTHORIZATION:
        headers = {"Authorization": authorization} if authorization else {}

        response = await api.call(method, path, None, json=body, headers=headers)

        error(response, 401, "UNAUTHENTICATED")


# --- whatever the input, never a 500 --------------------------------------------------------

ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    0,
    -1,
    1e308,
    float("inf"),
    True,
    [],
    {},
    "x" * 10_000,
    "\u0000",
    "💥",
]


@pytest.mark.parametrize(
    "field",
    [
        "pickup",
        "pickup.point",
        "pickup.point.lat",
        "pickup.address.postcode",
        "pickup.address.country",
        "items",
        "items.0",
        "items.0.weight_kg",
        "items.0.quantity",
        "vehicle_type",
        "scheduled_at",
    ],
)
async def test_odd_values_in_a_quote_never_crash(api: Api, field: str) -> None:
    for value in ODD_VALUES:
        body = json.dumps(with_change(QUOTE, field, value), allow_nan=True).encode()

        response = await api.call(
            "POST", "/quote", "cust-1", content=body, headers={"content-type": "application/json"}
        )

        assert response.status_code in ERROR_STATUSES | {201}, (value, response.text)
        if response.status_code != 201:
            assert response.json()["error"]["code"] in {"VALIDATION_FAILED", "ADDRESS_INVALID"}


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("PUT", "/location", "lat"),
        ("PUT", "/location", "recorded_at"),
        ("PUT", "/availability", "online"),
        ("PUT", f"/jobs/{JOB}/tracking", "points"),
        ("PUT", f"/jobs/{JOB}/complete", "point"),
        ("PUT", f"/jobs/{JOB}/complete", "recorded_at"),
        ("POST", "/orders", "quote_id"),
        ("POST", "/orders", "pickup"),
        ("POST", f"/jobs/{JOB}/images", "upload_id"),
    ],
)
async def test_odd_values_elsewhere_never_crash(api: Api, method: str, path: str, field: str) -> None:
    await api.register_driver("drv")
    base = {**MITTE, "online": True, "quote_id": "q", "payment_method": "cash", "kind": "other"}
    for value in ODD_VALUES:
        body = json.dumps({**base, field: value}).encode()

        response = await api.call(
            method, path, "drv", content=body, headers={"content-type": "application/json"}
        )

        assert response.status_code in ERROR_STATUSES | {200, 204}, (value, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message"}


async def test_odd_path_ids_never_crash(api: Api) -> None:
    await api.register_driver("drv")
    for job_id in ["x" * 300, "%00", "..%2F..%2Fetc", "' OR 1=1 --", "💥", "-1"]:
        for method, suffix, body in [
            ("GET", "", None),
            ("PUT", "/accept", None),
            ("PUT", "/start-pickup", {"point": KREUZBERG}),
            ("GET", "/images", None),
        ]:
            response = await api.call(method, f"/jobs/{job_id}{suffix}", "drv", json=body)
            assert response.status_code in {404, 422}, (job_id, suffix, response.text)
            assert response.json()["error"]["code"] in {"NOT_FOUND", "VALIDATION_FAILED"}
        response = await api.call("GET", f"/orders/{job_id}/track", "drv")
        assert response.status_code in {404, 422}, response.text


async def test_text_with_a_nul_character_is_refused_not_a_500(api: Api) -> None:
    # PostgreSQL text cannot hold U+0000: whatever carries it is bad input, on every backend.
    await api.register_driver("drv")
    order = await api.order("cust-1")
    nul_cursor = base64.urlsafe_b64encode(b"01\x00").decode()
    attempts = [
        ("POST", "/orders", "cust-1", {"quote_id": "q\x00", "payment_method": "cash"}, None),
        ("PUT", f"/orders/{order['id']}", "cust-1", {"notes": "ring\x00twice"}, None),
        ("PUT", f"/orders/{order['id']}/cancel", "cust-1", {"reason": "\x00"}, None),
        ("POST", "/register", "nul", register_body(name="Dana\x00"), None),
        ("GET", "/jobs/%00", "drv", None, None),
        ("GET", "/orders/%00/track", "cust-1", None, None),
        ("GET", "/orders", "cust-1", None, {"cursor": nul_cursor}),
        ("GET", "/jobs", "drv", None, {"cursor": nul_cursor}),
    ]

    for method, path, sub, body, params in attempts:
        response = await api.call(method, path, sub, json=body, params=params)

        assert response.status_code in (404, 422), (path, response.text)
        assert response.json()["error"]["code"] in ("NOT_FOUND", "VALIDATION_FAILED")
    unchanged = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert unchanged["status"] == "searching" and unchanged["notes"] is None


async def test_nul_in_a_quotes_stops_and_items_is_named(api: Api) -> None:
    # A quote keeps its stops and items as JSON, where the database would not have refused it.
    body = with_change(QUOTE, "pickup.address.line1", "Alexanderplatz\x001")
    body = with_change(body, "dropoff.contact.name", "Kim\x00")
    body = with_change(body, "items.0.description", "\x00")

    fields = fields_of(await api.call("POST", "/quote", "cust-1", json=body))

    assert {"pickup.address.line1", "dropoff.contact.name", "items.0.description"} <= set(fields)
    assert all("NUL" in why for why in fields.values()), fields
