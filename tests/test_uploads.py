"""Uploads and job images: the type decided by the bytes, the size bounded, the file stored by
its hash, and only the people involved can read it back."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path
from typing import Any

import pytest

from logistics.config import Settings
from tests.factories import Api, png_bytes
from tests.rest_helpers import error

JPEG = (
    b"\xff\xd8\xff\xe0"
    + struct.pack(">H", 16)
    + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\xff\xd9"
)
WEBP = b"RIFF" + struct.pack("<I", 26) + b"WEBPVP8L" + struct.pack("<I", 14) + b"\x2f" + b"\x00" * 13
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
MIB = 1024 * 1024


async def upload(
    api: Api,
    sub: str,
    data: bytes,
    *,
    filename: str = "file.bin",
    declared: str = "application/octet-stream",
    purpose: str = "proof",
) -> Any:
    files = {"file": (filename, io.BytesIO(data), declared)}
    return await api.call("POST", "/upload", sub, files=files, data={"purpose": purpose})


def stored_files(settings: Settings) -> list[Path]:
    root = settings.storage_dir
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def fetch(api: Api, url: str, sub: str) -> Any:
    return await api.client.get(url, headers=api.headers(sub))


async def accepted_job(api: Api) -> tuple[str, str]:
    driver = await api.register_driver()
    order = await api.order("cust-1")
    await api.ok("PUT", f"/jobs/{order['id']}/accept", driver["sub"])
    return driver["sub"], order["id"]


# --- content type by content ----------------------------------------------------------------


async def test_a_png_named_exe_is_a_png(api: Api) -> None:
    response = await upload(
        api, "cust-1", png_bytes(), filename="setup.exe", declared="application/x-msdownload"
    )

    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "image/png"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(JPEG, "image/jpeg"), (WEBP, "image/webp"), (PDF, "application/pdf"), (png_bytes(), "image/png")],
    ids=["jpeg", "webp", "pdf", "png"],
)
async def test_jpeg_png_webp_and_pdf_are_recognised_by_their_magic(
    api: Api, data: bytes, content_type: str
) -> None:
    response = await upload(api, "cust-1", data, filename="scan", declared="text/plain", purpose="licence")

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["content_type"] == content_type
    assert stored["size"] == len(data)
    assert set(stored) >= {"id", "url", "content_type", "size", "sha256"}


@pytest.mark.parametrize(
    "data",
    [
        b"just some text, honestly a picture",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"MZ\x90\x00\x03\x00\x00\x00",
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"\x89PNG",  # a truncated signature is not a PNG
    ],
    ids=["text", "svg", "gif", "exe", "wav", "truncated-png"],
)
async def test_other_content_is_refused_whatever_its_name(api: Api, settings: Settings, data: bytes) -> None:
    response = await upload(api, "cust-1", data, filename="photo.png", declared="image/png")

    error(response, 422, "VALIDATION_FAILED")
    assert stored_files(settings) == []


async def test_an_empty_file_is_refused(api: Api) -> None:
    error(await upload(api, "cust-1", b"", filename="empty.png"), 422, "VALIDATION_FAILED")


# --- size -----------------------------------------------------------------------------------


async def test_a_file_of_exactly_the_limit_is_accepted(api: Api, settings: Settings) -> None:
    data = png_bytes() + b"\x00" * (settings.max_upload_mb * MIB - len(png_bytes()))

    response = await upload(api, "cust-1", data)

    assert response.status_code == 201, response.text
    assert response.json()["size"] == settings.max_upload_mb * MIB


@pytest.mark.parametrize("extra", [1, 100 * 1024, 3 * MIB])
async def test_a_file_over_the_limit_is_too_large(api: Api, settings: Settings, extra: int) -> None:
    data = png_bytes() + b"\x00" * (settings.max_upload_mb * MIB - len(png_bytes()) + extra)

    response = await upload(api, "cust-1", data)

    error(response, 413, "PAYLOAD_TOO_LARGE")
    assert stored_files(settings) == []


async def test_a_job_image_over_the_limit_is_too_large(api: Api, settings: Settings) -> None:
    driver, job_id = await accepted_job(api)
    data = png_bytes() + b"\x00" * (settings.max_upload_mb * MIB)

    response = await api.call(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        files={"file": ("big.png", io.BytesIO(data), "image/png")},
        data={"kind": "pickup"},
    )

    error(response, 413, "PAYLOAD_TOO_LARGE")
    assert (await api.ok("GET", f"/jobs/{job_id}/images", driver))["items"] == []


# --- storage by hash ------------------------------------------------------------------------


async def test_the_file_is_stored_by_its_hash_never_by_its_name(api: Api, settings: Settings) -> None:
    data = png_bytes(3, 3)
    digest = hashlib.sha256(data).hexdigest()

    response = await upload(api, "cust-1", data, filename="../../passport-scan.png", declared="image/png")

    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["sha256"] == digest
    assert stored["sha256"] == stored["sha256"].lower() and len(stored["sha256"]) == 64
    path = settings.storage_dir / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert stored_files(settings) == [path]
    assert not any("passport" in p.name for p in settings.storage_dir.rglob("*"))
    assert not any("passport" in p.name for p in settings.storage_dir.parent.rglob("*"))


async def test_the_same_bytes_twice_are_two_uploads_of_one_file(api: Api, settings: Settings) -> None:
    data = png_bytes(4, 4)
    first = (await upload(api, "cust-1", data)).json()
    second = (await upload(api, "cust-2", data)).json()

    assert first["id"] != second["id"]
    assert first["sha256"] == second["sha256"]
    assert len(stored_files(settings)) == 1


# --- reading back ---------------------------------------------------------------------------


async def test_the_owner_reads_the_bytes_back_and_a_stranger_cannot(api: Api) -> None:
    data = png_bytes(5, 5)
    stored = (await upload(api, "cust-1", data, filename="me.png")).json()

    mine = await fetch(api, stored["url"], "cust-1")
    theirs = await fetch(api, stored["url"], "cust-2")
    missing = await fetch(api, stored["url"].replace(stored["id"], "01aaaaaaaaaaaaaaaaaaaaaaaa"), "cust-2")
    anonymous = await api.client.get(stored["url"])

    assert mine.status_code == 200
    assert mine.content == data
    assert mine.headers["content-type"] == "image/png"
    assert hashlib.sha256(mine.content).hexdigest() == stored["sha256"]
    error(theirs, 404, "NOT_FOUND")
    assert theirs.json() == missing.json()
    error(anonymous, 401, "UNAUTHENTICATED")


async def test_a_pdf_is_served_as_a_pdf(api: Api) -> None:
    stored = (await upload(api, "cust-1", PDF, filename="licence.pdf", purpose="licence")).json()

    response = await fetch(api, stored["url"], "cust-1")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == PDF


# --- job images -----------------------------------------------------------------------------


async def test_the_driver_adds_photos_by_multipart_and_by_upload_id(api: Api) -> None:
    driver, job_id = await accepted_job(api)

    # multipart
    sent = png_bytes(6, 6)
    by_file = await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("box.exe", io.BytesIO(sent), "application/octet-stream")},
        data={"kind": "pickup"},
    )
    assert by_file["kind"] == "pickup"
    assert by_file["content_type"] == "image/png"
    assert by_file["size"] == len(sent)
    assert by_file["sha256"] == hashlib.sha256(sent).hexdigest()
    assert by_file["uploaded_by"] == "driver"
    assert by_file["created_at"]

    # JSON with an earlier upload
    earlier = (await upload(api, driver, JPEG, filename="scratch.jpg")).json()
    by_id = await api.ok(
        "POST", f"/jobs/{job_id}/images", driver, 201, json={"upload_id": earlier["id"], "kind": "damage"}
    )
    assert by_id["kind"] == "damage"
    assert by_id["content_type"] == "image/jpeg"
    assert by_id["sha256"] == earlier["sha256"]

    # both appear, oldest first, for both participants, and their bytes can be read by both
    for sub in (driver, "cust-1"):
        listed = await api.ok("GET", f"/jobs/{job_id}/images", sub)
        assert [image["id"] for image in listed["items"]] == [by_file["id"], by_id["id"]]
        assert listed["next_cursor"] is None
        content = await fetch(api, by_file["url"], sub)
        assert content.status_code == 200 and content.content == sent


async def test_job_images_are_listed_page_by_page(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    ids = []
    for n in range(3):
        image = await api.ok(
            "POST",
            f"/jobs/{job_id}/images",
            driver,
            201,
            files={"file": (f"{n}.png", io.BytesIO(png_bytes(n + 1, 1)), "image/png")},
            data={"kind": "other"},
        )
        ids.append(image["id"])

    first = await api.ok("GET", f"/jobs/{job_id}/images", "cust-1", params={"limit": 2})
    second = await api.ok(
        "GET", f"/jobs/{job_id}/images", "cust-1", params={"limit": 2, "cursor": first["next_cursor"]}
    )

    assert [image["id"] for image in first["items"]] == ids[:2]
    assert first["next_cursor"]
    assert [image["id"] for image in second["items"]] == ids[2:]
    assert second["next_cursor"] is None
    for limit in (0, 101):
        response = await api.call("GET", f"/jobs/{job_id}/images", "cust-1", params={"limit": limit})
        error(response, 422, "VALIDATION_FAILED")


async def test_the_customer_adds_damage_photos_but_not_proof_of_delivery(api: Api) -> None:
    _driver, job_id = await accepted_job(api)
    mine = (await upload(api, "cust-1", png_bytes(7, 7))).json()

    damage = await api.call(
        "POST", f"/jobs/{job_id}/images", "cust-1", json={"upload_id": mine["id"], "kind": "damage"}
    )
    dropoff = await api.call(
        "POST", f"/jobs/{job_id}/images", "cust-1", json={"upload_id": mine["id"], "kind": "dropoff"}
    )
    dropoff_file = await api.call(
        "POST",
        f"/jobs/{job_id}/images",
        "cust-1",
        files={"file": ("door.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "dropoff"},
    )

    assert damage.status_code == 201, damage.text
    assert damage.json()["uploaded_by"] == "customer"
    error(dropoff, 403, "FORBIDDEN")
    error(dropoff_file, 403, "FORBIDDEN")
    listed = await api.ok("GET", f"/jobs/{job_id}/images", "cust-1")
    assert [image["kind"] for image in listed["items"]] == ["damage"]


async def test_a_stranger_neither_adds_nor_sees_job_images(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    image = await api.ok(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        201,
        files={"file": ("box.png", io.BytesIO(png_bytes(8, 8)), "image/png")},
        data={"kind": "pickup"},
    )
    strangers_upload = (await upload(api, "stranger", png_bytes(9, 9))).json()
    other_driver = await api.register_driver()

    for sub in ("stranger", other_driver["sub"]):
        error(await api.call("GET", f"/jobs/{job_id}/images", sub), 404, "NOT_FOUND")
        error(await fetch(api, image["url"], sub), 404, "NOT_FOUND")
    added = await api.call(
        "POST",
        f"/jobs/{job_id}/images",
        "stranger",
        files={"file": ("x.png", io.BytesIO(png_bytes()), "image/png")},
        data={"kind": "damage"},
    )
    error(added, 404, "NOT_FOUND")
    by_id = await api.call(
        "POST",
        f"/jobs/{job_id}/images",
        "stranger",
        json={"upload_id": strangers_upload["id"], "kind": "other"},
    )
    error(by_id, 404, "NOT_FOUND")
    assert [i["id"] for i in (await api.ok("GET", f"/jobs/{job_id}/images", "cust-1"))["items"]] == [
        image["id"]
    ]


async def test_someone_elses_upload_cannot_be_attached(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    theirs = (await upload(api, "cust-2", png_bytes(10, 10))).json()

    response = await api.call(
        "POST", f"/jobs/{job_id}/images", driver, json={"upload_id": theirs["id"], "kind": "pickup"}
    )

    assert "upload_id" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
    error(await fetch(api, theirs["url"], driver), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"json": {"upload_id": "x", "kind": "selfie"}},
        {"json": {"kind": "pickup"}},
        {"files": {"file": ("a.png", b"", "image/png")}, "data": {"kind": "selfie"}},
        {"files": {"file": ("a.png", b"", "image/png")}},
        {"data": {"kind": "pickup"}, "files": {"other": ("a.png", b"x", "image/png")}},
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
    ],
    ids=[
        "unknown-kind",
        "no-upload",
        "multipart-unknown-kind",
        "multipart-no-kind",
        "multipart-no-file",
        "bad-json",
    ],
)
async def test_a_malformed_image_request_is_refused(api: Api, request_kwargs: dict[str, Any]) -> None:
    driver, job_id = await accepted_job(api)

    response = await api.call("POST", f"/jobs/{job_id}/images", driver, **request_kwargs)

    error(response, 422, "VALIDATION_FAILED")


async def test_the_driver_adds_no_photos_once_the_job_is_over(api: Api) -> None:
    driver, job_id = await accepted_job(api)
    await api.walk_to(driver, job_id, "complete")

    response = await api.call(
        "POST",
        f"/jobs/{job_id}/images",
        driver,
        files={"file": ("late.png", io.BytesIO(png_bytes(11, 11)), "image/png")},
        data={"kind": "other"},
    )

    error(response, 409, "JOB_NOT_ACTIVE")


@pytest.mark.parametrize("purpose", ["selfie", ""])
async def test_an_unknown_purpose_is_refused(api: Api, purpose: str) -> None:
    response = await upload(api, "cust-1", png_bytes(), purpose=purpose)

    assert "purpose" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]


async def test_an_upload_without_a_file_is_refused(api: Api) -> None:
    response = await api.call("POST", "/upload", "cust-1", data={"purpose": "proof"})

    assert "file" in error(response, 422, "VALIDATION_FAILED")["details"]["fields"]
