"""Property: whatever a client sends, the answer is a documented, coded error or a success,
never a server error.

Every REST path of the OpenAPI document gets generated bodies (bodies its schema describes,
the same with a few values replaced by odd ones: wrong types, huge or odd text, lone
surrogates, NUL, deep nesting; any JSON; bytes that are not JSON) and random path
parameters; every GraphQL query and mutation of the schema gets generated variables for its
arguments the same way. Each answer must be under 500; a REST error must be
``{"error": {"code", "message", ...}}`` with the code's status, documented for its path; a
GraphQL error must carry a known ``extensions.code`` other than ``INTERNAL``.

One app and one SQLite database serve the whole module (seeded with an open order, a job a
driver holds, a payout method and an upload, whose ids the path parameters sometimes take),
driven from a private event loop; Hypothesis is derandomized and keeps no example database,
so every run sends the same requests. No network: no payment provider is configured.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logistics.app import build_platform, create_app
from logistics.config import Settings
from logistics.errors import HTTP_STATUS, ErrorCode
from logistics.schema import build_schema
from tests.conftest import reset_database
from tests.factories import Api, png_bytes

EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# Statuses any path may answer before it is routed: a body or headers over the limits.
TRANSPORT_STATUSES = {413, 431}
# A customer, an approved driver and a user with every role, by subject and roles.
CALLERS = {"fz-cust": None, "fz-drv": None, "fz-ops": ["ops", "merchant"]}


# --- odd values ---------------------------------------------------------------------------------

ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "💥", "\u202e", "%00", "' OR 1=1 --"]),
    st.sampled_from([10_000, 200_000]).map(lambda size: "x" * size),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    ODD_TEXT,
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Nesting around the parser's limit of 200 levels.
DEEP = st.integers(min_value=150, max_value=260).map(lambda depth: json.loads("[" * depth + "]" * depth))
ODD = st.one_of(SCALARS, ANY_JSON, DEEP)


def _parts(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every part of a JSON value, the whole (``()``) first."""
    yield path
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield from _parts(child, (*path, key))


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(copy[head], tuple(rest), new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid value with up to three parts (any part, the whole included) made odd."""
    value = draw(valid)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_parts(value))))
        value = _replaced(value, path, draw(ODD))
    return value


def shaped(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """What a client may send where ``valid`` is expected: it, it spoiled, or anything."""
    return st.one_of(valid, mutated(valid), ANY_JSON)


# --- REST: bodies from the OpenAPI schemas ------------------------------------------------------


def from_schema(schema: dict[str, Any], document: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values a JSON schema of the document describes (the subset pydantic writes)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(document["components"]["schemas"][name], document)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(option, document) for option in schema[key]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes().map(lambda moment: moment.isoformat() + "Z")
        if schema.get("format") == "date":
            return st.dates().map(lambda day: day.isoformat())
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=min(schema.get("maxLength", 20), 20))
    if kind == "integer":
        return st.integers(
            min_value=schema.get("minimum", schema.get("exclusiveMinimum", -(10**6) - 1) + 1),
            max_value=schema.get("maximum", schema.get("exclusiveMaximum", 10**6 + 1) - 1),
        )
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -1e6))
        high = schema.get("maximum", schema.get("exclusiveMaximum", 1e6))
        return st.floats(min_value=low, max_value=high, exclude_min="exclusiveMinimum" in schema)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), document)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" or "properties" in schema:
        properties = {name: from_schema(sub, document) for name, sub in schema.get("properties", {}).items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: value for name, value in properties.items() if name in required},
            optional={name: value for name, value in properties.items() if name not in required},
        )
    return ANY_JSON


def _document() -> dict[str, Any]:
    # The document needs no database: an app that is never started answers it.
    document: dict[str, Any] = create_app(Settings(env="test", database_url="sqlite+aiosqlite://")).openapi()
    return document


DOCUMENT = _document()
OPERATIONS = [
    (method, path, operation)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
]


def _body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    return media["schema"] if media else None


# --- the app under test ----------------------------------------------------------------------


class Harness:
    """The app on one SQLite database for the module, run from its own event loop."""

    def __init__(self, folder: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.settings = Settings(
            env="test",
            database_url=f"sqlite+aiosqlite:///{folder / 'fuzz.db'}",
            storage_dir=folder / "storage",
            driver_auto_approve=True,
            dispatch_loop=False,
            max_upload_mb=1,
            jwt_secret="fuzz-secret-" + "x" * 32,
        )
        self.run(reset_database(self.settings.database_url))
        self.app = create_app(platform=build_platform(self.settings))
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.run(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.api = Api(self.client, self.settings)
        self.ids: list[str] = self.run(self._seed())

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    async def _seed(self) -> list[str]:
        api = self.api
        await api.register_driver("fz-drv")
        open_order = await api.order("fz-cust")
        held = await api.order("fz-cust")
        await api.ok("PUT", f"/jobs/{held['id']}/accept", "fz-drv")
        method = await api.ok(
            "POST",
            "/payout-methods",
            "fz-drv",
            201,
            json={"type": "paypal", "details": {"email": "d@example.com"}},
        )
        upload = await api.upload("fz-cust", "proof", png_bytes())
        return [open_order["id"], held["id"], method["id"], upload["id"]]

    def headers(self, caller: str) -> dict[str, str]:
        return self.api.headers(caller, roles=CALLERS[caller])

    def close(self) -> None:
        self.run(self.client.aclose())
        self.run(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("fuzz"))
    yield harness
    harness.close()


# What fits in a URL (httpx refuses URLs over 64 KB); a long id is 1,000 characters.
URL_TEXT = st.one_of(ODD_TEXT.filter(lambda text: len(text) < 1000), st.just("x" * 1000))


def _path_value(ids: list[str]) -> st.SearchStrategy[str]:
    # Not "." or "..": the client resolves those dot segments away, to another path.
    return st.one_of(st.sampled_from(ids), URL_TEXT.filter(lambda text: text not in (".", "..")))


def _url_part(text: str) -> str:
    # A lone surrogate has no UTF-8; a client can still send the bytes it would have been.
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def check_rest(operation: dict[str, Any], response: httpx.Response) -> None:
    status = response.status_code
    assert status < 500, response.text[:500]
    if status < 400:
        return
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message"} <= set(error) and error["message"], error
    assert HTTP_STATUS[ErrorCode(error["code"])] == status, error
    assert str(status) in operation["responses"] or status in TRANSPORT_STATUSES, (status, error)


REST_IDS = [f"{method.upper()} {path}" for method, path, _ in OPERATIONS]


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=REST_IDS)
@EXAMPLES
@given(data=st.data())
def test_no_rest_request_is_a_server_error(
    harness: Harness, method: str, path: str, operation: dict[str, Any], data: st.DataObject
) -> None:
    url = path
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = data.draw(_path_value(harness.ids), label=parameter["name"])
            url = url.replace("{" + parameter["name"] + "}", _url_part(value))
    query = {
        parameter["name"]: data.draw(URL_TEXT | st.sampled_from(["1", "20", "101", "-1", "52.5"]))
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and data.draw(st.booleans())
    }
    if query:
        url += "?" + urlencode({key: value.encode("utf-8", "surrogatepass") for key, value in query.items()})
    schema = _body_schema(operation)
    valid = from_schema(schema, DOCUMENT) if schema else st.fixed_dictionaries({})
    raw = data.draw(
        st.one_of(
            shaped(valid).map(lambda body: json.dumps(body).encode()),
            valid.map(lambda body: json.dumps(body).encode()).flatmap(
                lambda text: st.integers(0, len(text)).map(lambda cut: text[:cut])
            ),
            st.binary(max_size=40),
        ),
        label="body",
    )
    headers = {
        **harness.headers(data.draw(st.sampled_from(list(CALLERS)))),
        "content-type": "application/json",
    }

    response = harness.run(harness.client.request(method, url, content=raw, headers=headers))

    check_rest(operation, response)


# --- GraphQL: variables for every query and mutation ------------------------------------------

SCHEMA = build_schema()._schema
SCALAR_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "String": st.text(max_size=30),
    "Int": st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "Float": st.floats(allow_nan=False, allow_infinity=False),
    "Boolean": st.booleans(),
    "DateTime": st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    "Date": st.dates().map(lambda day: day.isoformat()),
}


def from_graphql_type(kind: GraphQLInputType, ids: list[str]) -> st.SearchStrategy[Any]:
    """Values of a GraphQL input type; an ``ID`` is one of the seeded objects' or any text."""
    if isinstance(kind, GraphQLNonNull):
        return from_graphql_type(kind.of_type, ids)
    if isinstance(kind, GraphQLList):
        return st.lists(from_graphql_type(kind.of_type, ids), max_size=3)
    if isinstance(kind, GraphQLEnumType):
        return st.sampled_from(list(kind.values))
    if isinstance(kind, GraphQLInputObjectType):
        fields = {name: from_graphql_type(field.type, ids) for name, field in kind.fields.items()}
        required = {name for name, field in kind.fields.items() if isinstance(field.type, GraphQLNonNull)}
        return st.fixed_dictionaries(
            {name: value for name, value in fields.items() if name in required},
            optional={name: value for name, value in fields.items() if name not in required},
        )
    if isinstance(kind, GraphQLScalarType) and kind.name == "ID":
        return _path_value(ids)
    if isinstance(kind, GraphQLScalarType):
        return SCALAR_VALUES.get(kind.name, st.none())
    return st.none()


def _graphql_document(operation: str, name: str, field: GraphQLField) -> str:
    variables = ", ".join(f"${arg}: {spec.type}" for arg, spec in field.args.items())
    arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    call = f"{name}({arguments})" if arguments else name
    return f"{operation} Fuzz{f'({variables})' if variables else ''} {{ {call}{selection} }}"


GRAPHQL_OPERATIONS = [
    (operation, name, field)
    for operation, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type))
    if root is not None
    for name, field in root.fields.items()
]
CODES = {code.value for code in ErrorCode} - {ErrorCode.INTERNAL.value}


@pytest.mark.parametrize(
    ("operation", "name", "field"),
    GRAPHQL_OPERATIONS,
    ids=[f"{op} {name}" for op, name, _ in GRAPHQL_OPERATIONS],
)
@EXAMPLES
@given(data=st.data())
def test_no_graphql_operation_is_a_server_error(
    harness: Harness, operation: str, name: str, field: GraphQLField, data: st.DataObject
) -> None:
    valid = st.fixed_dictionaries(
        {arg: from_graphql_type(spec.type, harness.ids) for arg, spec in field.args.items()}
    )
    variables = data.draw(st.one_of(valid, shaped(valid)), label="variables")
    raw = json.dumps({"query": _graphql_document(operation, name, field), "variables": variables})
    headers = {
        **harness.headers(data.draw(st.sampled_from(list(CALLERS)))),
        "content-type": "application/json",
    }

    response = harness.run(harness.client.post("/graphql", content=raw.encode(), headers=headers))

    assert response.status_code < 500, response.text[:500]
    body = response.json()
    errors = body.get("errors") or []
    assert errors or (response.status_code == 200 and "data" in body), body
    for error in errors:
        assert error["message"] and error["extensions"]["code"] in CODES, error
        # A request refused before it ran answers its code's status, as REST does.
        if response.status_code != 200:
            assert HTTP_STATUS[ErrorCode(error["extensions"]["code"])] == response.status_code, error
