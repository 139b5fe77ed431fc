"""Quotes: the service area, expiry and single use, the validated pass, and vehicle choice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, PARIS, Api, quote_body, stop
from tests.rest_helpers import error

POTSDAM = {"lat": 52.3906, "lng": 13.0645}  # just outside Berlin's service area


def items(*weights: float, size: str = "small") -> list[dict[str, Any]]:
    return [
        {"description": f"Parcel {n}", "quantity": 1, "weight_kg": w, "size": size}
        for n, w in enumerate(weights)
    ]


async def book(api: Api, customer: str, quote_id: str) -> Any:
    return await api.call("POST", "/orders", customer, json={"quote_id": quote_id, "payment_method": "cash"})


# --- the service area -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pickup", "dropoff"),
    [(PARIS, KREUZBERG), (ALEXANDERPLATZ, PARIS), (PARIS, PARIS), (POTSDAM, KREUZBERG)],
    ids=["pickup-in-paris", "dropoff-in-paris", "both-in-paris", "pickup-in-potsdam"],
)
@pytest.mark.parametrize("path", ["/quote", "/quote/validated"])
async def test_a_trip_outside_the_service_area_is_an_invalid_address(
    api: Api, path: str, pickup: dict[str, float], dropoff: dict[str, float]
) -> None:
    response = await api.call("POST", path, "cust-1", json=quote_body(pickup, dropoff))

    error(response, 422, "ADDRESS_INVALID")


async def test_a_merchant_job_outside_the_service_area_is_an_invalid_address(api: Api) -> None:
    body = quote_body(PARIS, KREUZBERG)

    response = await api.call("POST", "/jobs", "shop", json=body, roles=["merchant"])

    error(response, 422, "ADDRESS_INVALID")


# --- expiry and single use ------------------------------------------------------------------


async def test_a_quote_can_be_booked_until_it_expires(api: Api, clock: Clock) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    clock.advance(seconds=899)
    response = await book(api, "cust-1", quote["id"])

    assert response.status_code == 201, response.text
    assert response.json()["price"] == quote["price"]


@pytest.mark.parametrize("seconds", [900, 901, 86_400])
async def test_an_expired_quote_cannot_be_booked(api: Api, clock: Clock, seconds: int) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    clock.advance(seconds=seconds)
    response = await book(api, "cust-1", quote["id"])

    error(response, 409, "QUOTE_EXPIRED")
    assert (await api.ok("GET", "/orders", "cust-1"))["items"] == []


async def test_a_quote_is_booked_once(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    first = await book(api, "cust-1", quote["id"])
    assert first.status_code == 201, first.text

    second = await book(api, "cust-1", quote["id"])

    error(second, 409, "QUOTE_EXPIRED")
    assert [o["id"] for o in (await api.ok("GET", "/orders", "cust-1"))["items"]] == [first.json()["id"]]


async def test_a_failed_booking_does_not_use_up_the_quote(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    refused = await api.call(
        "POST",
        "/orders",
        "cust-1",
        json={"quote_id": quote["id"], "payment_method": "cash", "dropoff": {"address": {"line1": "x"}}},
    )
    error(refused, 422, "VALIDATION_FAILED")

    response = await book(api, "cust-1", quote["id"])

    assert response.status_code == 201, response.text


async def test_another_customers_quote_is_not_found(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    theirs = await book(api, "cust-2", quote["id"])
    missing = await book(api, "cust-2", "01aaaaaaaaaaaaaaaaaaaaaaaa")

    error(theirs, 404, "NOT_FOUND")
    assert theirs.json() == missing.json()
    # and the owner can still book it
    assert (await book(api, "cust-1", quote["id"])).status_code == 201


# --- the validated pass ---------------------------------------------------------------------


async def test_a_good_address_passes_every_check(api: Api) -> None:
    quote = await api.ok("POST", "/quote/validated", "cust-1", 201, json=quote_body())

    assert quote["validated"] is True
    assert quote["checks"], "the checks that were made are listed"
    assert all(check["ok"] for check in quote["checks"]), quote["checks"]
    fields = {check["field"] for check in quote["checks"]}
    assert {"pickup.address.postcode", "dropoff.address.postcode"} <= fields
    assert sum(line["amount"]["amount"] for line in quote["breakdown"]) == quote["price"]["amount"]
    # a validated quote books like any other
    order = await api.ok(
        "POST", "/orders", "cust-1", 201, json={"quote_id": quote["id"], "payment_method": "cash"}
    )
    assert order["price"] == quote["price"]


async def test_a_plain_quote_is_not_validated(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    assert quote["validated"] is False
    assert not quote.get("checks")


@pytest.mark.parametrize("postcode", ["1234", "ABCDE", "99999", "101780"])
async def test_a_postcode_that_is_not_german_fails_validation(api: Api, postcode: str) -> None:
    body = quote_body()
    body["dropoff"] = stop(KREUZBERG, line1="Oranienstrasse 10", postcode=postcode)

    response = await api.call("POST", "/quote/validated", "cust-1", json=body)

    checks = error(response, 422, "ADDRESS_INVALID")["details"]["checks"]
    assert [check["field"] for check in checks] == ["dropoff.address.postcode"]
    assert checks[0]["ok"] is False and checks[0]["message"]


async def test_a_bad_postcode_passes_the_plain_quote(api: Api) -> None:
    body = quote_body()
    body["dropoff"] = stop(KREUZBERG, line1="Oranienstrasse 10", postcode="1234")

    quote = await api.ok("POST", "/quote", "cust-1", 201, json=body)

    assert quote["validated"] is False


async def test_the_same_pickup_and_dropoff_fails_validation(api: Api) -> None:
    body = quote_body()
    body["dropoff"] = body["pickup"]

    response = await api.call("POST", "/quote/validated", "cust-1", json=body)

    checks = error(response, 422, "ADDRESS_INVALID")["details"]["checks"]
    assert checks and all(check["ok"] is False for check in checks)
    assert any(check["field"].startswith("dropoff") for check in checks)


async def test_a_foreign_address_on_berlin_coordinates_fails_validation(api: Api) -> None:
    body = quote_body()
    body["pickup"]["address"].update(country="FR", postcode="75001")

    response = await api.call("POST", "/quote/validated", "cust-1", json=body)

    checks = error(response, 422, "ADDRESS_INVALID")["details"]["checks"]
    assert {check["field"] for check in checks} >= {"pickup.address.country"}


async def test_every_failing_check_is_reported(api: Api) -> None:
    body = quote_body()
    body["pickup"]["address"]["postcode"] = "0000"
    body["dropoff"]["address"]["postcode"] = "xyz"

    response = await api.call("POST", "/quote/validated", "cust-1", json=body)

    checks = error(response, 422, "ADDRESS_INVALID")["details"]["checks"]
    assert {check["field"] for check in checks} == {"pickup.address.postcode", "dropoff.address.postcode"}


# --- vehicles and prices --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vehicle_type", "parcel"),
    [
        ("bicycle", items(30)),
        ("motorbike", items(15, 15)),
        ("car", items(200)),
        ("bicycle", items(1, size="large")),
        ("car", items(1, size="xlarge")),
    ],
)
async def test_a_vehicle_too_small_for_the_items_is_refused(
    api: Api, vehicle_type: str, parcel: list[dict[str, Any]]
) -> None:
    response = await api.call(
        "POST", "/quote", "cust-1", json=quote_body(items=parcel, vehicle_type=vehicle_type)
    )

    assert "vehicle_type" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]


async def test_items_no_vehicle_can_carry_are_refused(api: Api) -> None:
    response = await api.call("POST", "/quote", "cust-1", json=quote_body(items=items(900)))

    assert "items" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]


async def test_quantity_counts_towards_the_weight(api: Api) -> None:
    many = [{"description": "Bottle crate", "quantity": 4, "weight_kg": 8, "size": "small"}]

    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body(items=many))

    assert quote["vehicle_type"] == "car"  # 32 kg: more than a bicycle or a motorbike carries


async def test_heavier_items_take_a_bigger_vehicle_and_cost_more(api: Api) -> None:
    quotes = [
        await api.ok("POST", "/quote", "cust-1", 201, json=quote_body(items=items(weight)))
        for weight in (4, 15, 100, 400)
    ]

    assert [q["vehicle_type"] for q in quotes] == ["bicycle", "motorbike", "car", "van"]
    prices = [q["price"]["amount"] for q in quotes]
    assert prices == sorted(prices) and len(set(prices)) == 4
    assert all(
        sum(line["amount"]["amount"] for line in q["breakdown"]) == q["price"]["amount"] for q in quotes
    )


async def test_a_bigger_vehicle_may_be_asked_for_and_costs_more(api: Api) -> None:
    smallest = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    van = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body(vehicle_type="van"))

    assert smallest["vehicle_type"] == "bicycle"
    assert van["vehicle_type"] == "van"
    assert van["price"]["amount"] > smallest["price"]["amount"]


async def test_large_items_carry_a_surcharge(api: Api) -> None:
    small = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body(items=items(5), vehicle_type="car"))
    large = await api.ok(
        "POST", "/quote", "cust-1", 201, json=quote_body(items=items(5, size="large"), vehicle_type="car")
    )

    assert large["price"]["amount"] > small["price"]["amount"]
    assert "size_surcharge" in {line["code"] for line in large["breakdown"]}
    assert "size_surcharge" not in {line["code"] for line in small["breakdown"]}


async def test_a_longer_trip_costs_more(api: Api) -> None:
    near = await api.ok(
        "POST", "/quote", "cust-1", 201, json=quote_body(ALEXANDERPLATZ, {"lat": 52.515, "lng": 13.41})
    )
    far = await api.ok(
        "POST", "/quote", "cust-1", 201, json=quote_body(ALEXANDERPLATZ, {"lat": 52.43, "lng": 13.30})
    )

    assert far["distance_m"] > near["distance_m"]
    assert far["duration_s"] > near["duration_s"]
    assert far["price"]["amount"] > near["price"]["amount"]


async def test_a_quote_in_the_past_is_refused(api: Api, clock: Clock) -> None:
    past = clock.now.replace(year=clock.now.year - 1).isoformat()

    response = await api.call("POST", "/quote", "cust-1", json=quote_body(scheduled_at=past))

    assert "scheduled_at" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
