"""The cost of a GraphQL query, counted with every fragment spread expanded: a small document
that expands to millions of fields is refused at once, and the server keeps answering."""

from __future__ import annotations

import asyncio

import pytest
from graphql import get_introspection_query

from tests.factories import Api
from tests.graphql_helpers import GraphQL


def doubling_fragments(count: int) -> str:
    """``count`` fragments, each spreading the next one twice: 2**count fields from ~1 KB."""
    fragments = " ".join(
        f"fragment F{n} on Init {{ ...F{n + 1} ...F{n + 1} user {{ id }} }}" for n in range(count)
    )
    return f"query {{ init {{ ...F0 }} }} {fragments} fragment F{count} on Init {{ user {{ id }} }}"


def wide_fragments(width: int) -> str:
    """``width`` fragments each spreading ``width`` others: width**2 copies of a small field set."""
    outer = " ".join(f"...W{n}" for n in range(width))
    inner = " ".join(f"...X{n}" for n in range(width))
    walls = " ".join(f"fragment W{n} on Init {{ {inner} }}" for n in range(width))
    leaves = " ".join(f"fragment X{n} on Init {{ user {{ id name }} }}" for n in range(width))
    return f"query {{ init {{ {outer} }} }} {walls} {leaves}"


def of_type_chain(length: int) -> str:
    return "query { __schema { types { " + "ofType { " * length + "name" + " }" * length + " } } }"


def codes(body: dict[str, object]) -> set[str]:
    errors = body["errors"]
    assert isinstance(errors, list)
    return {error["extensions"]["code"] for error in errors}


@pytest.mark.parametrize("document", [doubling_fragments(23), doubling_fragments(60), wide_fragments(27)])
async def test_fragments_that_expand_past_the_field_limit_are_refused(gql: GraphQL, document: str) -> None:
    # given a document well under the token limit whose fragments expand to a huge selection
    assert len(document) < 8_000
    # when it is posted, then it is refused without running
    body = await gql.post("cust-1", document)
    assert body["data"] is None
    assert codes(body) == {"QUERY_TOO_COMPLEX"}
    assert any("once its fragments are expanded" in e["message"] for e in body["errors"])  # type: ignore[union-attr]


async def test_the_service_keeps_answering_while_an_expensive_query_is_refused(
    api: Api, gql: GraphQL
) -> None:
    # when the doubling query and a health probe are sent together
    expensive = asyncio.ensure_future(gql.post("cust-1", doubling_fragments(40)))
    health = await api.client.get("/healthz")
    # then both get their answer: the probe is not stuck behind the query
    assert health.status_code == 200
    assert codes(await expensive) == {"QUERY_TOO_COMPLEX"}


async def test_an_of_type_chain_cannot_dodge_the_depth_limit(gql: GraphQL) -> None:
    body = await gql.post("cust-1", of_type_chain(60))
    assert codes(body) == {"QUERY_TOO_COMPLEX"}
    assert any("ofType is nested 60 deep" in e["message"] for e in body["errors"])  # type: ignore[union-attr]


async def test_a_few_fragments_used_many_times_within_the_limit_still_run(gql: GraphQL) -> None:
    # given fragments spread 2**8 times over: 511 fields, under the default limit of 2,000
    data = await gql.ok("cust-1", doubling_fragments(8))
    assert data["init"]["user"]["id"] == "cust-1"


async def test_graphiqls_full_introspection_query_is_within_every_limit(gql: GraphQL) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    data = await gql.ok("cust-1", query)
    assert data["__schema"]["queryType"]["name"] == "Query"
