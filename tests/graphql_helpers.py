"""Posting documents to /graphql as a user, and the documents and inputs several GraphQL tests share."""

from __future__ import annotations

import io
import json
from typing import Any

from tests.factories import Api, quote_body

GRAPHQL = "/graphql"

STOP_FIELDS = """
  address { line1 line2 city postcode country }
  point { lat lng }
  contact { name phone }
  instructions
"""
JOB_FIELDS = (
    """
fragment JobFields on Job {
  id status customerId driverId createdBy notes
  pickup { ...StopFields }
  dropoff { ...StopFields }
  items { description quantity weightKg size }
  vehicleType
  price { amount currency }
  breakdown { code label amount { amount currency } }
  driverEarnings { amount currency }
  payment { method status }
  timeline { status actor point { lat lng } recordedAt note }
  cancellation { by reason fee { amount currency } }
  driver { id name vehicle { type make } rating }
  distanceM
  eta { pickupAt dropoffAt seconds }
}
fragment StopFields on Stop {"""
    + STOP_FIELDS
    + "}"
)

CREATE_QUOTE = """
mutation CreateQuote($input: QuoteInput!) {
  createQuote(input: $input) {
    id price { amount currency } driverEarnings { amount currency }
    distanceM durationS vehicleType expiresAt validated
  }
}
"""
CREATE_ORDER = (
    """
mutation CreateOrder($input: OrderInput!) { createOrder(input: $input) { ...JobFields } }
"""
    + JOB_FIELDS
)
CANCEL_ORDER = """
mutation CancelOrder($jobId: ID!, $reason: String) {
  cancelOrder(jobId: $jobId, reason: $reason) { id status }
}
"""
UPDATE_LOCATION = """
mutation UpdateLocation($input: LocationReportInput!) { updateLocation(input: $input) }
"""
ACCEPT_JOB = (
    """
mutation AcceptJob($jobId: ID!) { acceptJob(jobId: $jobId) { ...JobFields } }
"""
    + JOB_FIELDS
)
# The seven driver steps share one shape: ``step(jobId, input: {point, recordedAt?, note?})``.
STEPS = (
    "startPickup",
    "arrivePickup",
    "completePickup",
    "startDropoff",
    "arriveDropoff",
    "completeDropoff",
    "completeJob",
)
STEP_MUTATIONS = {
    step: f"""
mutation Step($jobId: ID!, $input: TransitionInput) {{ {step}(jobId: $jobId, input: $input) {{ ...JobFields }} }}
"""
    + JOB_FIELDS
    for step in STEPS
}
TRACK_ORDER = """
query TrackOrder($jobId: ID!) {
  trackOrder(jobId: $jobId) {
    jobId status
    eta { pickupAt dropoffAt seconds }
    driver { name vehicle { type } rating point { lat lng } recordedAt stale }
    timeline { status actor point { lat lng } }
  }
}
"""
ORDERS = """
query Orders($status: JobStatus) {
  orders(status: $status) { items { id status price { amount currency } } nextCursor }
}
"""
JOB = (
    """
query Job($id: ID!) { job(id: $id) { ...JobFields } }
"""
    + JOB_FIELDS
)
ORDER = (
    """
query Order($id: ID!) { order(id: $id) { ...JobFields } }
"""
    + JOB_FIELDS
)
ME = """
query Me { me { id status name online completedJobs vehicle { type } } }
"""
INIT = """
query Init {
  init {
    user { id name }
    isDriver
    driver { id status }
    payment { methods currency }
    region { id currency country proofOfDelivery vehicleTypes { type maxWeightKg maxSize } }
  }
}
"""


class GraphQL:
    """Posts documents to /graphql as a given user."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def post(
        self,
        sub: str | None,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        roles: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        request_headers = {**(self.api.headers(sub, roles=roles) if sub else {}), **(headers or {})}
        response = await self.api.client.post(
            GRAPHQL, json={"query": query, "variables": variables or {}}, headers=request_headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(self, sub: str, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
        body = await self.post(sub, query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def error(
        self, sub: str | None, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """The one error of a failed operation."""
        body = await self.post(sub, query, variables, **kw)
        assert body.get("data") is None, body
        [error] = body["errors"]
        result: dict[str, Any] = error
        return result

    async def multipart(
        self, sub: str, query: str, variables: dict[str, Any], files: dict[str, tuple[str, bytes, str]]
    ) -> dict[str, Any]:
        """The GraphQL multipart request spec: ``operations``, ``map`` and one part per file.

        Strawberry keeps multipart off unless the server enables it (it is a CSRF vector:
        a browser form may post multipart cross-site without a preflight). Our requests carry
        ``Authorization``, which no cross-site form can set, so a preflight always happens.
        """
        operations = {"query": query, "variables": {**variables, **dict.fromkeys(files)}}
        mapping = {str(n): [f"variables.{name}"] for n, name in enumerate(files)}
        parts = {
            str(n): (filename, io.BytesIO(data), content_type)
            for n, (filename, data, content_type) in enumerate(files.values())
        }
        response = await self.api.client.post(
            GRAPHQL,
            data={"operations": json.dumps(operations), "map": json.dumps(mapping)},
            files=parts,
            headers=self.api.headers(sub),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def quote_input(**extra: Any) -> dict[str, Any]:
    """``quote_body`` in GraphQL's spelling: camelCase fields, enum names."""
    body = quote_body(**extra)
    return {
        "pickup": body["pickup"],
        "dropoff": body["dropoff"],
        "items": [
            {
                "description": item["description"],
                "quantity": item["quantity"],
                "weightKg": item["weight_kg"],
                "size": item["size"].upper(),
            }
            for item in body["items"]
        ],
    }


async def order_over_graphql(gql: GraphQL, customer: str) -> dict[str, Any]:
    quote = (await gql.ok(customer, CREATE_QUOTE, {"input": quote_input()}))["createQuote"]
    data = await gql.ok(customer, CREATE_ORDER, {"input": {"quoteId": quote["id"], "paymentMethod": "CASH"}})
    order: dict[str, Any] = data["createOrder"]
    return order


async def accepted_job(api: Api, gql: GraphQL, customer: str = "cust-1") -> tuple[str, str]:
    driver = await api.register_driver()
    order = await order_over_graphql(gql, customer)
    await gql.ok(driver["sub"], ACCEPT_JOB, {"jobId": order["id"]})
    return driver["sub"], order["id"]
