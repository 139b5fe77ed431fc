"""A customer's orders over REST: quoting and ordering, the lists, changing and cancelling."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Clock
from tests.factories import MITTE, Api, quote_body
from tests.rest_helpers import error, when

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
