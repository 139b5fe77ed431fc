"""The whole delivery over REST from both sides, and the tracking the customer follows."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from logistics.models import LocationPoint
from logistics.platform import Platform
from tests.conftest import Clock
from tests.factories import KREUZBERG, MITTE, Api, png_bytes
from tests.rest_helpers import error, when

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


async def add_dropoff_photo(api: Api, driver: str, job_id: str) -> dict[str, Any]:
    return await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("door.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "dropoff"},
    )


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
