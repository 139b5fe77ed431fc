"""Part 2: the whole core loop, one request at a time, timed step by step on the service.

Each iteration is a new customer and a new driver: quote, cash order (an ``Idempotency-Key``
of its own), the driver's documents, registration (approved at once: the service runs with
``LOGISTICS_DRIVER_AUTO_APPROVE``), online, a position, the feed, accept, the lifecycle with a
tracking point and the customer's track on the way, the dropoff photo, completion and the rating.

The order is a van's (an extra-large item) and the seeded fleet drives cars, so dispatch offers
it to nobody but the loop's own van driver once it reports a position near the pickup; the
driver goes offline after its job so that the next iteration's order is not offered to it. So
the ``order`` step includes a dispatch search that finds nobody, the dearest case of that search.
"""

from __future__ import annotations

import io
import time
import uuid
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import httpx

from bench.hotpaths_seed import token, token_settings
from tests.factories import KREUZBERG, MITTE, png_bytes, quote_body

REST = "/client/logistics"
WARDROBE = [{"description": "Wardrobe", "quantity": 1, "weight_kg": 60, "size": "xlarge"}]
# Between the tracking point (sent on the way to the pickup) and the dropoff photo.
STEPS_AFTER_TRACKING = ["arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]


class LoopFailed(RuntimeError):
    pass


class Walker:
    """One client, the step timings of every iteration, and a check of every answer."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.settings = token_settings()

    async def step(self, name: str, method: str, path: str, sub: str, status: int, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token(sub, self.settings)}", **kwargs.pop("headers", {})}
        started = time.perf_counter()
        response = await self.client.request(method, REST + path, headers=headers, **kwargs)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code != status:
            raise LoopFailed(
                f"{name}: {method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        self.timings[name].append(elapsed_ms)
        return response.json() if response.content else None

    async def upload(self, name: str, path: str, sub: str, form: dict[str, str]) -> Any:
        files = {"file": ("doc.png", io.BytesIO(png_bytes()), "image/png")}
        return await self.step(name, "POST", path, sub, 201, files=files, data=form)

    async def iteration(self, nonce: str) -> None:
        customer, driver = f"loop-customer-{nonce}", f"loop-driver-{nonce}"
        quote = await self.step("quote", "POST", "/quote", customer, 201, json=quote_body(items=WARDROBE))
        order = await self.step(
            "order",
            "POST",
            "/orders",
            customer,
            201,
            json={"quote_id": quote["id"], "payment_method": "cash"},
            headers={"Idempotency-Key": f"hotpaths-{nonce}"},
        )
        job = order["id"]
        licence = await self.upload("upload licence", "/upload", driver, {"purpose": "licence"})
        insurance = await self.upload("upload insurance", "/upload", driver, {"purpose": "insurance"})
        expires = (date.today() + timedelta(days=365)).isoformat()
        vehicle = {"type": "van", "make": "VW", "model": "Crafter", "plate": "B-HP 1", "color": "white"}
        await self.step(
            "register",
            "POST",
            "/register",
            driver,
            201,
            json={
                "name": f"Driver {nonce}",
                "phone": "+49 30 7654321",
                "vehicle": vehicle,
                "licence": {"number": "B123456", "expires_on": expires, "upload_id": licence["id"]},
                "insurance": {
                    "provider": "Allianz",
                    "policy_number": "P-1",
                    "expires_on": expires,
                    "upload_id": insurance["id"],
                },
            },
        )
        await self.step("availability online", "PUT", "/availability", driver, 200, json={"online": True})
        await self.step("location", "PUT", "/location", driver, 204, json=MITTE)
        feed = await self.step("jobs/available", "GET", "/jobs/available", driver, 200)
        if job not in {item["id"] for item in feed["items"]}:
            raise LoopFailed(f"jobs/available: the loop's job {job} is not in the driver's feed")
        await self.step("accept", "PUT", f"/jobs/{job}/accept", driver, 200)
        await self.step(
            "start-pickup", "PUT", f"/jobs/{job}/start-pickup", driver, 200, json={"point": MITTE}
        )
        await self.step("tracking", "PUT", f"/jobs/{job}/tracking", driver, 200, json=MITTE)
        await self.step("track", "GET", f"/orders/{job}/track", customer, 200)
        for name in STEPS_AFTER_TRACKING:
            await self.step(name, "PUT", f"/jobs/{job}/{name}", driver, 200, json={"point": KREUZBERG})
        await self.upload("dropoff image", f"/jobs/{job}/images", driver, {"kind": "dropoff"})
        point = {"point": KREUZBERG}
        await self.step("complete-dropoff", "PUT", f"/jobs/{job}/complete-dropoff", driver, 200, json=point)
        await self.step("complete", "PUT", f"/jobs/{job}/complete", driver, 200, json={})
        await self.step("rate", "POST", f"/orders/{job}/rate", customer, 201, json={"stars": 5})
        await self.step("availability offline", "PUT", "/availability", driver, 200, json={"online": False})


async def core_loop(base_url: str, iterations: int) -> dict[str, list[float]]:
    """Step name -> milliseconds of each iteration, in the order the loop takes the steps."""
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        walker = Walker(client)
        # One untimed walk first: imports and caches of a path's first use are not its latency.
        await walker.iteration(f"{run}-warm")
        walker.timings.clear()
        for i in range(iterations):
            await walker.iteration(f"{run}-{i}")
    return dict(walker.timings)
