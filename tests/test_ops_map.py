"""The ops map's GraphQL snapshot: for ops only; online drivers with stale ones marked, busy ones
and offer holders told apart, the jobs under way with their live offers, and a clicked job's
timeline and offer log."""

from __future__ import annotations

from typing import Any

import pytest

from logistics.config import Settings
from tests.conftest import Clock
from tests.dispatch_helpers import OPS, PICKUP, north_of
from tests.factories import Api
from tests.realtime_helpers import codes, graphql

OPS_MAP = """
query OpsMap($limit: Int!) {
  opsMap(limit: $limit) {
    drivers { id name vehicleType point { lat lng } stale busy offeredJobId }
    jobs { id status pickup { lat lng } driverId offer { driverId expiresAt } }
    truncated generatedAt
  }
}
"""
OPS_JOB = """
query OpsJob($id: ID!) {
  opsJob(jobId: $id) { jobId status timeline { status actor } offerLog { entries { driverId status } } }
}
"""


async def as_ops(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    return await graphql(api, OPS, query, headers=api.headers(OPS, roles=["ops"]), **variables)


async def test_the_snapshot_shows_drivers_jobs_and_live_offers(
    api: Api, clock: Clock, settings: Settings
) -> None:
    # given a driver whose position went stale, then two fresh ones, and an order offered to
    # the nearest; and a second order accepted by the far driver (busy)
    stale = await api.register_driver("stale", at=north_of(PICKUP, 100))
    clock.advance(seconds=settings.location_stale_after_s + 10)
    near = await api.register_driver("near", at=north_of(PICKUP, 300))
    far = await api.register_driver("far", at=north_of(PICKUP, 3000))
    offered = await api.order("cust-1", pickup=PICKUP)
    taken = await api.order("cust-2", pickup=north_of(PICKUP, 2900))
    await api.ok("PUT", f"/jobs/{taken['id']}/accept", "far")

    body = await as_ops(api, OPS_MAP, limit=100)
    assert not body.get("errors"), body
    snapshot = body["data"]["opsMap"]
    drivers = {d["id"]: d for d in snapshot["drivers"]}
    assert drivers[stale["id"]]["stale"] and not drivers[near["id"]]["stale"]
    assert drivers[near["id"]]["offeredJobId"] == offered["id"] and not drivers[near["id"]]["busy"]
    assert drivers[far["id"]]["busy"]
    jobs = {j["id"]: j for j in snapshot["jobs"]}
    assert jobs[offered["id"]]["status"] == "SEARCHING"
    assert jobs[offered["id"]]["offer"]["driverId"] == near["id"]
    assert jobs[taken["id"]]["status"] == "ACCEPTED" and jobs[taken["id"]]["driverId"] == far["id"]
    assert jobs[taken["id"]]["offer"] is None
    assert not snapshot["truncated"]

    # a clicked job: its steps and its offers
    detail = (await as_ops(api, OPS_JOB, id=offered["id"]))["data"]["opsJob"]
    assert [step["status"] for step in detail["timeline"]] == ["SEARCHING"]
    assert detail["offerLog"]["entries"] == [{"driverId": near["id"], "status": "PENDING"}]


async def test_finished_jobs_leave_the_map_and_the_limit_truncates(api: Api) -> None:
    await api.register_driver("a", at=north_of(PICKUP, 100))
    await api.register_driver("b", at=north_of(PICKUP, 200))
    order = await api.order("cust-1", pickup=PICKUP)
    await api.ok("PUT", f"/orders/{order['id']}/cancel", "cust-1", json={"reason": "testing"})

    snapshot = (await as_ops(api, OPS_MAP, limit=1))["data"]["opsMap"]
    assert snapshot["jobs"] == [] and len(snapshot["drivers"]) == 1 and snapshot["truncated"]


@pytest.mark.parametrize("query", [OPS_MAP, OPS_JOB])
async def test_only_ops_read_the_map(api: Api, query: str) -> None:
    order = await api.order("cust-1")
    for sub in ("cust-1", "drv-x"):
        body = await graphql(api, sub, query, limit=10, id=order["id"])
        assert codes(body) == ["FORBIDDEN"], body


async def test_a_limit_out_of_range_is_refused(api: Api) -> None:
    assert codes(await as_ops(api, OPS_MAP, limit=0)) == ["VALIDATION_FAILED"]
    assert codes(await as_ops(api, OPS_MAP, limit=5001)) == ["VALIDATION_FAILED"]
    assert codes(await as_ops(api, OPS_JOB, id="missing")) == ["NOT_FOUND"]
