"""The job's state machine as a client meets it: timeline rows, retried steps, illegal steps,
points, proof of delivery, tracking only while active, and the driver's earnings."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from logistics.config import Settings
from logistics.ledger import DRIVER_CASH, DRIVER_EARNINGS
from logistics.models import LedgerEntry
from logistics.platform import Platform
from tests.conftest import Clock
from tests.factories import KREUZBERG, Api, png_bytes

# The accounts that hold what a driver earned: owed by the platform, or collected in cash.
DRIVER_ACCOUNTS = (DRIVER_EARNINGS, DRIVER_CASH)
STEPS = [
    "start-pickup",
    "arrive-pickup",
    "complete-pickup",
    "start-dropoff",
    "arrive-dropoff",
    "complete-dropoff",
    "complete",
]
STATUS_OF = {
    "start-pickup": "pickup_started",
    "arrive-pickup": "pickup_arrived",
    "complete-pickup": "pickup_completed",
    "start-dropoff": "dropoff_started",
    "arrive-dropoff": "dropoff_arrived",
    "complete-dropoff": "dropoff_completed",
    "complete": "completed",
}


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


async def accepted_job(api: Api, customer: str = "cust-1") -> tuple[str, str]:
    """(driver sub, job id) of a cash order that a fresh driver has accepted."""
    driver = await api.register_driver()
    order = await api.order(customer)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    return driver["sub"], order["id"]


async def add_dropoff_photo(api: Api, driver: str, job_id: str) -> None:
    await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("door.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "dropoff"},
    )


# --- the timeline ---------------------------------------------------------------------------


async def test_every_transition_appends_a_timeline_row(api: Api, clock: Clock) -> None:
    # given an order: its timeline starts with the customer's searching row
    driver = await api.register_driver()
    order = await api.order("cust-1")
    first = order["timeline"]
    assert len(first) == 1
    assert first[0]["status"] == "searching"
    assert first[0]["actor"] == "customer"
    assert first[0]["point"] is None
    assert datetime.fromisoformat(first[0]["at"]) == clock.now

    clock.advance(minutes=1)
    job = await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    assert len(job["timeline"]) == 2
    assert job["timeline"][-1]["status"] == "accepted"
    assert job["timeline"][-1]["actor"] == "driver"
    assert datetime.fromisoformat(job["timeline"][-1]["at"]) == clock.now

    # when the driver walks each step with a point and the device's time
    for n, step in enumerate(STEPS):
        clock.advance(minutes=3)
        point = {"lat": 52.52 - n * 0.003, "lng": 13.41 - n * 0.001}
        device_time = clock.now - timedelta(seconds=7)
        if step == "complete-dropoff":
            await add_dropoff_photo(api, driver["sub"], order["id"])
        job = await api.ok(
            "PUT",
            f"/jobs/{order['id']}/{step}",
            driver["sub"],
            json={"point": point, "recorded_at": device_time.isoformat(), "note": f"step {n}"},
        )

        # then one row more: the new status, the server's time, the device's time, the point, who
        assert len(job["timeline"]) == 3 + n
        row = job["timeline"][-1]
        assert row["status"] == STATUS_OF[step] == job["status"]
        assert datetime.fromisoformat(row["at"]) == clock.now
        assert datetime.fromisoformat(row["recorded_at"]) == device_time
        assert row["point"] == point
        assert row["actor"] == "driver"
        assert datetime.fromisoformat(job["updated_at"]) == clock.now

    # and the earlier rows never change
    track = await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert track["timeline"] == job["timeline"]
    ats = [datetime.fromisoformat(row["at"]) for row in job["timeline"]]
    assert ats == sorted(ats)


async def test_complete_needs_no_point(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    await api.walk_to(driver, job_id, "complete-dropoff")

    job = await api.ok("PUT", f"/jobs/{job_id}/complete", driver)

    assert job["status"] == "completed"
    assert job["timeline"][-1]["status"] == "completed"
    assert job["timeline"][-1]["point"] is None


@pytest.mark.parametrize("step", STEPS[:-1])
async def test_every_other_step_needs_a_point(api: Api, step: str) -> None:
    driver, job_id = await accepted_job(api)
    before = STEPS[STEPS.index(step) - 1] if step != STEPS[0] else None
    if before:
        await api.walk_to(driver, job_id, before)
    if step == "complete-dropoff":
        await add_dropoff_photo(api, driver, job_id)
    job = await api.ok("GET", f"/jobs/{job_id}", driver)

    for body in (None, {}, {"note": "no gps"}, {"point": None}):
        response = await api.call("PUT", f"/jobs/{job_id}/{step}", driver, json=body)
        assert "point" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]

    after = await api.ok("GET", f"/jobs/{job_id}", driver)
    assert after["status"] == job["status"]
    assert after["timeline"] == job["timeline"]


# --- retries and illegal steps --------------------------------------------------------------


@pytest.mark.parametrize("step", STEPS)
async def test_repeating_the_last_step_answers_200_and_changes_nothing(
    api: Api, clock: Clock, step: str
) -> None:
    # given a job that has just made a step
    driver, job_id = await accepted_job(api)
    job = await api.walk_to(driver, job_id, step)
    assert job["status"] == STATUS_OF[step]

    # when the driver's app retries the same request later
    clock.advance(minutes=1)
    retried = await api.ok("PUT", f"/jobs/{job_id}/{step}", driver, json={"point": KREUZBERG})

    # then the answer is the same job, not moved and not re-stamped
    assert retried["status"] == job["status"]
    assert retried["timeline"] == job["timeline"]
    assert retried["updated_at"] == job["updated_at"]
    assert (await api.ok("GET", f"/jobs/{job_id}", "cust-1"))["timeline"] == job["timeline"]


async def test_a_retried_step_without_a_point_is_still_a_retry(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    job = await api.walk_to(driver, job_id, "start-pickup")

    retried = await api.ok("PUT", f"/jobs/{job_id}/start-pickup", driver)

    assert retried["timeline"] == job["timeline"]


async def test_repeating_accept_and_cancel_changes_nothing(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    job = await api.ok("GET", f"/jobs/{job_id}", driver)

    again = await api.ok("PUT", f"/jobs/{job_id}/accept", driver)
    assert again["status"] == "accepted"
    assert again["timeline"] == job["timeline"]

    cancelled = await api.ok("PUT", f"/orders/{job_id}/cancel", "cust-1", json={"reason": "plans changed"})
    cancelled_again = await api.ok(
        "PUT", f"/orders/{job_id}/cancel", "cust-1", json={"reason": "plans changed"}
    )
    assert cancelled_again["status"] == "cancelled"
    assert cancelled_again["timeline"] == cancelled["timeline"]
    assert cancelled_again["cancellation"] == cancelled["cancellation"]


@pytest.mark.parametrize(
    ("walked_to", "step", "status", "allowed"),
    [
        (None, "arrive-pickup", "accepted", ["pickup_started", "cancelled"]),
        (None, "complete", "accepted", ["pickup_started", "cancelled"]),
        ("start-pickup", "complete-pickup", "pickup_started", ["pickup_arrived", "cancelled"]),
        ("arrive-pickup", "start-pickup", "pickup_arrived", ["pickup_completed", "cancelled"]),
        ("complete-pickup", "arrive-dropoff", "pickup_completed", ["dropoff_started"]),
        ("start-dropoff", "arrive-pickup", "dropoff_started", ["dropoff_arrived"]),
        ("arrive-dropoff", "complete", "dropoff_arrived", ["dropoff_completed"]),
        ("complete-dropoff", "start-dropoff", "dropoff_completed", ["completed"]),
        ("complete", "start-pickup", "completed", []),
        ("complete", "complete-dropoff", "completed", []),
    ],
)
async def test_any_other_step_is_an_invalid_transition(
    api: Api, walked_to: str | None, step: str, status: str, allowed: list[str]
) -> None:
    driver, job_id = await accepted_job(api)
    if walked_to:
        await api.walk_to(driver, job_id, walked_to)
    before = await api.ok("GET", f"/jobs/{job_id}", driver)

    response = await api.call("PUT", f"/jobs/{job_id}/{step}", driver, json={"point": KREUZBERG})

    body = error(response, 409, "INVALID_TRANSITION")
    assert body["details"]["status"] == status
    assert sorted(body["details"]["allowed"]) == sorted(allowed)
    after = await api.ok("GET", f"/jobs/{job_id}", driver)
    assert after["status"] == status
    assert after["timeline"] == before["timeline"]


async def test_a_cancelled_job_takes_no_more_steps(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    await api.ok("PUT", f"/orders/{job_id}/cancel", "cust-1", json={})

    response = await api.call("PUT", f"/jobs/{job_id}/start-pickup", driver, json={"point": KREUZBERG})

    body = error(response, 409, "INVALID_TRANSITION")
    assert body["details"] == {"status": "cancelled", "allowed": []}


async def test_only_the_assigned_driver_walks_the_job(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    other = await api.register_driver()

    by_other = await api.call("PUT", f"/jobs/{job_id}/start-pickup", other["sub"], json={"point": KREUZBERG})
    by_customer = await api.call("PUT", f"/jobs/{job_id}/start-pickup", "cust-1", json={"point": KREUZBERG})

    error(by_other, 404, "NOT_FOUND")  # another driver's job does not exist for them
    error(by_customer, 403, "FORBIDDEN")  # driver paths need a driver
    assert (await api.ok("GET", f"/jobs/{job_id}", driver))["status"] == "accepted"


async def test_a_second_driver_cannot_take_an_accepted_job(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    other = await api.register_driver()

    response = await api.call("PUT", f"/jobs/{job_id}/accept", other["sub"])

    error(response, 409, "OFFER_TAKEN")
    job = await api.ok("GET", f"/jobs/{job_id}", driver)
    assert job["driver"]["name"] != other["name"]
    assert [row["status"] for row in job["timeline"]] == ["searching", "accepted"]


# --- proof of delivery ----------------------------------------------------------------------


async def test_completing_the_dropoff_needs_a_dropoff_photo(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    await api.walk_to(driver, job_id, "arrive-dropoff")

    response = await api.call("PUT", f"/jobs/{job_id}/complete-dropoff", driver, json={"point": KREUZBERG})
    error(response, 409, "PROOF_REQUIRED")
    assert (await api.ok("GET", f"/jobs/{job_id}", driver))["status"] == "dropoff_arrived"

    # a photo of another kind is no proof of delivery
    await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("box.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "pickup"},
    )
    response = await api.call("PUT", f"/jobs/{job_id}/complete-dropoff", driver, json={"point": KREUZBERG})
    error(response, 409, "PROOF_REQUIRED")

    await add_dropoff_photo(api, driver, job_id)
    job = await api.ok("PUT", f"/jobs/{job_id}/complete-dropoff", driver, json={"point": KREUZBERG})
    assert job["status"] == "dropoff_completed"


class TestRegionWithoutPhotoProof:
    """A region whose ``proof_of_delivery`` is ``none``, loaded from a regions file."""

    @pytest.fixture
    def settings(self, settings: Settings, tmp_path: Path) -> Settings:
        berlin = settings.default_region.model_dump(mode="json")
        regions_file = tmp_path / "regions.json"
        regions_file.write_text(
            json.dumps([{**berlin, "id": "berlin-no-photo", "proof_of_delivery": "none"}])
        )
        return Settings(**{**settings.model_dump(), "regions_file": regions_file})

    async def test_the_dropoff_completes_without_a_photo(self, api: Api) -> None:
        init = await api.ok("GET", "/init", "cust-1")
        assert init["region"]["proof_of_delivery"] == "none"
        driver, job_id = await accepted_job(api)
        for step in STEPS[:5]:
            await api.ok("PUT", f"/jobs/{job_id}/{step}", driver, json={"point": KREUZBERG})

        job = await api.ok("PUT", f"/jobs/{job_id}/complete-dropoff", driver, json={"point": KREUZBERG})

        assert job["status"] == "dropoff_completed"
        assert (await api.ok("GET", f"/jobs/{job_id}/images", driver))["items"] == []
        job = await api.ok("PUT", f"/jobs/{job_id}/complete", driver)
        assert job["status"] == "completed"


# --- tracking needs an active job -----------------------------------------------------------


@pytest.mark.parametrize("end", ["complete", "cancel"])
async def test_tracking_a_job_that_is_not_active_is_refused(api: Api, end: str) -> None:
    driver, job_id = await accepted_job(api)
    if end == "complete":
        await api.walk_to(driver, job_id, "complete")
    else:
        await api.ok("PUT", f"/orders/{job_id}/cancel", "cust-1", json={})

    single = await api.call("PUT", f"/jobs/{job_id}/tracking", driver, json=KREUZBERG)
    batch = await api.call("PUT", f"/jobs/{job_id}/tracking", driver, json={"points": [KREUZBERG]})

    error(single, 409, "JOB_NOT_ACTIVE")
    error(batch, 409, "JOB_NOT_ACTIVE")


@pytest.mark.parametrize("walked_to", [None, "complete-pickup", "complete-dropoff"])
async def test_tracking_is_accepted_through_the_active_statuses(api: Api, walked_to: str | None) -> None:
    driver, job_id = await accepted_job(api)
    if walked_to:
        await api.walk_to(driver, job_id, walked_to)

    result = await api.ok("PUT", f"/jobs/{job_id}/tracking", driver, json=KREUZBERG)

    assert result["accepted"] == 1


async def test_only_the_assigned_driver_reports_tracking(api: Api) -> None:
    _driver, job_id = await accepted_job(api)
    other = await api.register_driver()

    error(await api.call("PUT", f"/jobs/{job_id}/tracking", other["sub"], json=KREUZBERG), 404, "NOT_FOUND")
    error(await api.call("PUT", f"/jobs/{job_id}/tracking", "cust-1", json=KREUZBERG), 403, "FORBIDDEN")


# --- money ----------------------------------------------------------------------------------


async def ledger_entries(platform: Platform) -> list[LedgerEntry]:
    async with platform.db.session(write=False) as session:
        return list((await session.execute(select(LedgerEntry))).scalars().all())


async def test_completing_credits_the_drivers_earnings(api: Api, platform: Platform) -> None:
    # given a job walked up to the last step: nothing is booked yet
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await api.walk_to(driver["sub"], order["id"], "complete-dropoff")
    assert await ledger_entries(platform) == []

    # when the driver completes it (and the app retries)
    job = await api.ok("PUT", f"/jobs/{order['id']}/complete", driver["sub"])
    await api.ok("PUT", f"/jobs/{order['id']}/complete", driver["sub"])

    # then, once, the customer's cash goes to the driver and the commission comes out of the
    # driver's balance: two balanced postings
    entries = await ledger_entries(platform)
    postings: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        postings[entry.posting_id].append(entry)
    assert sorted({legs[0].type for legs in postings.values()}) == ["cash_commission", "earning"]
    assert len(postings) == 2
    for legs in postings.values():
        assert sum(leg.amount for leg in legs) == 0
        assert {leg.currency for leg in legs} == {"EUR"}
        assert {leg.job_id for leg in legs} == {order["id"]}
    price, earnings = job["price"]["amount"], job["driver_earnings"]["amount"]
    assert 0 < earnings < price
    mine = [e for e in entries if e.account in DRIVER_ACCOUNTS and e.owner_id == driver["id"]]
    # The whole price is in the driver's hand; the commission on it is owed from the balance.
    assert sorted((e.account, e.amount) for e in mine) == [
        (DRIVER_CASH, price),
        (DRIVER_EARNINGS, earnings - price),
    ]
    # and the driver's payment history says the same
    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["earned"] == job["driver_earnings"]
    assert sorted((line["job_id"], line["type"], line["amount"]["amount"]) for line in history["items"]) == [
        (order["id"], "commission", earnings - price),
        (order["id"], "earning", price),
    ]


async def test_a_late_cancellation_pays_the_driver_a_share_of_the_fee(api: Api, platform: Platform) -> None:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])

    job = await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "no longer needed"})

    fee = job["cancellation"]["fee"]["amount"]
    assert fee > 0
    entries = await ledger_entries(platform)
    assert sum(e.amount for e in entries) == 0
    earned = sum(e.amount for e in entries if e.account in DRIVER_ACCOUNTS and e.owner_id == driver["id"])
    assert 0 < earned <= fee
    history = await api.ok("GET", "/payments", driver["sub"])
    assert history["totals"]["earned"]["amount"] == earned


async def test_a_free_cancellation_books_nothing(api: Api, platform: Platform) -> None:
    order = await api.order("cust-1")

    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={})

    assert await ledger_entries(platform) == []
