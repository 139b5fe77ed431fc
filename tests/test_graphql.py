"""The GraphQL edge at POST /graphql: the core journey end to end, error codes in
``extensions.code``, one transaction per operation, masking of the unexpected, the
complexity limits, introspection and GraphiQL. Each test posts a module-level document."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from graphql import Lexer, Source, TokenKind, get_introspection_query

from logistics.config import Settings
from logistics.resolvers import orders as order_resolvers
from tests.conftest import Clock
from tests.factories import KREUZBERG, MITTE, Api, png_bytes, quote_body

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
REGISTER_DRIVER = """
mutation RegisterDriver($input: RegisterDriverInput!) {
  registerDriver(input: $input) { id status name phone vehicle { type make model plate color } online completedJobs }
}
"""
SET_AVAILABILITY = """
mutation SetAvailability($online: Boolean!) { setAvailability(online: $online) { online since } }
"""
UPDATE_LOCATION = """
mutation UpdateLocation($input: LocationReportInput!) { updateLocation(input: $input) }
"""
AVAILABLE_JOBS = (
    """
query AvailableJobs($lat: Float, $lng: Float, $radiusM: Int) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) { items { ...JobFields } nextCursor }
}
"""
    + JOB_FIELDS
)
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
REPORT_TRACKING = """
mutation ReportTracking($jobId: ID!, $points: [LocationReportInput!]!) {
  reportTracking(jobId: $jobId, points: $points) { accepted eta { seconds dropoffAt } }
}
"""
ADD_JOB_IMAGE = """
mutation AddJobImage($jobId: ID!, $kind: ImageKind!, $uploadId: ID) {
  addJobImage(jobId: $jobId, kind: $kind, uploadId: $uploadId) {
    id kind url contentType size sha256 uploadedBy createdAt
  }
}
"""
ADD_JOB_IMAGE_FILE = """
mutation AddJobImageFile($jobId: ID!, $kind: ImageKind!, $file: Upload!) {
  addJobImage(jobId: $jobId, kind: $kind, file: $file) {
    id kind url contentType size sha256 uploadedBy createdAt
  }
}
"""
JOB_IMAGES = """
query JobImages($jobId: ID!) { jobImages(jobId: $jobId) { items { id kind sha256 uploadedBy } nextCursor } }
"""
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
JOBS = """
query Jobs($status: JobListFilter!) { jobs(status: $status) { items { id status driverId } nextCursor } }
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


# --- helpers ------------------------------------------------------------------------------------


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


@pytest.fixture
def gql(api: Api) -> GraphQL:
    return GraphQL(api)


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


async def register_input(api: Api, sub: str) -> dict[str, Any]:
    licence = await api.upload(sub, "licence")
    insurance = await api.upload(sub, "insurance")
    expires = (date.today() + timedelta(days=365)).isoformat()
    return {
        "name": f"Driver {sub}",
        "phone": "+49 30 7654321",
        "vehicle": {"type": "CAR", "make": "VW", "model": "Caddy", "plate": "B-LG 123", "color": "white"},
        "licence": {"number": "B123456", "expiresOn": expires, "uploadId": licence["id"]},
        "insurance": {
            "provider": "Allianz",
            "policyNumber": "P-1",
            "expiresOn": expires,
            "uploadId": insurance["id"],
        },
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


# --- the journey ---------------------------------------------------------------------------------


async def test_the_core_journey_over_graphql(api: Api, gql: GraphQL, clock: Clock) -> None:
    customer, driver = "cust-gql", "drv-gql"

    # A customer prices a trip and books it.
    quote = (await gql.ok(customer, CREATE_QUOTE, {"input": quote_input()}))["createQuote"]
    assert quote["validated"] is False
    assert quote["price"]["currency"] == "EUR" and quote["price"]["amount"] > 0
    assert quote["vehicleType"] == "BICYCLE"
    order = (
        await gql.ok(
            customer,
            CREATE_ORDER,
            {"input": {"quoteId": quote["id"], "paymentMethod": "CASH", "notes": "Fragile"}},
        )
    )["createOrder"]
    assert order["status"] == "SEARCHING"
    assert order["price"] == quote["price"]
    assert order["customerId"] == customer
    assert order["createdBy"] == "CUSTOMER"
    assert order["notes"] == "Fragile"
    assert order["payment"] == {"method": "CASH", "status": "UNPAID"}
    assert order["pickup"]["contact"] == {"name": "Kim Example", "phone": "+49 30 1234567"}
    assert [entry["status"] for entry in order["timeline"]] == ["SEARCHING"]
    job_id = order["id"]

    # A new driver registers with documents uploaded over REST, goes online and reports a position.
    registered = (await gql.ok(driver, REGISTER_DRIVER, {"input": await register_input(api, driver)}))[
        "registerDriver"
    ]
    assert registered["status"] == "APPROVED"  # the test settings approve at once
    assert registered["vehicle"]["type"] == "CAR"
    assert registered["online"] is False
    availability = (await gql.ok(driver, SET_AVAILABILITY, {"online": True}))["setAvailability"]
    assert availability["online"] is True and availability["since"] is not None
    assert (await gql.ok(driver, UPDATE_LOCATION, {"input": {**MITTE, "accuracyM": 5}}))[
        "updateLocation"
    ] is True

    # The job is in the driver's feed, without the customer's contacts.
    feed = (await gql.ok(driver, AVAILABLE_JOBS))["availableJobs"]
    [listed] = feed["items"]
    assert listed["id"] == job_id
    assert listed["pickup"]["contact"] is None and listed["dropoff"]["contact"] is None
    assert listed["distanceM"] < 1000  # from Mitte to Alexanderplatz
    assert listed["driverEarnings"] == order["driverEarnings"]

    # The driver takes it and now sees who to meet.
    accepted = (await gql.ok(driver, ACCEPT_JOB, {"jobId": job_id}))["acceptJob"]
    assert accepted["status"] == "ACCEPTED"
    assert accepted["driverId"] == registered["id"]
    assert accepted["pickup"]["contact"] == order["pickup"]["contact"]
    assert (await gql.ok(driver, AVAILABLE_JOBS))["availableJobs"]["items"] == []

    # Pickup: three steps, each with the driver's position, and a photo sent as a multipart Upload.
    for step in ("startPickup", "arrivePickup"):
        clock.advance(minutes=3)
        moved = (await gql.ok(driver, STEP_MUTATIONS[step], {"jobId": job_id, "input": {"point": MITTE}}))[
            step
        ]
    assert moved["status"] == "PICKUP_ARRIVED"
    photo = png_bytes(3, 3)
    uploaded = await gql.multipart(
        driver,
        ADD_JOB_IMAGE_FILE,
        {"jobId": job_id, "kind": "PICKUP"},
        {"file": ("pickup.png", photo, "image/png")},
    )
    assert "errors" not in uploaded, uploaded
    pickup_photo = uploaded["data"]["addJobImage"]
    assert pickup_photo["kind"] == "PICKUP"
    assert pickup_photo["sha256"] == hashlib.sha256(photo).hexdigest()
    assert pickup_photo["size"] == len(photo)
    assert pickup_photo["contentType"] == "image/png"
    assert pickup_photo["uploadedBy"] == "driver"
    moved = (
        await gql.ok(
            driver,
            STEP_MUTATIONS["completePickup"],
            {"jobId": job_id, "input": {"point": MITTE, "note": "two boxes"}},
        )
    )["completePickup"]
    assert moved["timeline"][-1] == {
        "status": "PICKUP_COMPLETED",
        "actor": "DRIVER",
        "point": MITTE,
        "recordedAt": None,
        "note": "two boxes",
    }

    # On the way: the GPS trail moves the driver the customer tracks.
    clock.advance(minutes=2)
    await gql.ok(driver, STEP_MUTATIONS["startDropoff"], {"jobId": job_id, "input": {"point": MITTE}})
    halfway = {"lat": 52.51, "lng": 13.408}
    recorded = (clock.now - timedelta(seconds=5)).isoformat()
    tracked = (
        await gql.ok(
            driver,
            REPORT_TRACKING,
            {"jobId": job_id, "points": [{**halfway, "recordedAt": recorded, "speedMps": 6.5}]},
        )
    )["reportTracking"]
    assert tracked["accepted"] == 1
    assert tracked["eta"]["seconds"] > 0
    tracking = (await gql.ok(customer, TRACK_ORDER, {"jobId": job_id}))["trackOrder"]
    assert tracking["status"] == "DROPOFF_STARTED"
    assert tracking["driver"]["point"] == halfway
    assert tracking["driver"]["stale"] is False
    assert tracking["driver"]["name"] == f"Driver {driver}"
    assert tracking["eta"]["seconds"] > 0

    # Dropoff: proof of delivery from an upload made over REST, then the last three steps.
    await gql.ok(driver, STEP_MUTATIONS["arriveDropoff"], {"jobId": job_id, "input": {"point": KREUZBERG}})
    proof_upload = await api.upload(driver, "proof")
    proof = (
        await gql.ok(
            driver, ADD_JOB_IMAGE, {"jobId": job_id, "kind": "DROPOFF", "uploadId": proof_upload["id"]}
        )
    )["addJobImage"]
    assert proof["kind"] == "DROPOFF"
    assert proof["sha256"] == proof_upload["sha256"]
    await gql.ok(driver, STEP_MUTATIONS["completeDropoff"], {"jobId": job_id, "input": {"point": KREUZBERG}})
    clock.advance(minutes=1)
    done = (
        await gql.ok(driver, STEP_MUTATIONS["completeJob"], {"jobId": job_id, "input": {"point": KREUZBERG}})
    )["completeJob"]
    assert done["status"] == "COMPLETED"
    assert [entry["status"] for entry in done["timeline"]] == [
        "SEARCHING",
        "ACCEPTED",
        "PICKUP_STARTED",
        "PICKUP_ARRIVED",
        "PICKUP_COMPLETED",
        "DROPOFF_STARTED",
        "DROPOFF_ARRIVED",
        "DROPOFF_COMPLETED",
        "COMPLETED",
    ]
    assert done["eta"] is None

    # Afterwards both sides read the same job from their own lists.
    images = (await gql.ok(customer, JOB_IMAGES, {"jobId": job_id}))["jobImages"]["items"]
    assert [(image["kind"], image["uploadedBy"]) for image in images] == [
        ("PICKUP", "driver"),
        ("DROPOFF", "driver"),
    ]
    orders = (await gql.ok(customer, ORDERS))["orders"]
    assert [(o["id"], o["status"]) for o in orders["items"]] == [(job_id, "COMPLETED")]
    assert (await gql.ok(customer, ORDERS, {"status": "SEARCHING"}))["orders"]["items"] == []
    as_order = (await gql.ok(customer, ORDER, {"id": job_id}))["order"]
    as_job = (await gql.ok(driver, JOB, {"id": job_id}))["job"]
    assert as_order["timeline"] == as_job["timeline"]
    assert as_job["driver"]["id"] == registered["id"]
    assert (await gql.ok(driver, JOBS, {"status": "ACTIVE"}))["jobs"]["items"] == []
    completed = (await gql.ok(driver, JOBS, {"status": "COMPLETED"}))["jobs"]["items"]
    assert completed == [{"id": job_id, "status": "COMPLETED", "driverId": registered["id"]}]
    me = (await gql.ok(driver, ME))["me"]
    assert me == {
        "id": registered["id"],
        "status": "APPROVED",
        "name": f"Driver {driver}",
        "online": True,
        "completedJobs": 1,
        "vehicle": {"type": "CAR"},
    }
    init = (await gql.ok(driver, INIT))["init"]
    assert init["user"] == {"id": driver, "name": f"User {driver}"}
    assert init["isDriver"] is True
    assert init["driver"] == {"id": registered["id"], "status": "APPROVED"}
    assert init["region"]["currency"] == "EUR"
    customer_init = (await gql.ok(customer, INIT))["init"]
    assert customer_init["isDriver"] is False and customer_init["driver"] is None


async def test_graphql_and_rest_show_the_same_job(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    over_graphql = (await gql.ok(driver, JOB, {"id": job_id}))["job"]
    over_rest = await api.ok("GET", f"/jobs/{job_id}", driver)
    assert over_graphql["id"] == over_rest["id"]
    assert over_graphql["status"] == over_rest["status"].upper()
    assert over_graphql["price"] == over_rest["price"]
    assert over_graphql["driverEarnings"] == over_rest["driver_earnings"]
    assert over_graphql["pickup"]["point"] == over_rest["pickup"]["point"]
    assert over_graphql["distanceM"] == over_rest["distance_m"]


async def test_a_customer_adds_a_damage_photo_as_a_multipart_upload(api: Api, gql: GraphQL) -> None:
    _driver, job_id = await accepted_job(api, gql, customer="cust-1")
    photo = png_bytes(4, 4)
    body = await gql.multipart(
        "cust-1",
        ADD_JOB_IMAGE_FILE,
        {"jobId": job_id, "kind": "DAMAGE"},
        {"file": ("dent.png", photo, "image/png")},
    )
    assert "errors" not in body, body
    image = body["data"]["addJobImage"]
    assert (image["kind"], image["uploadedBy"]) == ("DAMAGE", "customer")
    assert image["sha256"] == hashlib.sha256(photo).hexdigest()
    content = await api.client.get(image["url"], headers=api.headers("cust-1"))
    assert content.status_code == 200 and content.content == photo


async def test_a_multipart_upload_that_is_not_an_image_is_refused(api: Api, gql: GraphQL) -> None:
    driver, job_id = await accepted_job(api, gql)
    body = await gql.multipart(
        driver,
        ADD_JOB_IMAGE_FILE,
        {"jobId": job_id, "kind": "PICKUP"},
        {"file": ("x.png", b"plain text", "image/png")},
    )
    assert [error["extensions"]["code"] for error in body["errors"]] == ["VALIDATION_FAILED"]
    assert (await gql.ok(driver, JOB_IMAGES, {"jobId": job_id}))["jobImages"]["items"] == []


async def post_file(api: Api, sub: str, job_id: str, data: bytes) -> Any:
    return await api.client.post(
        GRAPHQL,
        data={
            "operations": json.dumps(
                {"query": ADD_JOB_IMAGE_FILE, "variables": {"jobId": job_id, "kind": "PICKUP", "file": None}}
            ),
            "map": json.dumps({"0": ["variables.file"]}),
        },
        files={"0": ("big.png", io.BytesIO(data), "image/png")},
        headers=api.headers(sub),
    )


async def test_a_multipart_file_over_the_upload_limit_is_payload_too_large(api: Api, gql: GraphQL) -> None:
    # given a file a little over the limit (the request itself is still let in)
    driver, job_id = await accepted_job(api, gql)
    too_big = png_bytes() + b"\0" * (api.settings.max_upload_mb * 1024 * 1024)
    response = await post_file(api, driver, job_id, too_big)
    assert response.status_code == 200, response.text
    assert [error["extensions"]["code"] for error in response.json()["errors"]] == ["PAYLOAD_TOO_LARGE"]
    assert (await gql.ok(driver, JOB_IMAGES, {"jobId": job_id}))["jobImages"]["items"] == []


async def test_a_multipart_request_far_over_the_limit_is_cut_off_before_parsing(
    api: Api, gql: GraphQL
) -> None:
    driver, job_id = await accepted_job(api, gql)
    response = await post_file(api, driver, job_id, png_bytes() + b"\0" * (3 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (await gql.ok(driver, JOB_IMAGES, {"jobId": job_id}))["jobImages"]["items"] == []


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

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "VALIDATION_FAILED"
