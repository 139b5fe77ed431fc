"""GraphQL errors: the codes in ``extensions.code``, one transaction per operation, the unexpected masked."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.resolvers import orders as order_resolvers
from tests.factories import KREUZBERG, MITTE, Api
from tests.graphql_helpers import (
    ACCEPT_JOB,
    CREATE_ORDER,
    CREATE_QUOTE,
    GRAPHQL,
    INIT,
    JOB,
    ME,
    ORDER,
    ORDERS,
    STEP_MUTATIONS,
    STEPS,
    TRACK_ORDER,
    UPDATE_LOCATION,
    GraphQL,
    accepted_job,
    quote_input,
)

ORDER_THEN_CANCEL_UNKNOWN = """
mutation OrderThenFail($input: OrderInput!, $missing: ID!) {
  createOrder(input: $input) { id status }
  cancelOrder(jobId: $missing) { id }
}
"""
GO_OFFLINE_THEN_FAIL = """
mutation OfflineThenFail($missing: ID!) {
  setAvailability(online: false) { online }
  acceptJob(jobId: $missing) { id }
}
"""
ORDERS_AND_INIT = """
query OrdersAndInit { init { user { id } } orders { items { id } } }
"""


# --- error codes -------------------------------------------------------------------------------


async def test_an_unknown_id_is_not_found(gql: GraphQL) -> None:
    for query, variables in (
        (ORDER, {"id": "nope"}),
        (JOB, {"id": "nope"}),
        (TRACK_ORDER, {"jobId": "nope"}),
    ):
        error = await gql.error("cust-1", query, variables)
        assert error["extensions"]["code"] == "NOT_FOUND"
    error = await gql.error("cust-1", ME)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["me"]


async def test_an_illegal_step_is_an_invalid_transition_naming_the_allowed_ones(
    api: Api, gql: GraphQL
) -> None:
    driver, job_id = await accepted_job(api, gql)
    error = await gql.error(
        driver, STEP_MUTATIONS["completePickup"], {"jobId": job_id, "input": {"point": MITTE}}
    )
    assert error["extensions"]["code"] == "INVALID_TRANSITION"
    assert error["extensions"]["details"] == {
        "status": "accepted",
        "allowed": ["pickup_started", "cancelled"],
    }
    assert error["path"] == ["completePickup"]


async def test_repeating_the_last_step_changes_nothing(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    variables = {"jobId": job_id, "input": {"point": MITTE}}
    first = (await gql.ok(driver, STEP_MUTATIONS["startPickup"], variables))["startPickup"]
    again = (await gql.ok(driver, STEP_MUTATIONS["startPickup"], variables))["startPickup"]
    assert again["timeline"] == first["timeline"]


async def test_completing_the_dropoff_without_a_photo_needs_proof(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    for step in STEPS[:5]:
        await gql.ok(driver, STEP_MUTATIONS[step], {"jobId": job_id, "input": {"point": KREUZBERG}})
    error = await gql.error(
        driver, STEP_MUTATIONS["completeDropoff"], {"jobId": job_id, "input": {"point": KREUZBERG}}
    )
    assert error["extensions"]["code"] == "PROOF_REQUIRED"


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        pytest.param(UPDATE_LOCATION, {"input": {"lat": 200, "lng": 13.4}}, "lat", id="location lat 200"),
        pytest.param(UPDATE_LOCATION, {"input": {"lat": 52.5, "lng": -181}}, "lng", id="location lng -181"),
        pytest.param(UPDATE_LOCATION, {"input": {**MITTE, "speedMps": -1}}, "speedMps", id="negative speed"),
    ],
)
async def test_an_out_of_range_input_is_validation_failed_with_the_field(
    api: Api, gql: GraphQL, query: str, variables: dict[str, Any], field: str
) -> None:
    driver = await api.register_driver(at=MITTE)
    error = await gql.error(driver["sub"], query, variables)
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert field in error["extensions"]["details"]["fields"]
    # and the driver's stored position is still the last good one (the feed searches from it)
    assert (await api.ok("GET", "/jobs/available", driver["sub"]))["items"] == []


async def test_an_invalid_nested_input_names_every_bad_field_by_its_path(gql: GraphQL) -> None:
    # given a quote whose pickup latitude and dropoff longitude are both out of range
    bad = quote_input()
    bad["pickup"] = {**bad["pickup"], "point": {"lat": 200, "lng": 13.4}}
    bad["dropoff"] = {**bad["dropoff"], "point": {"lat": 52.5, "lng": 500}}
    error = await gql.error("cust-1", CREATE_QUOTE, {"input": bad})
    # then both are named, each by where it is
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert set(error["extensions"]["details"]["fields"]) == {"pickup.point.lat", "dropoff.point.lng"}


async def test_an_invalid_step_point_is_validation_failed(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    error = await gql.error(
        driver, STEP_MUTATIONS["startPickup"], {"jobId": job_id, "input": {"point": {"lat": 91, "lng": 0}}}
    )
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert set(error["extensions"]["details"]["fields"]) == {"point.lat"}
    assert (await gql.ok(driver, JOB, {"id": job_id}))["job"]["status"] == "ACCEPTED"


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        pytest.param(ORDERS, {"status": "NOT_A_STATUS"}, "status", id="unknown enum value"),
        pytest.param(ORDER, {}, "id", id="missing variable"),
        pytest.param(UPDATE_LOCATION, {"input": {"lat": "north", "lng": 13.4}}, "input.lat", id="wrong type"),
        pytest.param(
            UPDATE_LOCATION,
            {"input": {**MITTE, "recordedAt": "yesterday"}},
            "input.recordedAt",
            id="bad date-time",
        ),
        pytest.param(
            CREATE_QUOTE,
            {"input": {**quote_input(), "items": [{"description": "Box", "size": "HUGE"}]}},
            "input.items.0.size",
            id="nested enum",
        ),
    ],
)
async def test_variables_that_do_not_fit_their_types_are_validation_failed(
    gql: GraphQL, query: str, variables: dict[str, Any], field: str
) -> None:
    error = await gql.error("cust-1", query, variables)
    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert list(error["extensions"]["details"]["fields"]) == [field]


async def test_a_document_that_does_not_fit_the_schema_is_validation_failed(gql: GraphQL) -> None:
    for document in (
        "query { orders { items { nope } } }",
        'query { orders(limit: "many") { items { id } } }',
        "query { orders { items { id }",
        "mutation { nope }",
    ):
        error = await gql.error("cust-1", document)
        assert error["extensions"]["code"] == "VALIDATION_FAILED", document


async def test_the_second_driver_to_accept_gets_offer_taken(api: Api, gql: GraphQL) -> None:
    # given a job one driver has just taken
    first, job_id = await accepted_job(api, gql)
    second = await api.register_driver()
    # when another driver, who saw it in the feed, tries to take it too
    error = await gql.error(second["sub"], ACCEPT_JOB, {"jobId": job_id})
    # then it is OFFER_TAKEN and the job stays with the first driver
    assert error["extensions"]["code"] == "OFFER_TAKEN"
    job = (await gql.ok(first, JOB, {"id": job_id}))["job"]
    assert [entry["status"] for entry in job["timeline"]] == ["SEARCHING", "ACCEPTED"]


async def test_accepting_twice_is_a_retry_not_an_error(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    again = (await gql.ok(driver, ACCEPT_JOB, {"jobId": job_id}))["acceptJob"]
    assert again["status"] == "ACCEPTED"
    assert [entry["status"] for entry in again["timeline"]] == ["SEARCHING", "ACCEPTED"]


async def test_without_a_token_every_field_is_unauthenticated(gql: GraphQL) -> None:
    for query, variables in ((INIT, None), (ORDERS, None), (CREATE_QUOTE, {"input": quote_input()})):
        error = await gql.error(None, query, variables)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_bad_token_is_unauthenticated(gql: GraphQL) -> None:
    error = await gql.error(None, INIT, headers={"Authorization": "Bearer not.a.token"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# --- one transaction per operation ---------------------------------------------------------------


async def test_a_failing_mutation_rolls_back_the_whole_operation(gql: GraphQL) -> None:
    # given a quote
    quote = (await gql.ok("cust-1", CREATE_QUOTE, {"input": quote_input()}))["createQuote"]
    order_input = {"quoteId": quote["id"], "paymentMethod": "CASH"}
    # when one document books it and then fails on an unknown order
    body = await gql.post("cust-1", ORDER_THEN_CANCEL_UNKNOWN, {"input": order_input, "missing": "nope"})
    # then the failure is reported
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
    assert [error["path"] for error in body["errors"]] == [["cancelOrder"]]
    # and nothing of the booking was committed: no order, and the quote is still unused
    assert (await gql.ok("cust-1", ORDERS))["orders"]["items"] == []
    order = (await gql.ok("cust-1", CREATE_ORDER, {"input": order_input}))["createOrder"]
    assert order["status"] == "SEARCHING"
    assert [o["id"] for o in (await gql.ok("cust-1", ORDERS))["orders"]["items"]] == [order["id"]]


async def test_a_rolled_back_operation_does_not_report_its_first_mutation_as_done(gql: GraphQL) -> None:
    # A client must not believe in an order that was rolled back.
    quote = (await gql.ok("cust-1", CREATE_QUOTE, {"input": quote_input()}))["createQuote"]
    body = await gql.post(
        "cust-1",
        ORDER_THEN_CANCEL_UNKNOWN,
        {"input": {"quoteId": quote["id"], "paymentMethod": "CASH"}, "missing": "nope"},
    )
    assert body["data"] is None


async def test_a_rolled_back_driver_mutation_leaves_the_driver_as_it_was(api: Api, gql: GraphQL) -> None:
    driver = await api.register_driver(online=True)
    body = await gql.post(driver["sub"], GO_OFFLINE_THEN_FAIL, {"missing": "nope"})
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
    assert (await gql.ok(driver["sub"], ME))["me"]["online"] is True


async def test_an_idempotent_order_over_graphql_is_booked_once(gql: GraphQL) -> None:
    quote = (await gql.ok("cust-1", CREATE_QUOTE, {"input": quote_input()}))["createQuote"]
    variables = {"input": {"quoteId": quote["id"], "paymentMethod": "CASH"}}
    headers = {"Idempotency-Key": "order-once"}
    first = (await gql.ok("cust-1", CREATE_ORDER, variables, headers=headers))["createOrder"]
    second = (await gql.ok("cust-1", CREATE_ORDER, variables, headers=headers))["createOrder"]
    assert first["id"] == second["id"]
    assert len((await gql.ok("cust-1", ORDERS))["orders"]["items"]) == 1


# --- the unexpected is masked --------------------------------------------------------------------


async def test_an_unexpected_exception_is_masked_as_internal(
    gql: GraphQL, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a resolver that breaks with a secret in its message
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("connection string postgres://admin:hunter2@db")

    monkeypatch.setattr(order_resolvers, "list_orders", broken)
    # when a client asks for it
    response = await gql.api.client.post(
        GRAPHQL, json={"query": ORDERS_AND_INIT}, headers=gql.api.headers("cust-1")
    )
    # then it sees INTERNAL, without the message or a stack trace
    body = response.json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "INTERNAL"}
    assert error["message"] == "an unexpected error occurred"
    assert error["path"] == ["orders"]
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    # while the operators' log has the whole story
    assert any("hunter2" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)
