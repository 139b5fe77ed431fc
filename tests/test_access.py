"""What a caller may touch: another customer's order and another driver's job do not exist
for them (the same 404 as a made-up id), driver paths need an approved driver profile, ops
approve drivers, and a driver browsing the feed sees where and what, but not who."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.config import Settings
from tests.factories import KREUZBERG, MITTE, Api, quote_body

GRAPHQL = "/graphql"
MISSING_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"

APPROVE_DRIVER = """
mutation Approve($driverId: ID!) {
  approveDriver(driverId: $driverId) { id status name }
}
"""
PENDING_DRIVERS = """
query Pending { pendingDrivers { items { id status name } nextCursor } }
"""
ORDER = """
query Order($id: ID!) { order(id: $id) { id status } }
"""
JOB = """
query Job($id: ID!) {
  job(id: $id) { id status pickup { contact { name phone } } dropoff { contact { name phone } } }
}
"""


@pytest.fixture
def driver_auto_approve() -> bool:
    """Drivers are approved on registration unless a test parametrizes this to False."""
    return True


@pytest.fixture
def settings(settings: Settings, driver_auto_approve: bool) -> Settings:
    return settings.model_copy(update={"driver_auto_approve": driver_auto_approve})


manual_review = pytest.mark.parametrize("driver_auto_approve", [False], ids=["manual review"])


async def graphql(api: Api, sub: str, query: str, roles: list[str] | None = None, **variables: Any) -> Any:
    response = await api.client.post(
        GRAPHQL, json={"query": query, "variables": variables}, headers=api.headers(sub, roles=roles)
    )
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def not_found_body(api: Api, method: str, path: str, sub: str, **kwargs: Any) -> dict[str, Any]:
    response = await api.call(method, path, sub, **kwargs)
    assert response.status_code == 404, (method, path, response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == "NOT_FOUND"
    return body


# --- customers --------------------------------------------------------------------------------

CUSTOMER_PATHS = [
    pytest.param("GET", "/orders/{id}/track", None, id="track"),
    pytest.param("PUT", "/orders/{id}/cancel", {"reason": "changed my mind"}, id="cancel"),
    pytest.param("PUT", "/orders/{id}", {"notes": "leave at the door"}, id="update"),
    pytest.param("GET", "/jobs/{id}", None, id="job"),
    pytest.param("GET", "/jobs/{id}/images", None, id="images"),
]


@pytest.mark.parametrize(("method", "path", "body"), CUSTOMER_PATHS)
async def test_a_customer_never_touches_another_customers_order(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given Alice's order
    order = await api.order("alice")
    kwargs = {"json": body} if body is not None else {}
    # when Bob asks for it, and for an id that does not exist
    theirs = await not_found_body(api, method, path.format(id=order["id"]), "bob", **kwargs)
    missing = await not_found_body(api, method, path.format(id=MISSING_ID), "bob", **kwargs)
    # then both answers are the same: Bob cannot even tell that the order exists
    assert theirs == missing
    # and Alice's order is untouched
    mine = await api.ok("GET", f"/orders/{order['id']}/track", "alice")
    assert mine["status"] == "searching"
    assert [entry["status"] for entry in mine["timeline"]] == ["searching"]


async def test_a_customer_lists_only_their_own_orders(api: Api) -> None:
    alices = await api.order("alice")
    bobs = await api.order("bob")
    assert [o["id"] for o in (await api.ok("GET", "/orders", "alice"))["items"]] == [alices["id"]]
    assert [o["id"] for o in (await api.ok("GET", "/orders", "bob"))["items"]] == [bobs["id"]]


async def test_a_customer_never_reads_another_customers_order_over_graphql(api: Api) -> None:
    order = await api.order("alice")
    theirs = await graphql(api, "bob", ORDER, id=order["id"])
    missing = await graphql(api, "bob", ORDER, id=MISSING_ID)
    assert theirs["data"] is None and codes(theirs) == ["NOT_FOUND"]
    assert theirs["errors"][0]["message"] == missing["errors"][0]["message"]
    mine = await graphql(api, "alice", ORDER, id=order["id"])
    assert mine["data"]["order"] == {"id": order["id"], "status": "SEARCHING"}


async def test_a_customer_cannot_book_another_customers_quote(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "alice", 201, json=quote_body())
    body = await not_found_body(
        api, "POST", "/orders", "bob", json={"quote_id": quote["id"], "payment_method": "cash"}
    )
    assert body["error"]["message"] == "quote not found"


# --- drivers ----------------------------------------------------------------------------------

DRIVER_JOB_PATHS = [
    pytest.param("GET", "/jobs/{id}", None, id="read"),
    pytest.param("PUT", "/jobs/{id}/start-pickup", {"point": MITTE}, id="start-pickup"),
    pytest.param("PUT", "/jobs/{id}/complete", {}, id="complete"),
    pytest.param("PUT", "/jobs/{id}/tracking", {"lat": 52.51, "lng": 13.40}, id="tracking"),
    pytest.param("GET", "/jobs/{id}/images", None, id="images"),
    pytest.param("PUT", "/jobs/{id}/reject", {"reason": "busy"}, id="reject"),
]


@pytest.mark.parametrize(("method", "path", "body"), DRIVER_JOB_PATHS)
async def test_a_driver_never_touches_another_drivers_job(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given a job Dora has accepted, and Eve, another approved driver
    dora = await api.register_driver("dora")
    eve = await api.register_driver("eve")
    order = await api.order("alice")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", dora["sub"])
    kwargs = {"json": body} if body is not None else {}
    # when Eve tries the job, and a job that does not exist
    theirs = await not_found_body(api, method, path.format(id=order["id"]), eve["sub"], **kwargs)
    missing = await not_found_body(api, method, path.format(id=MISSING_ID), eve["sub"], **kwargs)
    # then the answers cannot be told apart
    assert theirs == missing
    # and the job is still Dora's, exactly as she left it
    job = await api.ok("GET", f"/jobs/{order['id']}", dora["sub"])
    assert job["status"] == "accepted"
    assert job["driver_id"] == dora["id"]
    assert [entry["status"] for entry in job["timeline"]] == ["searching", "accepted"]


async def test_a_driver_who_comes_second_hears_that_the_job_was_taken(api: Api) -> None:
    # given a job from the feed that Dora has just taken
    dora = await api.register_driver("dora")
    eve = await api.register_driver("eve")
    order = await api.order("alice")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", dora["sub"])
    # when Eve, who saw it in the feed too, accepts it
    response = await api.call("PUT", f"/jobs/{order['id']}/accept", eve["sub"])
    # then she is told it is taken, and learns nothing else about it
    assert response.status_code == 409, response.text
    assert response.json() == {
        "error": {"code": "OFFER_TAKEN", "message": "another driver has taken this job"}
    }
    assert (await api.ok("GET", f"/jobs/{order['id']}", dora["sub"]))["driver_id"] == dora["id"]


async def test_a_drivers_own_delivery_never_shows_to_other_drivers(api: Api) -> None:
    # given a custom delivery Dora created for herself (it never went through the feed)
    dora = await api.register_driver("dora")
    eve = await api.register_driver("eve")
    job = await api.ok("POST", "/jobs", dora["sub"], 201, json=quote_body())
    assert job["status"] == "accepted"
    # then for Eve it does not exist, whatever she tries
    missing = await not_found_body(api, "PUT", f"/jobs/{MISSING_ID}/accept", eve["sub"])
    assert await not_found_body(api, "PUT", f"/jobs/{job['id']}/accept", eve["sub"]) == missing
    await not_found_body(api, "GET", f"/jobs/{job['id']}", eve["sub"])


async def test_a_driver_lists_only_their_own_jobs(api: Api) -> None:
    dora = await api.register_driver("dora")
    eve = await api.register_driver("eve")
    first = await api.order("alice")
    second = await api.order("bob")
    await api.ok("PUT", f"/jobs/{first['id']}/accept", dora["sub"])
    await api.ok("PUT", f"/jobs/{second['id']}/accept", eve["sub"])
    for driver, job in ((dora, first), (eve, second)):
        listed = await api.ok("GET", "/jobs?status=all", driver["sub"])
        assert [j["id"] for j in listed["items"]] == [job["id"]]


async def test_a_driver_cannot_read_a_customers_order_through_the_order_paths(api: Api) -> None:
    # The driver of a job sees it as a job, never as an order: /orders is the customer's.
    dora = await api.register_driver("dora")
    order = await api.order("alice")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", dora["sub"])
    await not_found_body(api, "GET", f"/orders/{order['id']}/track", dora["sub"])
    await not_found_body(api, "PUT", f"/orders/{order['id']}/cancel", dora["sub"], json={})


DRIVER_PATHS = [
    pytest.param("GET", "/jobs/available", None, id="available"),
    pytest.param("GET", "/jobs", None, id="jobs"),
    pytest.param("PUT", "/jobs/{id}/accept", None, id="accept"),
    pytest.param("PUT", "/jobs/{id}/start-pickup", {"point": MITTE}, id="start-pickup"),
    pytest.param("PUT", "/jobs/{id}/complete-dropoff", {"point": KREUZBERG}, id="complete-dropoff"),
    pytest.param("PUT", "/jobs/{id}/tracking", {"lat": 52.51, "lng": 13.40}, id="tracking"),
    pytest.param("PUT", "/availability", {"online": True}, id="availability"),
    pytest.param("PUT", "/location", {"lat": 52.51, "lng": 13.40}, id="location"),
]


@pytest.mark.parametrize(("method", "path", "body"), DRIVER_PATHS)
async def test_a_customer_who_is_not_a_driver_is_forbidden_on_driver_paths(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given an open job, and Carol who has never registered as a driver
    await api.register_driver("dora")
    order = await api.order("alice")
    kwargs = {"json": body} if body is not None else {}
    # when Carol calls a driver path
    response = await api.call(method, path.format(id=order["id"]), "carol", **kwargs)
    # then she is told that the path is not for her
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "FORBIDDEN"
    # and the job is still open for drivers
    assert (await api.ok("GET", f"/orders/{order['id']}/track", "alice"))["status"] == "searching"


@manual_review
@pytest.mark.parametrize(("method", "path", "body"), DRIVER_PATHS)
async def test_a_pending_driver_is_forbidden_on_driver_paths(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given a driver whose registration waits for review, and an open job
    pending = await api.register_driver("penny", online=False, at=None)
    assert pending["status"] == "pending_review"
    order = await api.order("alice")
    kwargs = {"json": body} if body is not None else {}
    # when the driver calls a driver path
    response = await api.call(method, path.format(id=order["id"]), "penny", **kwargs)
    # then it is refused until ops approve the profile
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "FORBIDDEN"
    assert "pending_review" in response.json()["error"]["message"]


@manual_review
async def test_a_pending_driver_still_reads_their_own_profile(api: Api) -> None:
    await api.register_driver("penny", online=False, at=None)
    me = await api.ok("GET", "/me", "penny")
    assert me["status"] == "pending_review"
    init = await api.ok("GET", "/init", "penny")
    assert init["is_driver"] is True
    assert init["driver"]["status"] == "pending_review"


@manual_review
async def test_a_pending_driver_does_not_see_open_jobs(api: Api) -> None:
    await api.register_driver("penny", online=False, at=None)
    order = await api.order("alice")
    await not_found_body(api, "GET", f"/jobs/{order['id']}", "penny")
    body = await graphql(api, "penny", JOB, id=order["id"])
    assert codes(body) == ["NOT_FOUND"]


# --- ops ---------------------------------------------------------------------------------------


@manual_review
async def test_ops_approve_a_pending_driver_over_graphql(api: Api) -> None:
    # given a driver waiting for review
    pending = await api.register_driver("penny", online=False, at=None)
    listed = await graphql(api, "olga", PENDING_DRIVERS, roles=["ops"])
    assert [d["id"] for d in listed["data"]["pendingDrivers"]["items"]] == [pending["id"]]
    # when ops approve it
    body = await graphql(api, "olga", APPROVE_DRIVER, roles=["ops"], driverId=pending["id"])
    # then the profile is approved, no longer waiting, and the driver may work
    assert "errors" not in body, body
    assert body["data"]["approveDriver"] == {
        "id": pending["id"],
        "status": "APPROVED",
        "name": "Driver penny",
    }
    assert (await api.ok("GET", "/me", "penny"))["status"] == "approved"
    listed = await graphql(api, "olga", PENDING_DRIVERS, roles=["ops"])
    assert listed["data"]["pendingDrivers"]["items"] == []
    online = await api.ok("PUT", "/availability", "penny", json={"online": True})
    assert online["online"] is True
    await api.ok("PUT", "/location", "penny", 204, json=MITTE)
    order = await api.order("alice")
    feed = await api.ok("GET", "/jobs/available", "penny")
    assert [job["id"] for job in feed["items"]] == [order["id"]]


@manual_review
async def test_approving_twice_is_harmless(api: Api) -> None:
    pending = await api.register_driver("penny", online=False, at=None)
    for _ in range(2):
        body = await graphql(api, "olga", APPROVE_DRIVER, roles=["ops"], driverId=pending["id"])
        assert body["data"]["approveDriver"]["status"] == "APPROVED"


@manual_review
@pytest.mark.parametrize(
    ("caller", "roles"),
    [("alice", None), ("mia", ["merchant"]), ("penny", None)],
    ids=["customer", "merchant", "the driver itself"],
)
async def test_only_ops_approve_drivers(api: Api, caller: str, roles: list[str] | None) -> None:
    # given a driver waiting for review
    pending = await api.register_driver("penny", online=False, at=None)
    # when anyone but ops tries to approve it
    body = await graphql(api, caller, APPROVE_DRIVER, roles=roles, driverId=pending["id"])
    # then it is forbidden and the driver still waits
    assert body["data"] is None
    assert codes(body) == ["FORBIDDEN"]
    assert (await api.ok("GET", "/me", "penny"))["status"] == "pending_review"
    listing = await graphql(api, caller, PENDING_DRIVERS, roles=roles)
    assert codes(listing) == ["FORBIDDEN"]


async def test_ops_approving_an_unknown_driver_is_not_found(api: Api) -> None:
    body = await graphql(api, "olga", APPROVE_DRIVER, roles=["ops"], driverId=MISSING_ID)
    assert codes(body) == ["NOT_FOUND"]


async def test_ops_see_any_job_over_graphql(api: Api) -> None:
    order = await api.order("alice")
    body = await graphql(api, "olga", JOB, roles=["ops"], id=order["id"])
    assert body["data"]["job"]["id"] == order["id"]


# --- the feed ---------------------------------------------------------------------------------


async def test_an_open_job_is_readable_from_the_feed_without_its_contacts(api: Api) -> None:
    # given an open job near an approved driver
    dora = await api.register_driver("dora")
    order = await api.order("alice")
    # when the driver browses the feed and opens the job
    feed = await api.ok("GET", "/jobs/available", dora["sub"])
    job = await api.ok("GET", f"/jobs/{order['id']}", dora["sub"])
    over_graphql = await graphql(api, dora["sub"], JOB, id=order["id"])
    # then it shows where and what, but not who
    [listed] = feed["items"]
    for view in (listed, job):
        assert view["id"] == order["id"]
        assert view["pickup"]["contact"] is None
        assert view["dropoff"]["contact"] is None
        assert view["pickup"]["point"] == order["pickup"]["point"]
        assert view["dropoff"]["address"] == order["dropoff"]["address"]
    assert over_graphql["data"]["job"]["pickup"]["contact"] is None
    assert over_graphql["data"]["job"]["dropoff"]["contact"] is None
    # while the customer sees the contacts of their own order
    assert order["pickup"]["contact"] == {"name": "Kim Example", "phone": "+49 30 1234567"}


async def test_contacts_appear_once_the_driver_has_accepted(api: Api) -> None:
    dora = await api.register_driver("dora")
    order = await api.order("alice")
    accepted = await api.ok("PUT", f"/jobs/{order['id']}/accept", dora["sub"])
    job = await api.ok("GET", f"/jobs/{order['id']}", dora["sub"])
    over_graphql = await graphql(api, dora["sub"], JOB, id=order["id"])
    for view in (accepted, job):
        assert view["pickup"]["contact"] == order["pickup"]["contact"]
        assert view["dropoff"]["contact"] == order["dropoff"]["contact"]
    assert over_graphql["data"]["job"]["pickup"]["contact"] == order["pickup"]["contact"]


async def test_a_job_leaves_other_drivers_view_once_accepted(api: Api) -> None:
    # given two drivers, and an order dispatch offers to one of them at once
    drivers = [(await api.register_driver(name))["sub"] for name in ("dora", "eve")]
    order = await api.order("alice")
    path = f"/jobs/{order['id']}"
    seen = {sub: (await api.call("GET", path, sub)).status_code for sub in drivers}
    # then the job is open only to the driver holding its exclusive offer
    assert sorted(seen.values()) == [200, 404], seen
    taker = next(sub for sub, status in seen.items() if status == 200)
    other = next(sub for sub in drivers if sub != taker)
    # and once that driver accepts it, the other neither opens nor lists it
    await api.ok("PUT", f"{path}/accept", taker)
    await not_found_body(api, "GET", path, other)
    assert (await api.ok("GET", "/jobs/available", other))["items"] == []


async def test_a_driver_whose_vehicle_is_too_small_does_not_see_the_job(api: Api) -> None:
    # given a job that needs a van, and a cyclist
    cyclist = await api.register_driver("cy", vehicle="bicycle")
    order = await api.order("alice", vehicle_type="van")
    # then the cyclist neither lists nor opens it
    assert (await api.ok("GET", "/jobs/available", cyclist["sub"]))["items"] == []
    await not_found_body(api, "GET", f"/jobs/{order['id']}", cyclist["sub"])


async def test_a_cancelled_job_is_no_longer_readable_from_the_feed(api: Api) -> None:
    dora = await api.register_driver("dora")
    order = await api.order("alice")
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "alice", json={})
    await not_found_body(api, "GET", f"/jobs/{order['id']}", dora["sub"])
