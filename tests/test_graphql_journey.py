"""The core journey over POST /graphql, end to end, with photos sent as multipart uploads."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import Clock
from tests.factories import KREUZBERG, MITTE, Api, png_bytes
from tests.graphql_helpers import (
    ACCEPT_JOB,
    CREATE_ORDER,
    CREATE_QUOTE,
    GRAPHQL,
    INIT,
    JOB,
    JOB_FIELDS,
    ME,
    ORDER,
    ORDERS,
    STEP_MUTATIONS,
    TRACK_ORDER,
    UPDATE_LOCATION,
    GraphQL,
    accepted_job,
    quote_input,
)

REGISTER_DRIVER = """
mutation RegisterDriver($input: RegisterDriverInput!) {
  registerDriver(input: $input) { id status name phone vehicle { type make model plate color } online completedJobs }
}
"""
SET_AVAILABILITY = """
mutation SetAvailability($online: Boolean!) { setAvailability(online: $online) { online since } }
"""
AVAILABLE_JOBS = (
    """
query AvailableJobs($lat: Float, $lng: Float, $radiusM: Int) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) { items { ...JobFields } nextCursor }
}
"""
    + JOB_FIELDS
)
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
JOBS = """
query Jobs($status: JobListFilter!) { jobs(status: $status) { items { id status driverId } nextCursor } }
"""


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
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert (await gql.ok(driver, JOB_IMAGES, {"jobId": job_id}))["jobImages"]["items"] == []


@pytest.mark.parametrize("not_a_file", [False, "aGVsbG8=", {"name": "proof.png"}])
async def test_a_file_variable_that_is_not_a_file_part_is_validation_failed(
    api: Api, gql: GraphQL, not_a_file: Any
) -> None:
    # Strawberry's Upload took any value, and the resolver failed reading it (INTERNAL).
    driver, job_id = await accepted_job(api, gql)

    error = await gql.error(
        driver, ADD_JOB_IMAGE_FILE, {"jobId": job_id, "kind": "PICKUP", "file": not_a_file}
    )

    assert error["extensions"]["code"] == "VALIDATION_FAILED"
    assert "file" in error["extensions"]["details"]["fields"]


async def test_track_order_beside_order_in_one_document_each_read_whole(api: Api, gql: GraphQL) -> None:
    """A tracking poll reads only the columns it shows; a field that needs the whole order,
    before or after it in the same operation (one session), still gets all of it."""
    _, job_id = await accepted_job(api, gql)
    order = "order(id: $id) { id items { description } pickup { address { line1 } } price { amount } }"
    track = "trackOrder(jobId: $id) { status driver { name } timeline { status } }"
    for first, second in ((track, order), (order, track)):
        data = await gql.ok("cust-1", f"query($id: ID!) {{ {first} {second} }}", {"id": job_id})
        assert data["order"]["items"] == [{"description": "Box of books"}]
        assert data["trackOrder"]["status"] == "ACCEPTED"
        assert data["trackOrder"]["driver"]["name"].startswith("Driver ")
