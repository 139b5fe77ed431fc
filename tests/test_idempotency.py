"""``Idempotency-Key`` on the creating POSTs: a retried request returns the first answer and
creates nothing more; the same key with another body is a conflict; users do not share keys."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from logistics.models import Job, Upload
from logistics.platform import Platform
from tests.factories import ALEXANDERPLATZ, KREUZBERG, MITTE, Api, png_bytes, quote_body
from tests.rest_helpers import error


async def count(platform: Platform, model: type[Job] | type[Upload]) -> int:
    async with platform.db.session(write=False) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def post_order(api: Api, sub: str, quote_id: str, idem: str, **extra: Any) -> Any:
    body = {"quote_id": quote_id, "payment_method": "cash", **extra}
    return await api.call("POST", "/orders", sub, json=body, headers=key(idem))


async def post_upload(api: Api, sub: str, data: bytes, idem: str, purpose: str = "proof") -> Any:
    files = {"file": ("doc.png", io.BytesIO(data), "image/png")}
    return await api.call("POST", "/upload", sub, files=files, data={"purpose": purpose}, headers=key(idem))


# --- POST /orders ---------------------------------------------------------------------------


async def test_a_retried_order_returns_the_first_order(api: Api, platform: Platform) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    first = await post_order(api, "cust-1", quote["id"], "order-1", notes="ring twice")
    again = await post_order(api, "cust-1", quote["id"], "order-1", notes="ring twice")

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["price"] == first.json()["price"]
    assert again.json()["status"] == "searching"
    assert await count(platform, Job) == 1
    assert [o["id"] for o in (await api.ok("GET", "/orders", "cust-1"))["items"]] == [first.json()["id"]]


async def test_a_retried_order_still_answers_after_it_moved_on(api: Api) -> None:
    driver = await api.register_driver()
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    first = (await post_order(api, "cust-1", quote["id"], "order-1")).json()
    await api.ok("PUT", f"/jobs/{first['id']}/accept", driver["sub"])

    again = await post_order(api, "cust-1", quote["id"], "order-1")

    assert again.status_code == 201, again.text
    assert again.json()["id"] == first["id"]


async def test_the_same_order_key_with_another_body_is_a_conflict(api: Api, platform: Platform) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    other_quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body(MITTE, KREUZBERG))
    first = await post_order(api, "cust-1", quote["id"], "order-1")
    assert first.status_code == 201, first.text

    for response in (
        await post_order(api, "cust-1", quote["id"], "order-1", notes="something else"),
        await post_order(api, "cust-1", other_quote["id"], "order-1"),
    ):
        error(response, 409, "IDEMPOTENCY_CONFLICT")

    assert await count(platform, Job) == 1
    # the other quote is untouched and can be booked under a fresh key
    fresh = await post_order(api, "cust-1", other_quote["id"], "order-2")
    assert fresh.status_code == 201, fresh.text
    assert fresh.json()["id"] != first.json()["id"]


async def test_order_keys_belong_to_one_user(api: Api, platform: Platform) -> None:
    mine = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    theirs = await api.ok("POST", "/quote", "cust-2", 201, json=quote_body())

    first = await post_order(api, "cust-1", mine["id"], "shared-key")
    second = await post_order(api, "cust-2", theirs["id"], "shared-key")

    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["customer_id"] == "cust-2"
    assert await count(platform, Job) == 2
    # and a user cannot reach somebody else's order by replaying their body under a fresh key
    error(await post_order(api, "cust-2", mine["id"], "fresh-key"), 404, "NOT_FOUND")


async def test_a_refused_order_does_not_burn_its_key(api: Api, platform: Platform) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    refused = await post_order(api, "cust-1", "01aaaaaaaaaaaaaaaaaaaaaaaa", "order-1")
    error(refused, 404, "NOT_FOUND")
    retried = await post_order(api, "cust-1", quote["id"], "order-1")

    assert retried.status_code == 201, retried.text
    assert await count(platform, Job) == 1


async def test_without_a_key_a_second_order_from_one_quote_is_refused(api: Api) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())
    body = {"quote_id": quote["id"], "payment_method": "cash"}
    await api.ok("POST", "/orders", "cust-1", 201, json=body)

    error(await api.call("POST", "/orders", "cust-1", json=body), 409, "QUOTE_EXPIRED")


# --- POST /jobs -----------------------------------------------------------------------------


async def test_a_retried_job_returns_the_first_job(api: Api, platform: Platform) -> None:
    body = quote_body(notes="back door")

    first = await api.call("POST", "/jobs", "cust-1", json=body, headers=key("job-1"))
    again = await api.call("POST", "/jobs", "cust-1", json=body, headers=key("job-1"))

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["price"] == first.json()["price"]
    assert await count(platform, Job) == 1


async def test_racing_retries_create_one_job(api: Api, platform: Platform) -> None:
    body = quote_body()

    responses = await asyncio.gather(
        *(api.call("POST", "/jobs", "cust-1", json=body, headers=key("race")) for _ in range(4))
    )

    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(platform, Job) == 1


async def test_racing_retries_create_one_upload(api: Api, platform: Platform) -> None:
    data = png_bytes(5, 3)

    responses = await asyncio.gather(*(post_upload(api, "cust-1", data, "race") for _ in range(4)))

    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(platform, Upload) == 1


async def test_a_retried_merchant_job_returns_the_first_job(api: Api, platform: Platform) -> None:
    body = quote_body(customer_id="cust-9", payment_method="invoice")

    first = await api.call("POST", "/jobs", "shop", json=body, headers=key("job-1"), roles=["merchant"])
    again = await api.call("POST", "/jobs", "shop", json=body, headers=key("job-1"), roles=["merchant"])

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["created_by"] == "merchant"
    assert await count(platform, Job) == 1


async def test_the_same_job_key_with_another_body_is_a_conflict(api: Api, platform: Platform) -> None:
    first = await api.call("POST", "/jobs", "cust-1", json=quote_body(), headers=key("job-1"))
    assert first.status_code == 201, first.text

    for body in (
        quote_body(notes="changed"),
        quote_body(KREUZBERG, ALEXANDERPLATZ),
        quote_body(vehicle_type="van"),
    ):
        response = await api.call("POST", "/jobs", "cust-1", json=body, headers=key("job-1"))
        error(response, 409, "IDEMPOTENCY_CONFLICT")

    assert await count(platform, Job) == 1


async def test_job_keys_belong_to_one_user(api: Api, platform: Platform) -> None:
    body = quote_body()

    first = await api.call("POST", "/jobs", "cust-1", json=body, headers=key("shared"))
    second = await api.call("POST", "/jobs", "cust-2", json=body, headers=key("shared"))

    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert second.json()["customer_id"] == "cust-2"
    assert await count(platform, Job) == 2


async def test_a_job_and_an_order_may_share_a_key(api: Api, platform: Platform) -> None:
    quote = await api.ok("POST", "/quote", "cust-1", 201, json=quote_body())

    order = await post_order(api, "cust-1", quote["id"], "k")
    job = await api.call("POST", "/jobs", "cust-1", json=quote_body(), headers=key("k"))

    assert order.status_code == job.status_code == 201, job.text
    assert order.json()["id"] != job.json()["id"]
    assert await count(platform, Job) == 2


# --- POST /upload ---------------------------------------------------------------------------


async def test_a_retried_upload_returns_the_first_upload(api: Api, platform: Platform) -> None:
    data = png_bytes(3, 2)

    first = await post_upload(api, "cust-1", data, "up-1")
    again = await post_upload(api, "cust-1", data, "up-1")

    assert first.status_code == 201, first.text
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert await count(platform, Upload) == 1


async def test_the_same_upload_key_with_other_bytes_or_purpose_is_a_conflict(
    api: Api, platform: Platform
) -> None:
    first = await post_upload(api, "cust-1", png_bytes(3, 2), "up-1")
    assert first.status_code == 201, first.text

    error(await post_upload(api, "cust-1", png_bytes(2, 3), "up-1"), 409, "IDEMPOTENCY_CONFLICT")
    error(
        await post_upload(api, "cust-1", png_bytes(3, 2), "up-1", purpose="licence"),
        409,
        "IDEMPOTENCY_CONFLICT",
    )

    assert await count(platform, Upload) == 1


async def test_upload_keys_belong_to_one_user(api: Api, platform: Platform) -> None:
    data = png_bytes(3, 2)

    first = await post_upload(api, "cust-1", data, "shared")
    second = await post_upload(api, "cust-2", data, "shared")

    assert first.status_code == second.status_code == 201, second.text
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["sha256"] == second.json()["sha256"]
    assert await count(platform, Upload) == 2
    # each user reads back their own upload
    for sub, upload in (("cust-1", first.json()), ("cust-2", second.json())):
        response = await api.client.get(upload["url"], headers=api.headers(sub))
        assert response.status_code == 200 and response.content == data


async def test_a_refused_upload_does_not_burn_its_key(api: Api, platform: Platform) -> None:
    refused = await post_upload(api, "cust-1", b"plain text", "up-1")
    error(refused, 422, "VALIDATION_FAILED")

    retried = await post_upload(api, "cust-1", png_bytes(), "up-1")

    assert retried.status_code == 201, retried.text
    assert await count(platform, Upload) == 1


# --- the key itself -------------------------------------------------------------------------


@pytest.mark.parametrize("bad_key", ["", "k" * 256])
async def test_a_key_must_be_1_to_255_characters(api: Api, platform: Platform, bad_key: str) -> None:
    response = await api.call("POST", "/jobs", "cust-1", json=quote_body(), headers=key(bad_key))

    error(response, 422, "VALIDATION_FAILED")
    assert await count(platform, Job) == 0


async def test_a_key_of_255_characters_is_fine(api: Api) -> None:
    long_key = "k" * 255
    first = await api.call("POST", "/jobs", "cust-1", json=quote_body(), headers=key(long_key))
    again = await api.call("POST", "/jobs", "cust-1", json=quote_body(), headers=key(long_key))

    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["id"] == again.json()["id"]


async def test_without_a_key_every_post_creates(api: Api, platform: Platform) -> None:
    for _ in range(2):
        await api.ok("POST", "/jobs", "cust-1", 201, json=quote_body())
        await api.upload("cust-1", "proof", png_bytes())

    assert await count(platform, Job) == 2
    assert await count(platform, Upload) == 2
