"""Dispatch's in-memory driver index: it answers as a full scan of the same drivers would, it
follows what commits change (in this process at once, in the others through the broker), it
is built again after a lost subscription, and a stale entry never yields a wrong offer."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from logistics.dispatch import follow
from logistics.dispatch.candidates import eligible_facts
from logistics.dispatch.index import DriverIndex
from logistics.geo import haversine_m
from logistics.job import feed
from logistics.platform import Platform
from tests.conftest import Clock, requires_postgres
from tests.dispatch_helpers import PICKUP, another_platform, north_of, offer_log, outcomes, three_drivers
from tests.factories import Api

CENTRE = (52.52, 13.405)
VEHICLES = ["bicycle", "motorbike", "car", "van"]
STALE_AFTER_S = 120


def _random_facts(rng: random.Random, driver_id: str, now: datetime) -> feed.DriverFacts:
    located = rng.random() > 0.05
    return feed.DriverFacts(
        id=driver_id,
        user_id=f"user-{driver_id}",
        vehicle_type=rng.choice(VEHICLES),
        approved=rng.random() > 0.1,
        online=rng.random() > 0.1,
        lat=CENTRE[0] + rng.uniform(-0.05, 0.05) if located else None,
        lng=CENTRE[1] + rng.uniform(-0.08, 0.08) if located else None,
        position_at=now - timedelta(seconds=rng.uniform(0, 2 * STALE_AFTER_S)) if located else None,
        busy=rng.random() < 0.2,
        live_offer_job="job-x" if rng.random() < 0.1 else None,
    )


def _scan(
    truth: dict[str, feed.DriverFacts],
    lat: float,
    lng: float,
    vehicles: set[str],
    now: datetime,
    radius_m: float,
) -> list[tuple[float, str]]:
    """Every driver measured: the answer the index must give."""
    found = []
    for facts in truth.values():
        if facts.vehicle_type not in vehicles or feed.driver_block(
            facts, now=now, stale_after_s=STALE_AFTER_S
        ):
            continue
        assert facts.lat is not None and facts.lng is not None
        distance = haversine_m(lat, lng, facts.lat, facts.lng)
        if distance <= radius_m:
            found.append((distance, facts.id))
    return sorted(found)


def test_the_index_agrees_with_a_full_scan_on_thousands_of_random_states() -> None:
    rng = random.Random(7)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    index, truth = DriverIndex(), {}
    ids = [f"d{i:04d}" for i in range(1500)]
    checked = 0
    for step in range(4000):
        driver_id = rng.choice(ids)
        held = index.facts.get(driver_id)
        roll = rng.random()
        if held is not None and roll < 0.5:
            # a ping written in bulk: newer positions only
            lat, lng = CENTRE[0] + rng.uniform(-0.05, 0.05), CENTRE[1] + rng.uniform(-0.08, 0.08)
            at = now - timedelta(seconds=rng.uniform(0, 2 * STALE_AFTER_S))
            index.move(driver_id, lat, lng, at)
            if held.position_at is None or at > held.position_at:
                truth[driver_id] = replace(truth[driver_id], lat=lat, lng=lng, position_at=at)
        elif roll < 0.9:
            # a row read back after a mark (online, approval, a job, an offer)
            facts = _random_facts(rng, driver_id, now)
            index.put(facts)
            # a newer position the index holds outlives a read that began before it was written
            if (
                held is not None
                and held.position_at is not None
                and (facts.position_at is None or facts.position_at < held.position_at)
            ):
                facts = replace(facts, lat=held.lat, lng=held.lng, position_at=held.position_at)
            truth[driver_id] = facts
        else:
            index.remove(driver_id)
            truth.pop(driver_id, None)
        if step % 20 == 0:
            for _ in range(3):
                lat, lng = CENTRE[0] + rng.uniform(-0.06, 0.06), CENTRE[1] + rng.uniform(-0.09, 0.09)
                vehicles = set(feed.vehicle_types_for(rng.choice(VEHICLES)))
                want, radius_m = rng.choice([1, 3, 10, 16]), rng.choice([800.0, 3000.0, 10_000.0])
                found = index.nearest(
                    lat,
                    lng,
                    vehicle_types=vehicles,
                    now=now,
                    max_age_s=STALE_AFTER_S,
                    radius_m=radius_m,
                    want=want,
                )
                expected = _scan(truth, lat, lng, vehicles, now, radius_m)[:want]
                assert [(round(d, 6), f.id) for f, d in found] == [(round(d, 6), i) for d, i in expected]
                checked += 1
    assert checked == 600


async def _database_view(platform: Platform) -> dict[str, feed.DriverFacts]:
    async with platform.db.session(write=False) as session:
        return {f.id: f for f in await eligible_facts(session)}


async def _refreshed(platform: Platform) -> dict[str, feed.DriverFacts]:
    async with platform.db.session(write=False) as session:
        await platform.drivers.refresh(session)
    return dict(platform.drivers.facts)


async def test_what_commits_change_reaches_the_index_and_it_matches_the_database(
    api: Api, platform: Platform, clock: Clock
) -> None:
    # given drivers registered, online and located, one order offered and accepted
    drivers = await three_drivers(api)
    offline = await api.register_driver("offline", at=north_of(PICKUP, 500), online=False)
    assert platform.drivers.ready
    order = await api.order("cust-1", pickup=PICKUP)
    await api.ok("PUT", f"/jobs/{order['id']}/accept", "near")
    second = await api.order("cust-2", pickup=PICKUP)
    # one driver goes offline, another moves through the ping buffer (written in bulk)
    await api.ok("PUT", "/availability", "far", json={"online": False})
    clock.advance(seconds=5)
    await api.ok("PUT", "/location", "mid", 204, json=north_of(PICKUP, 1200))
    await platform.positions.flush()

    # then the index, read back where marked, holds what the database holds
    index = await _refreshed(platform)
    assert index == await _database_view(platform)
    assert index[drivers["near"]["id"]].busy
    assert index[drivers["mid"]["id"]].live_offer_job == second["id"]
    assert index[drivers["mid"]["id"]].lat == pytest.approx(north_of(PICKUP, 1200)["lat"])
    assert drivers["far"]["id"] not in index and offline["id"] not in index


async def test_a_lost_subscription_builds_the_index_again(
    api: Api, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow, "RETRY_S", 0.0)
    drivers = await three_drivers(api)
    before = platform.driver_sync.rebuilds

    # when the broker subscription is lost and, meanwhile, a change is made that no commit
    # of this process announced (another tool writing to the database)
    async with platform.db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE drivers SET online = false WHERE id = :id"), {"id": drivers["mid"]["id"]}
        )
    for subscription in list(platform.pubsub._local[follow.CHANNEL]):
        subscription.close("the broker went away")

    # then the index is built again, and agrees with the database
    for _ in range(500):
        if platform.driver_sync.rebuilds > before and platform.drivers.ready:
            break
        await asyncio.sleep(0.01)
    assert platform.driver_sync.rebuilds == before + 1
    assert drivers["mid"]["id"] not in platform.drivers.facts
    assert await _refreshed(platform) == await _database_view(platform)


async def test_a_stale_entry_never_brings_an_offer_to_a_busy_driver(api: Api, platform: Platform) -> None:
    # given the nearest driver busy on a job, while the index still shows it free
    drivers = await three_drivers(api)
    first = await api.order("cust-1", pickup=PICKUP)
    await api.ok("PUT", f"/jobs/{first['id']}/accept", "near")
    near_id = drivers["near"]["id"]
    await _refreshed(platform)
    platform.drivers.put(replace(platform.drivers.facts[near_id], busy=False))

    # when an order is placed next to it, then the rule read from the database decides
    order = await api.order("cust-2", pickup=PICKUP)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("mid", "PENDING")]


async def test_while_the_index_is_built_dispatch_searches_in_sql(api: Api, platform: Platform) -> None:
    drivers = await three_drivers(api)
    platform.drivers.ready = False
    order = await api.order("cust-1", pickup=PICKUP)
    assert outcomes(await offer_log(api, order["id"]), drivers) == [("near", "PENDING")]


async def _eventually(check: Any) -> None:
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the other process never heard of the change")


@requires_postgres
async def test_a_change_in_one_process_reaches_the_other_through_the_broker(
    api: Api, platform: Platform, clock: Clock
) -> None:
    drivers = await three_drivers(api)
    async with another_platform(platform.settings, clock) as other:
        mid, far = drivers["mid"]["id"], drivers["far"]["id"]
        assert {mid, far} <= other.drivers.facts.keys()

        # when one driver goes offline and another moves (in bulk) in the first process
        await api.ok("PUT", "/availability", "far", json={"online": False})
        clock.advance(seconds=5)
        moved_to = north_of(PICKUP, 1500)
        await api.ok("PUT", "/location", "mid", 204, json=moved_to)
        await platform.positions.flush()

        # then the second process's index follows, without reading everything again
        async def heard() -> bool:
            await _refreshed(other)
            position = other.drivers.facts.get(mid)
            return far not in other.drivers.facts and position is not None and position.lat == moved_to["lat"]

        await _eventually(heard)
        assert other.driver_sync.rebuilds == 1
        assert await _refreshed(other) == await _database_view(other)
