"""Builders for the objects tests need, made through the public API as a client would."""

from __future__ import annotations

import io
import itertools
from datetime import date, timedelta
from typing import Any

import httpx

from logistics.auth import mint_token
from logistics.config import Settings
from logistics.demo.fleet import png

REST = "/client/logistics"
ALEXANDERPLATZ = {"lat": 52.5219, "lng": 13.4132}
KREUZBERG = {"lat": 52.4986, "lng": 13.4030}
MITTE = {"lat": 52.5200, "lng": 13.4050}
PARIS = {"lat": 48.8566, "lng": 2.3522}
_counter = itertools.count(1)


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real, minimal PNG image (the demo's uploads use the same maker)."""
    return png(width, height)


def stop(
    point: dict[str, float], *, line1: str = "Alexanderplatz 1", postcode: str = "10178"
) -> dict[str, Any]:
    return {
        "address": {"line1": line1, "city": "Berlin", "postcode": postcode, "country": "DE"},
        "point": point,
        "contact": {"name": "Kim Example", "phone": "+49 30 1234567"},
        "instructions": "Ring twice",
    }


def quote_body(
    pickup: dict[str, float] = ALEXANDERPLATZ, dropoff: dict[str, float] = KREUZBERG, **extra: Any
) -> dict[str, Any]:
    body = {
        "pickup": stop(pickup),
        "dropoff": stop(dropoff, line1="Oranienstrasse 10", postcode="10999"),
        "items": [{"description": "Box of books", "quantity": 1, "weight_kg": 4, "size": "small"}],
    }
    body.update(extra)
    return body


class Api:
    """A thin client of the REST surface with tokens for any user."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def headers(self, sub: str, *, roles: list[str] | None = None, **extra: str) -> dict[str, str]:
        token = mint_token(self.settings, sub, name=f"User {sub}", phone="+49 30 5550000", roles=roles)
        return {"Authorization": f"Bearer {token}", **extra}

    async def call(self, method: str, path: str, sub: str | None, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if sub is not None:
            headers = {**self.headers(sub, roles=kwargs.pop("roles", None)), **headers}
        return await self.client.request(method, REST + path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, sub: str | None, status: int = 200, **kwargs: Any) -> Any:
        response = await self.call(method, path, sub, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    async def upload(self, sub: str, purpose: str = "licence", data: bytes | None = None) -> dict[str, Any]:
        files = {"file": ("doc.png", io.BytesIO(data or png_bytes()), "image/png")}
        return await self.ok("POST", "/upload", sub, 201, files=files, data={"purpose": purpose})

    async def register_driver(
        self,
        sub: str | None = None,
        *,
        vehicle: str = "car",
        at: dict[str, float] | None = MITTE,
        online: bool = True,
    ) -> dict[str, Any]:
        sub = sub or f"driver-{next(_counter)}"
        licence = await self.upload(sub, "licence")
        insurance = await self.upload(sub, "insurance")
        expires = (date.today() + timedelta(days=365)).isoformat()
        driver = await self.ok(
            "POST",
            "/register",
            sub,
            201,
            json={
                "name": f"Driver {sub}",
                "phone": "+49 30 7654321",
                "vehicle": {
                    "type": vehicle,
                    "make": "VW",
                    "model": "Caddy",
                    "plate": "B-LG 123",
                    "color": "white",
                },
                "licence": {"number": "B123456", "expires_on": expires, "upload_id": licence["id"]},
                "insurance": {
                    "provider": "Allianz",
                    "policy_number": "P-1",
                    "expires_on": expires,
                    "upload_id": insurance["id"],
                },
            },
        )
        if online:
            await self.ok("PUT", "/availability", sub, json={"online": True})
        if at is not None:
            await self.ok("PUT", "/location", sub, 204, json=at)
        driver["sub"] = sub
        return driver

    async def order(self, customer: str, **quote_extra: Any) -> dict[str, Any]:
        quote = await self.ok("POST", "/quote", customer, 201, json=quote_body(**quote_extra))
        return await self.ok(
            "POST", "/orders", customer, 201, json={"quote_id": quote["id"], "payment_method": "cash"}
        )

    async def walk_to(self, driver: str, job_id: str, last_step: str) -> dict[str, Any]:
        """Drive an accepted job through the lifecycle up to and including ``last_step``."""
        steps = ["start-pickup", "arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]
        steps += ["complete-dropoff", "complete"]
        job: dict[str, Any] = {}
        for step in steps:
            if step == "complete-dropoff":
                await self.ok(
                    "POST",
                    f"/jobs/{job_id}/images",
                    driver,
                    201,
                    files={"file": ("proof.png", io.BytesIO(png_bytes()), "image/png")},
                    data={"kind": "dropoff"},
                )
            job = await self.ok("PUT", f"/jobs/{job_id}/{step}", driver, json={"point": KREUZBERG})
            if step == last_step:
                break
        return job
