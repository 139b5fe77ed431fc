"""The core loop over REST, from both sides: a customer quotes, orders and tracks; a driver
registers, goes online, finds the job in the feed, walks it through every step and is done."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from logistics.models import LocationPoint
from logistics.platform import Platform
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api, png_bytes, quote_body

STEPS = [
    ("start-pickup", "pickup_started"),
    ("arrive-pickup", "pickup_arrived"),
    ("complete-pickup", "pickup_completed"),
    ("start-dropoff", "dropoff_started"),
    ("arrive-dropoff", "dropoff_arrived"),
    ("complete-dropoff", "dropoff_completed"),
    ("complete", "completed"),
]
# A route from Alexanderplatz to Kreuzberg, one point per step.
ROUTE = [
    {"lat": 52.5219, "lng": 13.4132},
    {"lat": 52.5218, "lng": 13.4131},
    {"lat": 52.5217, "lng": 13.4130},
    {"lat": 52.5100, "lng": 13.4090},
    {"lat": 52.4987, "lng": 13.4031},
    {"lat": 52.4986, "lng": 13.4030},
    {"lat": 52.4986, "lng": 13.4030},
]


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    assert body["message"]
    return body


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def add_dropoff_photo(api: Api, driver: str, job_id: str) -> dict[str, Any]:
    return await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("door.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "dropoff"},
    )


# --- quotes and orders --------------------------------------------------------------------


async def test_a_quote_itemises_its_price(api: Api, clock: Clock) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    assert quote["validated"] is False
    assert quote["price"]["currency"] == "EUR"
    assert isinstance(quote["price"]["amount"], int) and quote["price"]["amount"] > 0
    assert sum(line["amount"]["amount"] for line in quote["breakdown"]) == quote["price"]["amount"]
    assert {line["amount"]["currency"] for line in quote["breakdown"]} == {"EUR"}
    assert all(line["code"] and line["label"] for line in quote["breakdown"])
    assert quote["distance_m"] > 0 and quote["duration_s"] > 0
    assert quote["vehicle_type"] == "bicycle"  # a 4 kg box fits the smallest vehicle
    assert when(quote["expires_at"]) == clock.now + timedelta(seconds=900)


async def test_a_cash_order_searches_at_the_quotes_price_whatever_the_client_sends(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    order = await api.ok(
        "POST",
        "/orders",
        "cust-1",
        201,
        json={
            "quote_id": quote["id"],
            "payment_method": "cash",
            "notes": "Leave it with the neighbour",
            "price": {"amount": 1, "currency": "EUR"},
            "driver_earnings": {"amount": 99999, "currency": "EUR"},
        },
    )

    assert order["status"] == "searching"
    assert order["price"] == quote["price"]
    assert order["breakdown"] == quote["breakdown"]
    assert order["driver_earnings"] == quote["driver_earnings"]
    assert order["payment"] == {"method": "cash", "status": "unpaid"}
    assert order["customer_id"] == "cust-1"
    assert order["created_by"] == "customer"
    assert order["driver_id"] is None and order["driver"] is None
    assert order["notes"] == "Leave it with the neighbour"
    assert order["vehicle_type"] == quote["vehicle_type"]
    assert [(row["status"], row["actor"]) for row in order["timeline"]] == [("searching", "customer")]
    # The customer sees its own order, with contacts.
    assert order["pickup"]["contact"]["name"] == "Kim Example"
    fetched = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert fetched["id"] == order["id"] and fetched["price"] == quote["price"]


async def test_an_order_may_change_the_quotes_contacts_and_instructions(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    porter = {"name": "Pat Porter", "phone": "+49 30 111222"}

    order = await api.ok(
        "POST",
        "/orders",
        "cust-1",
        201,
        json={
            "quote_id": quote["id"],
            "payment_method": "cash",
            "pickup": {"contact": porter, "instructions": "Ask at the desk"},
        },
    )

    assert order["pickup"]["contact"] == porter
    assert order["pickup"]["instructions"] == "Ask at the desk"
    assert order["pickup"]["address"]["line1"] == "Alexanderplatz 1"
    assert order["dropoff"]["contact"]["name"] == "Kim Example"
    assert order["price"] == quote["price"]


async def test_an_order_keeps_its_price_even_when_the_client_claims_another(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    order = await api.ok(
        "POST", "/orders", "cust-1", 201, json={"quote_id": quote["id"], "payment_method": "cash"}
    )
    listed = await api.ok("GET", "/orders", "cust-1")

    assert [o["price"] for o in listed["items"]] == [quote["price"]]
    assert order["price"] == quote["price"]


# --- identity and registration ------------------------------------------------------------


async def test_init_and_me_before_and_after_registering(api: Api) -> None:
    # given a user who has not registered as a driver
    response = await api.call("GET", "/me", "someone")
    error(response, 404, "NOT_FOUND")
    init = await api.ok("GET", "/init", "someone")
    assert init["user"]["id"] == "someone"
    assert init["is_driver"] is False and init["driver"] is None
    assert init["region"]["currency"] == "EUR"
    assert init["region"]["country"] == "DE"
    assert init["region"]["proof_of_delivery"] == "photo"
    assert init["region"]["service_area"]["type"] == "Polygon"
    assert {v["type"] for v in init["region"]["vehicle_types"]} == {"bicycle", "motorbike", "car", "van"}
    assert "cash" in init["payment"]["methods"]
    assert init["payment"]["currency"] == "EUR"

    # when they register
    driver = await api.register_driver("someone")

    # then they are a driver everywhere
    me = await api.ok("GET", "/me", "someone")
    assert me["id"] == driver["id"]
    init = await api.ok("GET", "/init", "someone")
    assert init["is_driver"] is True
    assert init["driver"]["id"] == driver["id"]


async def test_a_driver_registers_with_uploaded_documents_and_goes_online(api: Api) -> None:
    licence = await api.upload("drv", "licence")
    insurance = await api.upload("drv", "insurance")
    expires = "2099-01-01"

    driver = await api.ok(
        "POST",
        "/register",
        "drv",
        201,
        json={
            "name": "Dana Driver",
            "phone": "+49 30 7654321",
            "vehicle": {"type": "car", "make": "VW", "model": "Golf", "plate": "B-X 1", "color": "red"},
            "licence": {"number": "L-1", "expires_on": expires, "upload_id": licence["id"]},
            "insurance": {
                "provider": "Allianz",
                "policy_number": "P-9",
                "expires_on": expires,
                "upload_id": insurance["id"],
            },
        },
    )

    assert driver["status"] == "approved"  # LOGISTICS_DRIVER_AUTO_APPROVE in tests
    assert driver["name"] == "Dana Driver"
    assert driver["vehicle"]["type"] == "car"
    assert driver["online"] is False
    assert driver["completed_jobs"] == 0
    assert driver["rating"] is None

    availability = await api.ok("PUT", "/availability", "drv", json={"online": True})
    assert availability["online"] is True and availability["since"] is not None
    await api.ok("PUT", "/location", "drv", 204, json=MITTE)
    assert (await api.ok("GET", "/me", "drv"))["online"] is True


async def test_registering_with_expired_or_foreign_documents_is_refused(api: Api) -> None:
    mine = await api.upload("drv", "licence")
    theirs = await api.upload("other", "insurance")

    response = await api.call(
        "POST",
        "/register",
        "drv",
        json={
            "name": "Dana Driver",
            "phone": "+49 30 7654321",
            "vehicle": {"type": "car"},
            "licence": {"number": "L-1", "expires_on": "2001-01-01", "upload_id": mine["id"]},
            "insurance": {
                "provider": "Allianz",
                "policy_number": "P-9",
                "expires_on": "2099-01-01",
                "upload_id": theirs["id"],
            },
        },
    )

    fields = error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
    assert "licence.expires_on" in fields
    assert "insurance.upload_id" in fields
    error(await api.call("GET", "/me", "drv"), 404, "NOT_FOUND")


async def test_an_older_location_report_is_ignored(api: Api, clock: Clock) -> None:
    driver = await api.register_driver(at=MITTE)
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    earlier = (clock.now - timedelta(minutes=1)).isoformat()

    await api.ok("PUT", "/location", driver["sub"], 204, json={**KREUZBERG, "recorded_at": earlier})

    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["driver"]["point"] == MITTE


# --- the driver's feed ----------------------------------------------------------------------


async def test_the_feed_lists_open_jobs_nearest_first_without_contacts(api: Api) -> None:
    # given a driver at Mitte and two open jobs, one picked up nearby and one further away
    driver = await api.register_driver(at=MITTE)
    far = await api.order("cust-1", pickup=KREUZBERG, dropoff=ALEXANDERPLATZ)
    near = await api.order("cust-2", pickup=ALEXANDERPLATZ, dropoff=KREUZBERG)

    # when the driver looks at the feed
    feed = await api.ok("GET", "/jobs/available", driver["sub"])

    # then the nearer pickup comes first, with its distance to pickup and the driver's earnings
    assert [job["id"] for job in feed["items"]] == [near["id"], far["id"]]
    distances = [job["distance_m"] for job in feed["items"]]
    assert distances == sorted(distances)
    assert 500 < distances[0] < 1000  # Mitte -> Alexanderplatz, as the crow flies
    assert 2000 < distances[1] < 3000  # Mitte -> Kreuzberg
    assert [job["driver_earnings"] for job in feed["items"]] == [
        near["driver_earnings"],
        far["driver_earnings"],
    ]
    assert feed["next_cursor"] is None
    # and nobody's phone number before the job is taken
    for job in feed["items"]:
        assert job["pickup"]["contact"] is None
        assert job["dropoff"]["contact"] is None
        assert job["pickup"]["address"]["city"] == "Berlin"
    seen = await api.ok("GET", f"/jobs/{near['id']}", driver["sub"])
    assert seen["pickup"]["contact"] is None

    # a position passed explicitly wins over the stored one
    from_kreuzberg = await api.ok("GET", "/jobs/available", driver["sub"], params=KREUZBERG)
    assert [job["id"] for job in from_kreuzberg["items"]] == [far["id"], near["id"]]
    # and the radius bounds the feed
    tight = await api.ok("GET", "/jobs/available", driver["sub"], params={"radius_m": 1500})
    assert [job["id"] for job in tight["items"]] == [near["id"]]


async def test_a_drivers_own_order_is_not_in_their_feed(api: Api) -> None:
    # given a driver who also orders a delivery as a customer
    driver = await api.register_driver("kim", at=MITTE)
    own = await api.order("kim")
    theirs = await api.order("cust-1")

    # when the driver looks at the feed
    feed = await api.ok("GET", "/jobs/available", driver["sub"])

    # then only jobs it may accept are offered
    assert [job["id"] for job in feed["items"]] == [theirs["id"]]
    error(await api.call("PUT", f"/jobs/{own['id']}/accept", driver["sub"]), 403, "FORBIDDEN")


async def test_the_feed_pages_by_cursor(api: Api) -> None:
    driver = await api.register_driver(at=MITTE)
    ids = {(await api.order(f"cust-{n}"))["id"] for n in range(3)}

    first = await api.ok("GET", "/jobs/available", driver["sub"], params={"limit": 2})
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = await api.ok(
        "GET", "/jobs/available", driver["sub"], params={"limit": 2, "cursor": first["next_cursor"]}
    )
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert {job["id"] for job in first["items"] + second["items"]} == ids


# --- the whole loop -----------------------------------------------------------------------


async def test_the_whole_delivery_from_both_sides(api: Api, clock: Clock) -> None:
    # given a driver online at Mitte and a customer who orders with cash
    driver = await api.register_driver(at=MITTE)
    sub = driver["sub"]
    order = await api.order("cust-1")
    job_id = order["id"]

    # while searching the customer sees an ETA for the trip alone and no driver
    track = await api.ok("GET", f"/orders/{job_id}/track", "cust-1")
    assert track["job_id"] == job_id and track["status"] == "searching"
    assert track["driver"] is None
    assert track["eta"]["pickup_at"] is None and track["eta"]["seconds"] > 0
    assert [row["status"] for row in track["timeline"]] == ["searching"]

    # when the driver accepts
    feed = await api.ok("GET", "/jobs/available", sub)
    assert [job["id"] for job in feed["items"]] == [job_id]
    job = await api.ok("PUT", f"/jobs/{job_id}/accept", sub)

    # then the job is the driver's, with the customer's contacts, and leaves the feed
    assert job["status"] == "accepted"
    assert job["driver_id"] == driver["id"]
    assert job["driver"]["id"] == driver["id"] and job["driver"]["name"] == driver["name"]
    assert job["pickup"]["contact"] == {"name": "Kim Example", "phone": "+49 30 1234567"}
    assert job["dropoff"]["contact"]["name"] == "Kim Example"
    assert (await api.ok("GET", "/jobs/available", sub))["items"] == []
    active = await api.ok("GET", "/jobs", sub, params={"status": "active"})
    assert [j["id"] for j in active["items"]] == [job_id]

    # and the customer sees the driver coming, with a pickup time
    track = await api.ok("GET", f"/orders/{job_id}/track", "cust-1")
    assert track["status"] == "accepted"
    assert track["driver"]["name"] == driver["name"]
    assert track["driver"]["vehicle"]["type"] == "car"
    assert track["driver"]["point"] == MITTE
    assert track["driver"]["stale"] is False
    assert track["eta"]["pickup_at"] is not None

    # when the driver walks every step, reporting where it is
    for (step, status), point in zip(STEPS, ROUTE, strict=True):
        clock.advance(minutes=2)
        if step == "start-dropoff":
            report = {**point, "accuracy_m": 8, "heading_deg": 180, "speed_mps": 6.5}
            result = await api.ok("PUT", f"/jobs/{job_id}/tracking", sub, json=report)
            assert result["accepted"] == 1
            assert result["eta"]["seconds"] > 0
        if step == "complete-dropoff":
            photo = await add_dropoff_photo(api, sub, job_id)
            assert photo["kind"] == "dropoff" and photo["uploaded_by"] == "driver"
        job = await api.ok("PUT", f"/jobs/{job_id}/{step}", sub, json={"point": point})

        # then each step moves the job and the customer follows it
        assert job["status"] == status
        assert job["timeline"][-1]["status"] == status
        assert job["timeline"][-1]["point"] == point
        assert job["timeline"][-1]["actor"] == "driver"
        track = await api.ok("GET", f"/orders/{job_id}/track", "cust-1")
        assert track["status"] == status
        assert [row["status"] for row in track["timeline"]] == [row["status"] for row in job["timeline"]]
        if status != "completed":
            assert track["eta"]["dropoff_at"] is not None
            if status in ("pickup_completed", "dropoff_started", "dropoff_arrived", "dropoff_completed"):
                assert track["eta"]["pickup_at"] is None  # the pickup is behind us

    # then it is completed, with the full timeline, and counted for the driver
    assert [row["status"] for row in job["timeline"]] == ["searching", "accepted"] + [s for _, s in STEPS]
    assert job["eta"] is None
    assert track["eta"] is None
    assert (await api.ok("GET", "/me", sub))["completed_jobs"] == 1
    order_seen = await api.ok("GET", f"/jobs/{job_id}", "cust-1")
    assert order_seen["status"] == "completed"
    assert order_seen["price"] == order["price"]
    completed = await api.ok("GET", "/jobs", sub, params={"status": "completed"})
    assert [j["id"] for j in completed["items"]] == [job_id]
    assert (await api.ok("GET", "/jobs", sub, params={"status": "active"}))["items"] == []
    images = await api.ok("GET", f"/jobs/{job_id}/images", "cust-1")
    assert [image["kind"] for image in images["items"]] == ["dropoff"]


async def test_tracking_moves_the_driver_and_goes_stale(api: Api, clock: Clock) -> None:
    driver = await api.register_driver(at=MITTE)
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])

    # when the driver reports one position
    clock.advance(seconds=30)
    here = {"lat": 52.5150, "lng": 13.4100}
    result = await api.ok(
        "PUT", f"/jobs/{order['id']}/tracking", driver["sub"], json={**here, "accuracy_m": 5}
    )

    # then the customer sees it, fresh
    assert result == {"accepted": 1, "eta": result["eta"]}
    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["driver"]["point"] == here
    assert when(track["driver"]["recorded_at"]) == clock.now
    assert track["driver"]["stale"] is False
    assert track["eta"]["seconds"] == result["eta"]["seconds"]

    # and once the driver goes quiet for long, the position is flagged stale
    clock.advance(minutes=5)
    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["driver"]["point"] == here
    assert track["driver"]["stale"] is True


async def test_a_tracking_batch_is_replayed_in_recorded_order(
    api: Api, clock: Clock, platform: Platform
) -> None:
    driver = await api.register_driver(at=MITTE)
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    start = clock.now
    first = {"lat": 52.5190, "lng": 13.4110, "recorded_at": (start + timedelta(seconds=10)).isoformat()}
    middle = {"lat": 52.5195, "lng": 13.4120, "recorded_at": (start + timedelta(seconds=20)).isoformat()}
    last = {"lat": 52.5200, "lng": 13.4130, "recorded_at": (start + timedelta(seconds=30)).isoformat()}

    # when a device back online sends its points out of order
    clock.advance(minutes=1)
    result = await api.ok(
        "PUT", f"/jobs/{order['id']}/tracking", driver["sub"], json={"points": [last, first, middle]}
    )

    # then every point is taken and the latest by device time is where the driver is
    assert result["accepted"] == 3
    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["driver"]["point"] == {"lat": last["lat"], "lng": last["lng"]}
    assert when(track["driver"]["recorded_at"]) == start + timedelta(seconds=30)

    # and a late single report from before that is stored but does not move the driver back
    result = await api.ok("PUT", f"/jobs/{order['id']}/tracking", driver["sub"], json=first)
    assert result["accepted"] == 1
    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["driver"]["point"] == {"lat": last["lat"], "lng": last["lng"]}
    async with platform.db.session(write=False) as session:
        query = select(LocationPoint).where(col(LocationPoint.job_id) == order["id"])
        trail = (await session.execute(query.order_by(col(LocationPoint.recorded_at)))).scalars().all()
    assert [(p.lat, p.recorded_at) for p in trail] == [
        (first["lat"], start + timedelta(seconds=10)),
        (first["lat"], start + timedelta(seconds=10)),
        (middle["lat"], start + timedelta(seconds=20)),
        (last["lat"], start + timedelta(seconds=30)),
    ]


async def test_a_tracking_batch_holds_1_to_100_points(api: Api) -> None:
    driver = await api.register_driver(at=MITTE)
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    path = f"/jobs/{order['id']}/tracking"

    full = await api.ok("PUT", path, driver["sub"], json={"points": [KREUZBERG] * 100})
    too_many = await api.call("PUT", path, driver["sub"], json={"points": [KREUZBERG] * 101})
    empty = await api.call("PUT", path, driver["sub"], json={"points": []})

    assert full["accepted"] == 100
    for response in (too_many, empty):
        fields = error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
        assert any(name.endswith("points") for name in fields), fields


# --- lists ----------------------------------------------------------------------------------


async def test_orders_are_listed_newest_first_page_by_page(api: Api) -> None:
    ids = [(await api.order("cust-1"))["id"] for _ in range(3)]
    await api.order("cust-2")  # somebody else's

    first = await api.ok("GET", "/orders", "cust-1", params={"limit": 2})
    second = await api.ok("GET", "/orders", "cust-1", params={"limit": 2, "cursor": first["next_cursor"]})

    assert [o["id"] for o in first["items"]] == ids[::-1][:2]
    assert first["next_cursor"]
    assert [o["id"] for o in second["items"]] == ids[:1]
    assert second["next_cursor"] is None
    everything = await api.ok("GET", "/orders", "cust-1")
    assert [o["id"] for o in everything["items"]] == ids[::-1]
    assert everything["next_cursor"] is None
    searching = await api.ok("GET", "/orders", "cust-1", params={"status": "searching"})
    assert len(searching["items"]) == 3
    assert (await api.ok("GET", "/orders", "cust-1", params={"status": "completed"}))["items"] == []


async def test_a_drivers_jobs_filter_by_status_and_page(api: Api) -> None:
    driver = await api.register_driver()
    sub = driver["sub"]
    done = (await api.order("cust-1"))["id"]
    await api.ok("PUT", f"/jobs/{done}/accept", sub)
    await api.walk_to(sub, done, "complete")
    active = []
    for _ in range(2):
        job_id = (await api.order("cust-1"))["id"]
        await api.ok("PUT", f"/jobs/{job_id}/accept", sub)
        active.append(job_id)
    await api.order("cust-1")  # open, not the driver's

    listed = await api.ok("GET", "/jobs", sub)  # active by default
    assert [j["id"] for j in listed["items"]] == active[::-1]
    by_status = {
        status: [j["id"] for j in (await api.ok("GET", "/jobs", sub, params={"status": status}))["items"]]
        for status in ("active", "completed", "all")
    }
    assert by_status == {"active": active[::-1], "completed": [done], "all": [*active[::-1], done]}

    page = await api.ok("GET", "/jobs", sub, params={"status": "all", "limit": 2})
    rest = await api.ok(
        "GET", "/jobs", sub, params={"status": "all", "limit": 2, "cursor": page["next_cursor"]}
    )
    assert [j["id"] for j in page["items"] + rest["items"]] == by_status["all"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize("limit", [0, 101, -1])
@pytest.mark.parametrize("path", ["/orders", "/jobs", "/jobs/available"])
async def test_a_limit_outside_1_to_100_is_refused(api: Api, path: str, limit: int) -> None:
    driver = await api.register_driver("drv")

    response = await api.call("GET", path, driver["sub"], params={"limit": limit})

    body = error(response, 422, "VALIDATION_FAILED")
    assert "limit" in body["details"]["fields"]


@pytest.mark.parametrize("limit", [1, 100])
async def test_the_limits_bounds_are_allowed(api: Api, limit: int) -> None:
    await api.order("cust-1")
    listed = await api.ok("GET", "/orders", "cust-1", params={"limit": limit})
    assert len(listed["items"]) == 1


async def test_a_cursor_that_is_not_ours_is_refused(api: Api) -> None:
    response = await api.call("GET", "/orders", "cust-1", params={"cursor": "%%%not-a-cursor"})
    error(response, 422, "VALIDATION_FAILED")


# --- changing and cancelling ----------------------------------------------------------------


async def test_the_customer_changes_notes_and_contacts(api: Api) -> None:
    order = await api.order("cust-1")

    changed = await api.ok(
        "PUT",
        f"/orders/{order['id']}",
        "cust-1",
        json={
            "notes": "Fragile",
            "dropoff": {
                "contact": {"name": "Robin Neighbour", "phone": "+49 30 999999"},
                "instructions": "3rd floor",
            },
        },
    )

    assert changed["notes"] == "Fragile"
    assert changed["dropoff"]["contact"] == {"name": "Robin Neighbour", "phone": "+49 30 999999"}
    assert changed["dropoff"]["instructions"] == "3rd floor"
    assert changed["dropoff"]["address"] == order["dropoff"]["address"]
    assert changed["pickup"] == order["pickup"]
    assert changed["price"] == order["price"]
    again = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert again["notes"] == "Fragile" and again["dropoff"]["instructions"] == "3rd floor"


async def test_a_new_address_needs_a_new_quote(api: Api) -> None:
    order = await api.order("cust-1")
    new_address = {"line1": "Somewhere 5", "city": "Berlin", "postcode": "10115", "country": "DE"}

    response = await api.call(
        "PUT", f"/orders/{order['id']}", "cust-1", json={"dropoff": {"address": new_address}}
    )

    error(response, 422, "VALIDATION_FAILED")
    moved = await api.call("PUT", f"/orders/{order['id']}", "cust-1", json={"pickup": {"point": MITTE}})
    error(moved, 422, "VALIDATION_FAILED")
    unchanged = await api.ok("GET", f"/jobs/{order['id']}", "cust-1")
    assert unchanged["dropoff"]["address"] == order["dropoff"]["address"]
    assert unchanged["pickup"]["point"] == order["pickup"]["point"]


async def test_after_pickup_only_the_dropoff_details_change(api: Api) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await api.walk_to(driver["sub"], order["id"], "complete-pickup")

    pickup = await api.call(
        "PUT", f"/orders/{order['id']}", "cust-1", json={"pickup": {"instructions": "late"}}
    )
    dropoff = await api.ok(
        "PUT", f"/orders/{order['id']}", "cust-1", json={"dropoff": {"instructions": "Leave at door"}}
    )

    assert error(pickup, 409, "INVALID_TRANSITION")["details"]["status"] == "pickup_completed"
    assert dropoff["dropoff"]["instructions"] == "Leave at door"
    # and the driver sees the new instructions
    job = await api.ok("GET", f"/jobs/{order['id']}", driver["sub"])
    assert job["dropoff"]["instructions"] == "Leave at door"


async def test_a_finished_order_no_longer_changes(api: Api) -> None:
    order = await api.order("cust-1")
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})

    response = await api.call("PUT", f"/orders/{order['id']}", "cust-1", json={"notes": "too late"})

    assert error(response, 409, "INVALID_TRANSITION")["details"]["allowed"] == []
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-1"))["notes"] is None


async def test_a_scheduled_time_in_the_past_is_refused(api: Api, clock: Clock) -> None:
    order = await api.order("cust-1")
    past = (clock.now - timedelta(hours=1)).isoformat()
    later = (clock.now + timedelta(hours=3)).isoformat()

    refused = await api.call("PUT", f"/orders/{order['id']}", "cust-1", json={"scheduled_at": past})
    moved = await api.ok("PUT", f"/orders/{order['id']}", "cust-1", json={"scheduled_at": later})

    assert "scheduled_at" in error(refused, 422, "VALIDATION_FAILED")["details"]["fields"]
    assert when(moved["scheduled_at"]) == clock.now + timedelta(hours=3)


async def test_another_customer_cannot_see_or_touch_an_order(api: Api) -> None:
    order = await api.order("cust-1")

    for method, path, body in [
        ("GET", f"/jobs/{order['id']}", None),
        ("GET", f"/orders/{order['id']}/track", None),
        ("PUT", f"/orders/{order['id']}", {"notes": "mine now"}),
        ("PUT", f"/orders/{order['id']}/cancel", {}),
    ]:
        error(await api.call(method, path, "cust-2", json=body), 404, "NOT_FOUND")
    assert (await api.ok("GET", "/orders", "cust-2"))["items"] == []
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-1"))["status"] == "searching"


async def test_cancelling_while_searching_is_free(api: Api) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")

    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "changed my mind"})

    assert job["status"] == "cancelled"
    assert job["cancellation"] == {
        "by": "customer",
        "reason": "changed my mind",
        "fee": {"amount": 0, "currency": "EUR"},
        "refund": {"amount": 0, "currency": "EUR"},  # cash: nothing was paid
    }
    assert job["timeline"][-1]["status"] == "cancelled"
    assert job["timeline"][-1]["actor"] == "customer"
    assert (await api.ok("GET", "/jobs/available", driver["sub"]))["items"] == []
    error(await api.call("PUT", f"/jobs/{order['id']}/accept", driver["sub"]), 404, "NOT_FOUND")


async def test_cancelling_after_accept_costs_the_regions_fee(api: Api) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await api.walk_to(driver["sub"], order["id"], "arrive-pickup")
    fee = (await api.ok("GET", "/init", "cust-1"))["region"]["cancellation_fee"]

    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "too slow"})

    assert job["status"] == "cancelled"
    cancellation = job["cancellation"]
    assert cancellation["by"] == "customer"
    assert cancellation["reason"] == "too slow"
    assert cancellation["fee"] == {"amount": min(fee["amount"], order["price"]["amount"]), "currency": "EUR"}
    assert cancellation["fee"]["amount"] > 0
    assert cancellation["refund"]["currency"] == "EUR"
    assert (await api.ok("GET", "/jobs", driver["sub"], params={"status": "active"}))["items"] == []


async def test_cancelling_after_pickup_is_refused(api: Api) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await api.walk_to(driver["sub"], order["id"], "complete-pickup")

    response = await api.call("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "late"})

    details = error(response, 409, "INVALID_TRANSITION")["details"]
    assert details["status"] == "pickup_completed"
    assert details["allowed"] == ["dropoff_started"]
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-1"))["status"] == "pickup_completed"


async def test_a_cancellation_reason_is_at_most_500_characters(api: Api) -> None:
    order = await api.order("cust-1")

    response = await api.call("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "x" * 501})

    assert "reason" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
    assert (await api.ok("GET", f"/jobs/{order['id']}", "cust-1"))["status"] == "searching"
