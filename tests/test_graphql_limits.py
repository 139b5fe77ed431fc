"""The GraphQL complexity limits (depth, aliases, tokens), introspection, GraphiQL, and a body that is not JSON."""

from __future__ import annotations

import pytest
from graphql import Lexer, Source, TokenKind, get_introspection_query

from logistics.config import Settings
from tests.factories import Api
from tests.graphql_helpers import GRAPHQL, ME, GraphQL, accepted_job

# --- complexity limits -----------------------------------------------------------------------------


def deep_introspection(levels: int) -> str:
    """A query ``levels`` deep: ``__schema { types { fields { type { fields { type ... }}}}}}``."""
    selection = "name"
    # __schema and types are two levels; each (fields, type) pair adds two.
    inner_levels = levels - 2
    chain = ["fields", "type"] * (inner_levels // 2) + (["fields"] if inner_levels % 2 else [])
    for field in reversed(chain):
        selection = f"{field} {{ name {selection} }}"
    return f"query Deep {{ init {{ user {{ id }} }} __schema {{ types {{ name {selection} }} }} }}"


def aliased_availability(count: int) -> str:
    fields = " ".join(f"a{n}: setAvailability(online: false) {{ online }}" for n in range(count))
    return f"mutation Aliases {{ {fields} }}"


def padded_availability(tokens: int) -> str:
    # ``__typename`` repeated is one token each and merges into one field: only the size grows.
    return "mutation Padded { setAvailability(online: false) { online } " + "__typename " * tokens + "}"


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


@pytest.fixture
def graphql_limits() -> dict[str, int]:
    """Overrides of the GraphQL limits; the default is the shipped configuration."""
    return {}


@pytest.fixture
def settings(settings: Settings, graphql_limits: dict[str, int]) -> Settings:
    return settings.model_copy(update=graphql_limits)


THREE_DEEP = "query { orders { items { timeline { status } } } }"
FOUR_DEEP = "query { orders { items { timeline { point { lat } } } } }"


@pytest.mark.parametrize("graphql_limits", [{"graphql_max_depth": 3}], ids=["max depth 3"])
async def test_a_query_at_the_depth_limit_runs_and_one_level_more_does_not(api: Api, gql: GraphQL) -> None:
    # The schema itself is shallow, so the boundary is shown with a lower configured limit.
    await api.order("cust-1")
    data = await gql.ok("cust-1", THREE_DEEP)
    assert data["orders"]["items"][0]["timeline"] == [{"status": "SEARCHING"}]
    error = await gql.error("cust-1", FOUR_DEEP)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["message"] == "the query is 4 levels deep; at most 3 are allowed"


async def test_a_query_deeper_than_twelve_levels_is_refused_unexecuted(gql: GraphQL) -> None:
    # Only introspection nests this deep here; graphql-core's own introspection limit refuses
    # it too, and both refusals carry the same code.
    body = await gql.post("cust-1", deep_introspection(13))
    assert body["data"] is None
    assert {error["extensions"]["code"] for error in body["errors"]} == {"QUERY_TOO_COMPLEX"}
    assert "the query is 13 levels deep; at most 12 are allowed" in [e["message"] for e in body["errors"]]


async def test_a_depth_hidden_in_fragments_still_counts(gql: GraphQL) -> None:
    query = """
    query Fragments { __schema { types { ...A } } }
    fragment A on __Type { fields { type { ...B } } }
    fragment B on __Type { fields { type { ...C } } }
    fragment C on __Type { fields { type { ...D } } }
    fragment D on __Type { fields { type { ...E } } }
    fragment E on __Type { fields { type { ...F } } }
    fragment F on __Type { fields { type { name } } }
    """
    body = await gql.post("cust-1", query)
    assert body["data"] is None
    assert {error["extensions"]["code"] for error in body["errors"]} == {"QUERY_TOO_COMPLEX"}
    assert any("14 levels deep" in error["message"] for error in body["errors"])


async def test_thirty_aliases_are_allowed(api: Api, gql: GraphQL) -> None:
    driver = await api.register_driver(online=True)
    data = await gql.ok(driver["sub"], aliased_availability(30))
    assert len(data) == 30


async def test_more_than_thirty_aliases_are_refused_unexecuted(api: Api, gql: GraphQL) -> None:
    # given an online driver
    driver = await api.register_driver(online=True)
    # when a document with 31 aliases would take it offline
    body = await gql.post(driver["sub"], aliased_availability(31))
    # then it is refused before anything runs
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["message"] == "the query uses 31 aliases; at most 30 are allowed"
    assert (await gql.ok(driver["sub"], ME))["me"]["online"] is True


async def test_more_than_two_thousand_tokens_are_refused_unexecuted(api: Api, gql: GraphQL) -> None:
    driver = await api.register_driver(online=True)
    document = padded_availability(2100)
    assert token_count(document) > 2000
    body = await gql.post(driver["sub"], document)
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == ["QUERY_TOO_COMPLEX"]
    assert (await gql.ok(driver["sub"], ME))["me"]["online"] is True


async def test_a_large_but_legitimate_document_under_the_token_limit_runs(api: Api, gql: GraphQL) -> None:
    # given an accepted job and a driver replaying a full batch of 100 points written inline
    driver, job_id = await accepted_job(api, gql)
    points = ", ".join(
        f"{{lat: {52.50 + n / 10000:.4f}, lng: 13.40, accuracyM: 5, headingDeg: 90, speedMps: 3}}"
        for n in range(100)
    )
    document = f'mutation Batch {{ reportTracking(jobId: "{job_id}", points: [{points}]) {{ accepted }} }}'
    assert 1500 < token_count(document) <= 2000
    # then it is answered
    data = await gql.ok(driver, document)
    assert data["reportTracking"]["accepted"] == 100


async def test_limits_apply_before_authentication(gql: GraphQL) -> None:
    # An anonymous caller cannot make the server work either.
    body = await gql.post(None, aliased_availability(31))
    assert [error["extensions"]["code"] for error in body["errors"]] == ["QUERY_TOO_COMPLEX"]


# --- introspection and GraphiQL -----------------------------------------------------------------


async def test_the_standard_introspection_query_is_accepted(gql: GraphQL) -> None:
    data = await gql.ok("cust-1", get_introspection_query(descriptions=True))
    schema = data["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert schema["mutationType"]["name"] == "Mutation"
    names = {t["name"] for t in schema["types"]}
    assert {"Job", "Money", "Upload", "JobStatus"} <= names


async def test_graphiql_is_served_to_a_browser(api: Api) -> None:
    response = await api.client.get(GRAPHQL, headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_a_request_body_that_is_not_json_gets_a_coded_json_error(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b"{not json",
        headers={**api.headers("customer-raw"), "content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
