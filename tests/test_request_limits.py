"""What a request may be before anything reads it: JSON that one strict parser reads (the same
for REST and GraphQL), nested at most ``MAX_JSON_DEPTH`` deep, and headers of bounded size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from logistics.auth import MAX_AUTHORIZATION_BYTES
from logistics.errors import DomainError, ErrorCode
from logistics.limits import MAX_HEADER_BYTES, MAX_JSON_DEPTH, HeaderSizeLimit, parse_json
from tests.factories import Api, quote_body
from tests.graphql_helpers import CREATE_QUOTE, GRAPHQL, quote_input

JSON = {"content-type": "application/json"}
INIT = "{ init { user { id } } }"
JOB = "query Job($id: ID!) { job(id: $id) { id } }"


def rest_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def graphql_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    result: dict[str, Any] = error
    return result


async def post_graphql(api: Api, raw: bytes | str, sub: str = "cust-1") -> Any:
    return await api.client.post(GRAPHQL, content=raw, headers={**api.headers(sub), **JSON})


# --- the JSON parser of both edges ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{", "EOF"),
        (b'{"a": 1,}', "trailing comma"),
        (b"NaN", "expected value"),
        (b'{"a": Infinity}', "expected value"),
        (b'"\\ud800"', "surrogate pair"),
        (b'"\\udc00"', "surrogate"),
        (b'"\xff"', "unicode"),
        (b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1), "nested more than 200 levels"),
        (b"[" * 10_000, "nested more than 200 levels"),
        (b"1" * 5000, "out of range"),
    ],
)
def test_json_that_is_not_plain_json_is_a_validation_failure(raw: bytes, says: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_json(raw)

    error = refused.value
    assert error.code is ErrorCode.VALIDATION_FAILED
    assert says in error.message and "line 1 column" in error.message
    assert set(error.details["fields"]) == {"body"}


def test_json_as_deep_as_the_limit_and_surrogate_pairs_are_read() -> None:
    deep = '{"a":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH

    assert parse_json(deep) is not None
    assert parse_json('"\\ud83d\\udca5"') == "💥"
    assert parse_json(b'{"a": 1.5, "b": [true, null]}') == {"a": 1.5, "b": [True, None]}


# --- REST and GraphQL answer alike --------------------------------------------------------------

UNREADABLE = [
    b'{"online": tru',
    b'{"online": true} and more',
    b'{"online": "\xff"}',
    b'{"online": NaN}',
    b'{"x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
]


@pytest.mark.parametrize("raw", UNREADABLE, ids=["cut", "trailing", "not utf-8", "nan", "deep"])
async def test_a_rest_body_that_is_not_json_is_422_saying_where(api: Api, raw: bytes) -> None:
    # FastAPI answered some of these 400 ("There was an error parsing the body"), and others
    # 422 naming a field "1".
    response = await api.call("PUT", "/availability", "cust-1", content=raw, headers=JSON)

    error = rest_error(response, 422, "VALIDATION_FAILED")
    assert error["message"].startswith("the body is not valid JSON: ")
    assert "line 1 column" in error["message"]
    assert list(error["details"]["fields"]) == ["body"]


@pytest.mark.parametrize("raw", UNREADABLE, ids=["cut", "trailing", "not utf-8", "nan", "deep"])
async def test_a_graphql_body_that_is_not_json_is_422_saying_where(api: Api, raw: bytes) -> None:
    response = await post_graphql(api, raw)

    error = graphql_error(response, 422, "VALIDATION_FAILED")
    assert error["message"].startswith("the body is not valid JSON: ")
    assert list(error["extensions"]["details"]["fields"]) == ["body"]


async def test_deeply_nested_graphql_variables_are_refused_before_they_are_parsed(api: Api) -> None:
    # They were HTTP 500: json.loads ran out of stack.
    deep = "[" * 10_000 + "]" * 10_000
    raw = '{"query": "' + INIT + '", "variables": {"x": ' + deep + "}}"

    error = graphql_error(await post_graphql(api, raw), 422, "VALIDATION_FAILED")

    assert "nested more than 200 levels deep" in error["message"]


async def test_graphql_variables_in_a_query_string_are_read_by_the_same_parser(api: Api) -> None:
    variables = '{"x": ' + "[" * 1_000 + "]" * 1_000 + "}"

    response = await api.client.get(
        GRAPHQL, params={"query": INIT, "variables": variables}, headers=api.headers("cust-1")
    )

    graphql_error(response, 422, "VALIDATION_FAILED")


async def test_nesting_within_the_limit_is_served(api: Api) -> None:
    nested = "[" * 50 + "]" * 50
    raw = '{"query": "' + INIT + '", "variables": {"unused": ' + nested + "}}"

    response = await post_graphql(api, raw)

    assert response.status_code == 200 and "errors" not in response.json(), response.text


# --- lone surrogates, however they come -----------------------------------------------------


async def test_a_lone_surrogate_in_a_graphql_id_is_validation_failed(api: Api) -> None:
    # It was INTERNAL: the database driver could not encode the id.
    raw = json.dumps({"query": JOB, "variables": {"id": "\ud800"}})

    graphql_error(await post_graphql(api, raw), 422, "VALIDATION_FAILED")


async def test_a_lone_surrogate_in_a_graphql_document_is_validation_failed(api: Api) -> None:
    # A GraphQL string escape this time, not a JSON one: the document's own parser refuses it.
    raw = json.dumps({"query": '{ job(id: "\\udc00") { id } }'})

    response = await post_graphql(api, raw)

    graphql_error(response, 200, "VALIDATION_FAILED")


async def test_a_lone_surrogate_in_a_graphql_input_or_a_rest_body_is_validation_failed(api: Api) -> None:
    body = quote_body()
    body["pickup"]["address"]["line1"] = "Alexanderplatz \ud800"
    variables = {"input": {**quote_input(), "pickup": body["pickup"]}}

    rest = await api.call("POST", "/quote", "cust-1", content=json.dumps(body), headers=JSON)
    graphql = await post_graphql(api, json.dumps({"query": CREATE_QUOTE, "variables": variables}))

    rest_error(rest, 422, "VALIDATION_FAILED")
    graphql_error(graphql, 422, "VALIDATION_FAILED")


# --- headers ----------------------------------------------------------------------------------


async def test_a_token_over_8_kb_is_unauthenticated_on_every_edge(api: Api) -> None:
    authorization = {"Authorization": "Bearer " + "a" * (MAX_AUTHORIZATION_BYTES + 1)}

    rest = await api.call("GET", "/init", None, headers=authorization)
    graphql = await api.client.post(GRAPHQL, json={"query": INIT}, headers=authorization)

    assert str(MAX_AUTHORIZATION_BYTES) in rest_error(rest, 401, "UNAUTHENTICATED")["message"]
    assert graphql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_token_of_a_megabyte_is_refused_before_anything_reads_it(api: Api) -> None:
    authorization = {"Authorization": "Bearer " + "a" * 1024 * 1024}

    rest = await api.call("GET", "/init", None, headers=authorization)
    graphql = await api.client.post(GRAPHQL, json={"query": INIT}, headers=authorization)

    assert rest_error(rest, 431, "HEADERS_TOO_LARGE")["details"] == {"max_bytes": MAX_HEADER_BYTES}
    # Each edge answers in its own shape, even before anything is routed.
    error = graphql_error(graphql, 431, "HEADERS_TOO_LARGE")
    assert error["extensions"]["details"] == {"max_bytes": MAX_HEADER_BYTES}


async def test_many_headers_together_over_the_limit_are_refused(api: Api) -> None:
    many = {f"x-padding-{n}": "p" * 1000 for n in range(MAX_HEADER_BYTES // 1000)}

    rest_error(await api.call("GET", "/init", "cust-1", headers=many), 431, "HEADERS_TOO_LARGE")
    await api.ok("GET", "/init", "cust-1", headers=dict(list(many.items())[:10]))


async def test_a_websocket_handshake_with_headers_over_the_limit_is_refused() -> None:
    sent: list[dict[str, Any]] = []

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:
        raise AssertionError("the app was reached")

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": GRAPHQL, "headers": [(b"x-padding", b"p" * MAX_HEADER_BYTES)]}

    await HeaderSizeLimit(app, graphql_path=GRAPHQL)(scope, None, send)  # type: ignore[arg-type]

    # Closed before it was accepted: the server answers the handshake 403.
    assert sent == [{"type": "websocket.close", "code": 1009}]


async def test_a_graphql_body_over_the_limit_is_refused_in_graphqls_shape(api: Api) -> None:
    too_big = json.dumps({"query": INIT, "variables": {"x": "x" * api.settings.max_json_body_kb * 1024}})

    error = graphql_error(await post_graphql(api, too_big), 413, "PAYLOAD_TOO_LARGE")

    assert error["extensions"]["details"] == {"max_bytes": api.settings.max_json_body_kb * 1024}
