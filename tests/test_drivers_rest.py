"""Drivers over REST: init and me, registering with documents, location reports, the feed of open jobs."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api
from tests.rest_helpers import error

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
