"""A simulated driver: registers, goes online, pings while idle, answers its offers, and drives
each accepted job along a straight line through every step of the lifecycle."""

from __future__ import annotations

import asyncio
import struct
import zlib
from datetime import date, timedelta
from typing import Any

from logistics.demo.board import CANCELLED, COMPLETED, OFFERED, SEARCHING, UNDER_WAY
from logistics.demo.city import City
from logistics.demo.client import Reply, User
from logistics.demo.world import Point, distance_m, heading_deg, person, phone, towards, vehicle

# Real (wall-clock) seconds, whatever the speedup: how often a driver's app talks to the server.
POLL_S = 1.0  # the offers feed
PING_S = 4.0  # PUT /location while idle
TRACK_S = 2.0  # PUT /jobs/:id/tracking while driving
# The feed is read wide, so an offer dispatch made from farther than its default radius
# still shows; jobs open to anyone (their offers ran out) are taken only when this near.
FEED_RADIUS_M = 50_000
OPEN_FEED_REACH_M = 8_000
# Simulated seconds at a stop: finding the door, the handover.
HANDOVER_S = (45.0, 150.0)
# Simulated seconds without an offer after which a driver far from the middle heads there.
REPOSITION_AFTER_S = 300.0
REPOSITION_FROM_M = 6_000
# A refusal that says the job is no longer this driver's to move: stop trying.
GONE = ("INVALID_TRANSITION", "NOT_FOUND", "JOB_NOT_ACTIVE", "FORBIDDEN")


class JobLost(Exception):
    """The job cannot be moved on (cancelled, or the server keeps refusing)."""


def png(width: int = 4, height: int = 4) -> bytes:
    """A real, minimal PNG (uploads are checked by content)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b"".join(b"\x00" + b"\x20\x80\x40" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n% demo insurance certificate\n%%EOF\n"
APPROVE = "mutation Approve($id: ID!) { approveDriver(driverId: $id) { id status } }"


class Driver:
    def __init__(self, city: City, index: int) -> None:
        self.city, self.index = city, index
        self.rng = city.rng("driver", index)
        self.user = User(
            city.sub("driver", index), person(self.rng), phone(self.rng, city.region.country)
        ).mint(city.settings)
        self.vehicle = vehicle(self.rng, index)
        # Drivers wait where the orders are: denser towards the middle, spread over the area.
        self.at = city.area.around_centre(self.rng, 0.25)
        self.registered = False
        self.decided: set[str] = set()
        self.offered_at = 0.0  # loop time of the last offer considered

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        return await self.city.api.call(self.user, method, path, **kwargs)

    async def register(self) -> bool:
        """Documents, registration (approved by the demo's ops user when the server waits for
        review), position, online. False when the server refused any of it."""
        licence = await self.call(
            "POST",
            "/upload",
            files={"file": ("licence.png", png(), "image/png")},
            data={"purpose": "licence"},
        )
        insurance = await self.call(
            "POST",
            "/upload",
            files={"file": ("insurance.pdf", PDF, "application/pdf")},
            data={"purpose": "insurance"},
        )
        if not (licence.ok and insurance.ok):
            return False
        expires = (date.today() + timedelta(days=730)).isoformat()
        number = f"{self.rng.choice('BCDFGH')}{self.rng.randint(100000, 999999)}"
        driver = await self.call(
            "POST",
            "/register",
            json={
                "name": self.user.name,
                "phone": self.user.phone,
                "vehicle": self.vehicle,
                "licence": {"number": number, "expires_on": expires, "upload_id": licence.body["id"]},
                "insurance": {
                    "provider": self.rng.choice(["Allianz", "HUK-Coburg", "AXA", "ERGO"]),
                    "policy_number": f"P-{self.rng.randint(10000, 99999)}",
                    "expires_on": expires,
                    "upload_id": insurance.body["id"],
                },
            },
        )
        if not driver.ok:
            return False
        if driver.body.get("status") == "pending_review":
            # A server that does not approve at registration: the demo's ops token does.
            data = await self.city.api.graphql(self.city.ops, APPROVE, {"id": driver.body["id"]})
            if not data:
                return False
        self.registered = True  # from here on, the clean-up sets it offline
        # The position first: going online asks dispatch for a nearby job at once.
        return await self.ping() and (await self.call("PUT", "/availability", json={"online": True})).ok

    async def ping(self) -> bool:
        return bool((await self.call("PUT", "/location", json={**self.at.json(), "accuracy_m": 8})).ok)

    async def go_offline(self) -> None:
        if self.registered:
            await self.call("PUT", "/availability", json={"online": False})

    async def run(self) -> None:
        # Spread the fleet's polls over the second rather than all at once.
        await asyncio.sleep(self.rng.uniform(0, POLL_S))
        while True:
            job = await self.idle()
            try:
                await self.deliver(job)
            except JobLost:
                await self.check_lost(job["id"])

    # --- idle: ping, read the offers, decide -------------------------------------------------

    async def idle(self) -> dict[str, Any]:
        """Wait for a job where it is: ping now and then, poll the feed every second, answer
        each offer. A driver left without offers on the outskirts for a while heads for the
        busier middle, as drivers do, so that none idles out of dispatch's reach for good."""
        loop = asyncio.get_running_loop()
        next_ping = last = since = loop.time()
        heading_to: Point | None = None
        while True:
            now = loop.time()
            if heading_to is None and now - max(since, self.offered_at) > self.city.wall(REPOSITION_AFTER_S):
                since = now
                if distance_m(self.at, self.city.area.centre) > REPOSITION_FROM_M:
                    heading_to = self.city.area.around_centre(self.rng, 0.08)
            if heading_to is not None:
                speed = self.city.speed_mps * self.city.options.speedup
                self.at = towards(self.at, heading_to, speed * (now - last))
                if self.at == heading_to:
                    heading_to, since = None, now
            last = now
            if now >= next_ping:
                await self.ping()
                # While moving, as often as a job's trail, so the ops map shows the motion.
                next_ping = loop.time() + (TRACK_S if heading_to else PING_S * self.rng.uniform(0.8, 1.2))
            feed = await self.call("GET", "/jobs/available", params={"radius_m": FEED_RADIUS_M, "limit": 20})
            for item in feed.body.get("items", []) if feed.ok else []:
                job = await self.consider(item)
                if job is not None:
                    return job
            await asyncio.sleep(POLL_S * self.rng.uniform(0.9, 1.1))

    async def consider(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """An offer to this driver (``offer`` is set on it in this driver's feed), or a job
        whose offers ran out and waits for anyone nearby: accept it with probability
        ``--accept``, else reject it with a reason. The accepted job, or None."""
        job_id = item["id"]
        open_feed = (item.get("dispatch") or {}).get("state") == "open_feed"
        offered = item.get("offer") is not None
        if job_id in self.decided or not (offered or (open_feed and item["distance_m"] <= OPEN_FEED_REACH_M)):
            return None
        self.decided.add(job_id)
        self.offered_at = asyncio.get_running_loop().time()
        stats = self.city.stats
        if offered:
            stats.move(job_id, OFFERED)
        # Drawn whatever the outcome, so that the stream of choices stays the same under a seed.
        accepts = self.rng.random() < self.city.options.accept
        far = item["distance_m"] > 5_000
        reason = self.rng.choices(["too_far", "busy", "other"], weights=[6, 2, 1] if far else [1, 3, 2])[0]
        if accepts:
            # OFFER_TAKEN: another driver won the race for it (normal, not an error).
            reply = await self.call("PUT", f"/jobs/{job_id}/accept", expect=("OFFER_TAKEN",))
            if reply.ok:
                stats.move(job_id, UNDER_WAY)
                return dict(reply.body)
            if reply.code == "OFFER_TAKEN":
                stats.lost_races += 1
            return None
        reply = await self.call("PUT", f"/jobs/{job_id}/reject", json={"reason": reason})
        if reply.ok:
            stats.rejected += 1
            if stats.states.get(job_id) == OFFERED:
                stats.move(job_id, SEARCHING)
        return None

    # --- a job: drive, walk the steps, prove the delivery -----------------------------------

    async def deliver(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        pickup, dropoff = Point.of(job["pickup"]["point"]), Point.of(job["dropoff"]["point"])
        await self.step(job_id, "start-pickup")
        await self.drive(job_id, pickup)
        await self.step(job_id, "arrive-pickup")
        await asyncio.sleep(self.city.wall(self.rng.uniform(*HANDOVER_S)))
        await self.step(job_id, "complete-pickup")
        await self.step(job_id, "start-dropoff")
        await self.drive(job_id, dropoff)
        await self.step(job_id, "arrive-dropoff")
        await asyncio.sleep(self.city.wall(self.rng.uniform(*HANDOVER_S)))
        await self.photo(job_id)
        await self.step(job_id, "complete-dropoff")
        await self.step(job_id, "complete")
        self.city.stats.move(job_id, COMPLETED)
        self.city.on_delivered(job_id)

    async def drive(self, job_id: str, target: Point) -> None:
        """Move at the simulated speed in a straight line, posting the position on the job's
        GPS trail every TRACK_S real seconds (and once on arrival)."""
        speed = self.city.speed_mps * self.city.options.speedup  # metres per real second
        while True:
            left = distance_m(self.at, target)
            wait = min(TRACK_S, left / speed)
            await asyncio.sleep(wait)
            heading = heading_deg(self.at, target)
            self.at = towards(self.at, target, speed * wait)
            # speed_mps is the speed in the simulated city, as a phone would report it.
            point = {
                **self.at.json(),
                "heading_deg": round(heading, 1),
                "speed_mps": round(self.city.speed_mps, 1),
            }
            reply = await self.call("PUT", f"/jobs/{job_id}/tracking", json={"points": [point]})
            if reply.code in GONE:
                raise JobLost(job_id)
            if self.at == target:
                return

    async def step(self, job_id: str, name: str) -> dict[str, Any]:
        """One lifecycle step at the current position. A retried step that already happened
        answers 200, so a timeout or a 5xx is simply tried again."""
        for attempt in range(3):
            reply = await self.call("PUT", f"/jobs/{job_id}/{name}", json={"point": self.at.json()})
            if reply.ok:
                return dict(reply.body)
            if reply.code in GONE:
                break
            await asyncio.sleep(1.0 + attempt)
        raise JobLost(job_id)

    async def photo(self, job_id: str) -> None:
        """The proof of delivery complete-dropoff asks for in a photo region."""
        for attempt in range(3):
            files = {"file": ("dropoff.png", png(8, 6), "image/png")}
            reply = await self.call("POST", f"/jobs/{job_id}/images", files=files, data={"kind": "dropoff"})
            if reply.ok:
                return
            if reply.code in GONE:
                break
            await asyncio.sleep(1.0 + attempt)
        raise JobLost(job_id)

    async def check_lost(self, job_id: str) -> None:
        """After giving up on a job: was it cancelled? Either way, back to idle where it is."""
        reply = await self.call("GET", f"/jobs/{job_id}", expect=("NOT_FOUND",))
        if reply.ok and reply.body.get("status") == "cancelled":
            self.city.stats.move(job_id, CANCELLED)
