"""The job's chat, its issues and its contacts, over REST and GraphQL: only the job's customer
and driver see them (anyone else: the 404 of a made-up id), sending and calling need an active
job while reading stays possible afterwards, and retried creations honour Idempotency-Key."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Clock
from tests.factories import Api, png_bytes
from tests.realtime_helpers import accepted_job, codes, graphql

MISSING_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"
ISSUE_TYPES = [
    "item_missing",
    "item_damaged",
    "wrong_address",
    "customer_unreachable",
    "pickup_closed",
    "other",
]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


async def send(api: Api, sub: str, job_id: str, body: str, **kwargs: Any) -> dict[str, Any]:
    message: dict[str, Any] = await api.ok(
        "POST", f"/jobs/{job_id}/messages", sub, 201, json={"body": body}, **kwargs
    )
    return message


async def job_image(api: Api, sub: str, job_id: str, kind: str = "damage") -> dict[str, Any]:
    image: dict[str, Any] = await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        sub,
        201,
        files={"file": ("photo.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": kind},
    )
    return image


# --- messages over REST -----------------------------------------------------------------------


async def test_both_sides_chat_and_the_list_is_oldest_first(api: Api, clock: Clock) -> None:
    # given an accepted job
    driver, job = await accepted_job(api, "cust-1")

    # when the customer and the driver write in turn
    first = await send(api, "cust-1", job["id"], "Please ring twice")
    second = await send(api, driver["sub"], job["id"], "On my way")
    third = await send(api, "cust-1", job["id"], "Thanks!")

    # then each answer is the message, with the sender's role and no read time yet
    assert first["job_id"] == job["id"]
    assert first["body"] == "Please ring twice"
    assert first["sender_role"] == "customer"
    assert second["sender_role"] == "driver"
    assert first["read_at"] is None
    assert datetime.fromisoformat(first["created_at"]) == clock.now
    # and both sides read the same chat, oldest first
    for reader in ("cust-1", driver["sub"]):
        page = await api.ok("GET", f"/jobs/{job['id']}/messages", reader)
        assert [m["id"] for m in page["items"]] == [first["id"], second["id"], third["id"]]
        assert [m["sender_role"] for m in page["items"]] == ["customer", "driver", "customer"]
        assert page["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "accepted"), [("", False), ("x", True), ("x" * 2000, True), ("x" * 2001, False)]
)
async def test_a_message_is_one_to_two_thousand_characters(api: Api, body: str, accepted: bool) -> None:
    # given an accepted job
    _, job = await accepted_job(api)

    # when the customer sends a message of this length
    response = await api.call("POST", f"/jobs/{job['id']}/messages", "cust-1", json={"body": body})

    # then it is stored, or refused naming the field
    if accepted:
        assert response.status_code == 201, response.text
        assert response.json()["body"] == body
    else:
        details = error(response, 422, "VALIDATION_FAILED")["details"]
        assert any("body" in field for field in details["fields"]), details
        page = await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1")
        assert page["items"] == []


async def test_messages_page_with_limit_and_cursor(api: Api) -> None:
    # given five messages
    driver, job = await accepted_job(api)
    sent = [await send(api, "cust-1" if n % 2 else driver["sub"], job["id"], f"line {n}") for n in range(5)]

    # when the chat is read two at a time
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1", params=params)
        pages.append([m["body"] for m in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # then the pages cover every message once, oldest first
    assert pages == [["line 0", "line 1"], ["line 2", "line 3"], ["line 4"]]
    assert [m["body"] for m in sent] == [f"line {n}" for n in range(5)]


@pytest.mark.parametrize("limit", [0, 101])
async def test_a_page_size_outside_one_to_a_hundred_is_refused(api: Api, limit: int) -> None:
    _, job = await accepted_job(api)
    response = await api.call("GET", f"/jobs/{job['id']}/messages", "cust-1", params={"limit": limit})
    error(response, 422, "VALIDATION_FAILED")


async def test_marking_read_marks_only_the_other_sides_messages(api: Api, clock: Clock) -> None:
    # given two messages from the customer and one from the driver
    driver, job = await accepted_job(api)
    await send(api, "cust-1", job["id"], "one")
    await send(api, "cust-1", job["id"], "two")
    await send(api, driver["sub"], job["id"], "three")
    clock.advance(minutes=2)

    # when the driver marks the chat read
    answer = await api.ok("PUT", f"/jobs/{job['id']}/messages/read", driver["sub"], json={})

    # then the customer's two messages are read now, the driver's own is untouched
    assert answer == {"read": 2}
    items = (await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1"))["items"]
    read = {m["body"]: m["read_at"] for m in items}
    assert datetime.fromisoformat(read["one"]) == clock.now
    assert datetime.fromisoformat(read["two"]) == clock.now
    assert read["three"] is None

    # and marking again finds nothing new; the customer marks the driver's one
    assert await api.ok("PUT", f"/jobs/{job['id']}/messages/read", driver["sub"], json={}) == {"read": 0}
    assert await api.ok("PUT", f"/jobs/{job['id']}/messages/read", "cust-1") == {"read": 1}


async def test_marking_read_up_to_a_message_leaves_later_ones_unread(api: Api) -> None:
    # given three messages from the customer
    driver, job = await accepted_job(api)
    first, second, third = [await send(api, "cust-1", job["id"], body) for body in ("a", "b", "c")]

    # when the driver has read up to the second
    answer = await api.ok(
        "PUT", f"/jobs/{job['id']}/messages/read", driver["sub"], json={"up_to": second["id"]}
    )

    # then the first two are read and the third is not
    assert answer == {"read": 2}
    items = (await api.ok("GET", f"/jobs/{job['id']}/messages", driver["sub"]))["items"]
    assert [m["read_at"] is not None for m in items] == [True, True, False]
    assert [m["id"] for m in items] == [first["id"], second["id"], third["id"]]


async def test_marking_read_up_to_a_message_of_another_job_is_refused(api: Api) -> None:
    # given two jobs of one customer, each with a message
    driver, job = await accepted_job(api, "cust-1")
    _, other_job = await accepted_job(api, "cust-1")
    other = await send(api, "cust-1", other_job["id"], "elsewhere")

    # when the first job's driver names the other job's message
    response = await api.call(
        "PUT", f"/jobs/{job['id']}/messages/read", driver["sub"], json={"up_to": other["id"]}
    )

    # then it is a validation error, and nothing is marked
    error(response, 422, "VALIDATION_FAILED")
    items = (await api.ok("GET", f"/jobs/{other_job['id']}/messages", "cust-1"))["items"]
    assert items[0]["read_at"] is None


async def test_sending_needs_an_active_job_but_reading_stays_possible(api: Api) -> None:
    # given an order nobody accepted yet
    driver = await api.register_driver()
    order = await api.order("cust-1")

    # when the customer writes before a driver accepted, then the job is not active
    response = await api.call("POST", f"/jobs/{order['id']}/messages", "cust-1", json={"body": "hello?"})
    error(response, 409, "JOB_NOT_ACTIVE")

    # given the job accepted, a chat, and the delivery completed
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await send(api, "cust-1", order["id"], "Leave it at the door")
    await send(api, driver["sub"], order["id"], "Will do")
    await api.walk_to(driver["sub"], order["id"], "complete")

    # when either side writes afterwards, then it is refused
    for sub in ("cust-1", driver["sub"]):
        response = await api.call("POST", f"/jobs/{order['id']}/messages", sub, json={"body": "one more"})
        error(response, 409, "JOB_NOT_ACTIVE")
    # and the chat can still be read and marked read
    page = await api.ok("GET", f"/jobs/{order['id']}/messages", "cust-1")
    assert [m["body"] for m in page["items"]] == ["Leave it at the door", "Will do"]
    assert await api.ok("PUT", f"/jobs/{order['id']}/messages/read", "cust-1", json={}) == {"read": 1}


async def test_a_cancelled_job_takes_no_more_messages(api: Api) -> None:
    # given an accepted job that the customer cancels
    _, job = await accepted_job(api)
    await api.ok("PUT", f"/orders/{job['id']}/cancel", "cust-1", json={"reason": "changed my mind"})

    # when the customer writes, then it is refused
    response = await api.call("POST", f"/jobs/{job['id']}/messages", "cust-1", json={"body": "sorry"})
    error(response, 409, "JOB_NOT_ACTIVE")


async def test_a_retried_message_with_the_same_key_is_sent_once(api: Api) -> None:
    # given an accepted job
    _, job = await accepted_job(api)
    key = {"Idempotency-Key": "msg-1"}

    # when the customer's app retries the same message with the same key
    first = await send(api, "cust-1", job["id"], "Gate code 1234", headers=key)
    again = await send(api, "cust-1", job["id"], "Gate code 1234", headers=key)

    # then the second answer is the first message, and the chat has it once
    assert again == first
    items = (await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1"))["items"]
    assert [m["id"] for m in items] == [first["id"]]

    # and the same key with another body is a conflict
    response = await api.call(
        "POST", f"/jobs/{job['id']}/messages", "cust-1", json={"body": "other"}, headers=key
    )
    error(response, 409, "IDEMPOTENCY_CONFLICT")


# --- issues over REST -------------------------------------------------------------------------


@pytest.mark.parametrize("issue_type", ISSUE_TYPES)
async def test_either_side_reports_an_issue_of_each_type(api: Api, clock: Clock, issue_type: str) -> None:
    # given an accepted job
    driver, job = await accepted_job(api)

    # when the driver and then the customer report an issue
    by_driver = await api.ok(
        "POST",
        f"/jobs/{job['id']}/issues",
        driver["sub"],
        201,
        json={"type": issue_type, "description": "Look"},
    )
    by_customer = await api.ok(
        "POST", f"/jobs/{job['id']}/issues", "cust-1", 201, json={"type": issue_type, "description": "Also"}
    )

    # then each is an open issue of that type, with who reported it
    assert by_driver["job_id"] == job["id"]
    assert by_driver["type"] == issue_type
    assert by_driver["status"] == "open"
    assert by_driver["reported_by"] == "driver"
    assert by_customer["reported_by"] == "customer"
    assert by_driver["image_ids"] == []
    assert datetime.fromisoformat(by_driver["created_at"]) == clock.now
    # and both sides list them, oldest first
    for reader in ("cust-1", driver["sub"]):
        page = await api.ok("GET", f"/jobs/{job['id']}/issues", reader)
        assert [i["id"] for i in page["items"]] == [by_driver["id"], by_customer["id"]]


async def test_an_unknown_issue_type_or_an_empty_description_is_refused(api: Api) -> None:
    _, job = await accepted_job(api)
    for body in (
        {"type": "late", "description": "x"},
        {"type": "other", "description": ""},
        {"type": "other"},
    ):
        response = await api.call("POST", f"/jobs/{job['id']}/issues", "cust-1", json=body)
        error(response, 422, "VALIDATION_FAILED")
    assert (await api.ok("GET", f"/jobs/{job['id']}/issues", "cust-1"))["items"] == []


async def test_an_issue_carries_photos_of_the_same_job_only(api: Api) -> None:
    # given a damage photo on this job and one on another job of the same customer
    driver, job = await accepted_job(api, "cust-1")
    _, other_job = await accepted_job(api, "cust-1")
    photo = await job_image(api, driver["sub"], job["id"])
    elsewhere = await job_image(api, "cust-1", other_job["id"])

    # when the driver reports damage with this job's photo, then it is attached
    issue = await api.ok(
        "POST",
        f"/jobs/{job['id']}/issues",
        driver["sub"],
        201,
        json={"type": "item_damaged", "description": "Box crushed", "image_ids": [photo["id"]]},
    )
    assert issue["image_ids"] == [photo["id"]]

    # when a photo of another job or a made-up id is named, then it is refused
    for image_ids in ([elsewhere["id"]], [photo["id"], MISSING_ID]):
        response = await api.call(
            "POST",
            f"/jobs/{job['id']}/issues",
            driver["sub"],
            json={"type": "item_damaged", "description": "x", "image_ids": image_ids},
        )
        error(response, 422, "VALIDATION_FAILED")
    assert [i["id"] for i in (await api.ok("GET", f"/jobs/{job['id']}/issues", "cust-1"))["items"]] == [
        issue["id"]
    ]


async def test_a_retried_issue_with_the_same_key_is_reported_once(api: Api) -> None:
    driver, job = await accepted_job(api)
    key = {"Idempotency-Key": "issue-1"}
    body = {"type": "pickup_closed", "description": "Shutters down"}

    first = await api.ok("POST", f"/jobs/{job['id']}/issues", driver["sub"], 201, json=body, headers=key)
    again = await api.ok("POST", f"/jobs/{job['id']}/issues", driver["sub"], 201, json=body, headers=key)

    assert again == first
    assert len((await api.ok("GET", f"/jobs/{job['id']}/issues", driver["sub"]))["items"]) == 1
    response = await api.call(
        "POST", f"/jobs/{job['id']}/issues", driver["sub"], json={**body, "description": "Other"}, headers=key
    )
    error(response, 409, "IDEMPOTENCY_CONFLICT")


# --- contacts over REST -----------------------------------------------------------------------


async def test_participants_see_the_contacts_while_the_job_is_active(api: Api) -> None:
    # given an accepted job
    driver, job = await accepted_job(api, "cust-1")

    # when the customer and the driver ask for the contacts
    for sub in ("cust-1", driver["sub"]):
        contacts = await api.ok("GET", f"/jobs/{job['id']}/contacts", sub)

        # then both see every number: customer, driver, both stops, support
        assert contacts["customer"] == {"name": "User cust-1", "phone": "+49 30 5550000"}
        assert contacts["driver"] == {"name": driver["name"], "phone": driver["phone"]}
        assert contacts["pickup"] == {"name": "Kim Example", "phone": "+49 30 1234567"}
        assert contacts["dropoff"] == {"name": "Kim Example", "phone": "+49 30 1234567"}
        assert contacts["support"]["phone"]


async def test_contacts_only_while_the_job_is_active(api: Api) -> None:
    # given an order still searching for a driver
    driver = await api.register_driver()
    order = await api.order("cust-1")

    # then there are no contacts to show yet
    error(await api.call("GET", f"/jobs/{order['id']}/contacts", "cust-1"), 409, "JOB_NOT_ACTIVE")

    # given the delivery done
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    await api.ok("GET", f"/jobs/{order['id']}/contacts", "cust-1")
    await api.walk_to(driver["sub"], order["id"], "complete")

    # then the contacts are gone again, for both sides
    for sub in ("cust-1", driver["sub"]):
        error(await api.call("GET", f"/jobs/{order['id']}/contacts", sub), 409, "JOB_NOT_ACTIVE")


# --- outsiders --------------------------------------------------------------------------------

OUTSIDER_CALLS = [
    ("POST", "/jobs/{id}/messages", {"json": {"body": "hi"}}),
    ("GET", "/jobs/{id}/messages", {}),
    ("PUT", "/jobs/{id}/messages/read", {"json": {}}),
    ("POST", "/jobs/{id}/issues", {"json": {"type": "other", "description": "x"}}),
    ("GET", "/jobs/{id}/issues", {}),
    ("GET", "/jobs/{id}/contacts", {}),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), OUTSIDER_CALLS, ids=[f"{m} {p}" for m, p, _ in OUTSIDER_CALLS]
)
async def test_an_outsider_gets_the_404_of_a_made_up_job(
    api: Api, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    # given an accepted job, another customer and another approved driver
    _, job = await accepted_job(api, "cust-1")
    other_driver = await api.register_driver(online=False)

    for outsider in ("bob", other_driver["sub"]):
        # when an outsider calls it with the real id and with a made-up one
        theirs = await api.call(method, path.format(id=job["id"]), outsider, **kwargs)
        missing = await api.call(method, path.format(id=MISSING_ID), outsider, **kwargs)

        # then both answers are the same 404: nothing confirms the job exists
        assert error(theirs, 404, "NOT_FOUND") == error(missing, 404, "NOT_FOUND")


async def test_ops_do_not_join_the_chat(api: Api) -> None:
    # ops may see any job, but chat and contacts are the participants' only
    _, job = await accepted_job(api, "cust-1")
    response = await api.call("GET", f"/jobs/{job['id']}/messages", "olga", roles=["ops"])
    error(response, 404, "NOT_FOUND")
    response = await api.call("GET", f"/jobs/{job['id']}/contacts", "olga", roles=["ops"])
    error(response, 404, "NOT_FOUND")


# --- the same over GraphQL --------------------------------------------------------------------

SEND = """
mutation Send($jobId: ID!, $body: String!) {
  sendMessage(jobId: $jobId, body: $body) { id jobId senderRole body createdAt readAt }
}
"""
MESSAGES = """
query Messages($jobId: ID!, $limit: Int! = 20, $cursor: String) {
  messages(jobId: $jobId, limit: $limit, cursor: $cursor) { items { id body senderRole readAt } nextCursor }
}
"""
MARK_READ = """
mutation Read($jobId: ID!, $upTo: ID) { markMessagesRead(jobId: $jobId, upTo: $upTo) { read } }
"""
REPORT = """
mutation Report($jobId: ID!, $input: IssueInput!) {
  reportIssue(jobId: $jobId, input: $input) { id jobId type description status reportedBy imageIds createdAt }
}
"""
ISSUES = """
query Issues($jobId: ID!) { jobIssues(jobId: $jobId) { items { id type reportedBy } nextCursor } }
"""
CONTACTS = """
query Contacts($jobId: ID!) {
  contacts(jobId: $jobId) {
    customer { name phone } driver { name phone } pickup { name phone } dropoff { name phone } support { phone }
  }
}
"""


async def test_chat_over_graphql(api: Api) -> None:
    # given an accepted job
    driver, job = await accepted_job(api, "cust-1")

    # when both sides write over GraphQL
    first = await graphql(api, "cust-1", SEND, jobId=job["id"], body="Hello")
    second = await graphql(api, driver["sub"], SEND, jobId=job["id"], body="Hi, 5 minutes")

    # then the messages come back in camelCase with the sender's role
    assert "errors" not in first, first
    assert first["data"]["sendMessage"]["senderRole"] == "CUSTOMER"
    assert first["data"]["sendMessage"]["readAt"] is None
    assert second["data"]["sendMessage"]["senderRole"] == "DRIVER"
    # and the chat lists them oldest first, paging as REST does
    page = await graphql(api, driver["sub"], MESSAGES, jobId=job["id"], limit=1)
    assert [m["body"] for m in page["data"]["messages"]["items"]] == ["Hello"]
    cursor = page["data"]["messages"]["nextCursor"]
    rest = await graphql(api, driver["sub"], MESSAGES, jobId=job["id"], limit=1, cursor=cursor)
    assert [m["body"] for m in rest["data"]["messages"]["items"]] == ["Hi, 5 minutes"]
    assert rest["data"]["messages"]["nextCursor"] is None

    # when the driver marks read up to the customer's message, then one is read
    read = await graphql(
        api, driver["sub"], MARK_READ, jobId=job["id"], upTo=first["data"]["sendMessage"]["id"]
    )
    assert read["data"]["markMessagesRead"] == {"read": 1}
    items = (await graphql(api, "cust-1", MESSAGES, jobId=job["id"]))["data"]["messages"]["items"]
    assert [m["readAt"] is not None for m in items] == [True, False]


async def test_graphql_chat_errors_carry_their_codes(api: Api) -> None:
    # given an order not yet accepted, and an accepted one
    searching = await api.order("cust-1")
    _, job = await accepted_job(api, "cust-1")

    # then: no chat before acceptance, no empty or oversized message, nothing for outsiders
    assert codes(await graphql(api, "cust-1", SEND, jobId=searching["id"], body="hi")) == ["JOB_NOT_ACTIVE"]
    assert codes(await graphql(api, "cust-1", SEND, jobId=job["id"], body="")) == ["VALIDATION_FAILED"]
    assert codes(await graphql(api, "cust-1", SEND, jobId=job["id"], body="x" * 2001)) == [
        "VALIDATION_FAILED"
    ]
    theirs = await graphql(api, "bob", SEND, jobId=job["id"], body="hi")
    missing = await graphql(api, "bob", SEND, jobId=MISSING_ID, body="hi")
    assert codes(theirs) == ["NOT_FOUND"]
    assert [(e["message"], e["extensions"]) for e in theirs["errors"]] == [
        (e["message"], e["extensions"]) for e in missing["errors"]
    ]
    assert codes(await graphql(api, "bob", MESSAGES, jobId=job["id"])) == ["NOT_FOUND"]
    assert codes(await graphql(api, "bob", MARK_READ, jobId=job["id"])) == ["NOT_FOUND"]
    # and nothing was stored by the refused sends
    assert (await graphql(api, "cust-1", MESSAGES, jobId=job["id"]))["data"]["messages"]["items"] == []


async def test_a_rolled_back_graphql_mutation_leaves_no_message(api: Api) -> None:
    # given an accepted job
    _, job = await accepted_job(api)

    # when one operation sends a message and then fails on a second one
    body = await graphql(
        api,
        "cust-1",
        """mutation Two($jobId: ID!) {
             ok: sendMessage(jobId: $jobId, body: "first") { id }
             bad: sendMessage(jobId: $jobId, body: "") { id }
           }""",
        jobId=job["id"],
    )

    # then the operation failed as a whole: the first message was rolled back too
    assert codes(body) == ["VALIDATION_FAILED"]
    assert (await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1"))["items"] == []


async def test_issues_over_graphql(api: Api) -> None:
    # given an accepted job with a damage photo
    driver, job = await accepted_job(api, "cust-1")
    photo = await job_image(api, driver["sub"], job["id"])

    # when the driver reports damage with the photo
    body = await graphql(
        api,
        driver["sub"],
        REPORT,
        jobId=job["id"],
        input={"type": "ITEM_DAMAGED", "description": "Corner dented", "imageIds": [photo["id"]]},
    )

    # then it is an open issue reported by the driver, listed for the customer
    issue = body["data"]["reportIssue"]
    assert issue["type"] == "ITEM_DAMAGED"
    assert issue["status"] == "OPEN"
    assert issue["reportedBy"] == "DRIVER"
    assert issue["imageIds"] == [photo["id"]]
    listed = await graphql(api, "cust-1", ISSUES, jobId=job["id"])
    assert listed["data"]["jobIssues"]["items"] == [
        {"id": issue["id"], "type": "ITEM_DAMAGED", "reportedBy": "DRIVER"}
    ]

    # and a photo that is not this job's, or an outsider, is refused with its code
    wrong = await graphql(
        api,
        driver["sub"],
        REPORT,
        jobId=job["id"],
        input={"type": "OTHER", "description": "x", "imageIds": [MISSING_ID]},
    )
    assert codes(wrong) == ["VALIDATION_FAILED"]
    outsider = await graphql(api, "bob", REPORT, jobId=job["id"], input={"type": "OTHER", "description": "x"})
    assert codes(outsider) == ["NOT_FOUND"]
    assert codes(await graphql(api, "bob", ISSUES, jobId=job["id"])) == ["NOT_FOUND"]


async def test_graphql_honours_idempotency_key_for_messages_and_issues(api: Api) -> None:
    # given an accepted job
    driver, job = await accepted_job(api)
    key = {"Idempotency-Key": "gql-retry-1"}

    # when the same sendMessage is retried with the same key
    first = await graphql(api, "cust-1", SEND, headers=key, jobId=job["id"], body="Buzz 3")
    again = await graphql(api, "cust-1", SEND, headers=key, jobId=job["id"], body="Buzz 3")
    # then it is one message; another body under the key is a conflict
    assert again["data"]["sendMessage"]["id"] == first["data"]["sendMessage"]["id"]
    conflict = await graphql(api, "cust-1", SEND, headers=key, jobId=job["id"], body="Buzz 4")
    assert codes(conflict) == ["IDEMPOTENCY_CONFLICT"]
    assert len((await api.ok("GET", f"/jobs/{job['id']}/messages", "cust-1"))["items"]) == 1

    # and the same for reportIssue
    issue_input = {"type": "WRONG_ADDRESS", "description": "No such house"}
    first = await graphql(api, driver["sub"], REPORT, headers=key, jobId=job["id"], input=issue_input)
    again = await graphql(api, driver["sub"], REPORT, headers=key, jobId=job["id"], input=issue_input)
    assert again["data"]["reportIssue"]["id"] == first["data"]["reportIssue"]["id"]
    conflict = await graphql(
        api,
        driver["sub"],
        REPORT,
        headers=key,
        jobId=job["id"],
        input={**issue_input, "description": "Other"},
    )
    assert codes(conflict) == ["IDEMPOTENCY_CONFLICT"]
    assert len((await api.ok("GET", f"/jobs/{job['id']}/issues", "cust-1"))["items"]) == 1


async def test_contacts_over_graphql(api: Api) -> None:
    # given an order still searching, then accepted
    driver = await api.register_driver()
    order = await api.order("cust-1")
    assert codes(await graphql(api, "cust-1", CONTACTS, jobId=order["id"])) == ["JOB_NOT_ACTIVE"]
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])

    # when the driver asks for the contacts, then every number is there
    body = await graphql(api, driver["sub"], CONTACTS, jobId=order["id"])
    contacts = body["data"]["contacts"]
    assert contacts["customer"] == {"name": "User cust-1", "phone": "+49 30 5550000"}
    assert contacts["driver"] == {"name": driver["name"], "phone": driver["phone"]}
    assert contacts["support"]["phone"]
    # and an outsider gets NOT_FOUND
    assert codes(await graphql(api, "bob", CONTACTS, jobId=order["id"])) == ["NOT_FOUND"]
