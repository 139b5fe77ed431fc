"""Two server processes behind one database and one Redis: what a driver reports to one of them
reaches a subscriber connected to the other.

The children are real ``uvicorn logistics.app:create_app --factory`` processes configured only
through ``LOGISTICS_*`` variables, as a deployment would run them. They share the database
under test (the PostgreSQL test database when ``LOGISTICS_TEST_DATABASE_URL`` is set, else a
SQLite file) migrated with Alembic, and always the Redis on 6379: broadcasting across
processes is what this test is about.
"""

from __future__ import annotations

import asyncio

from logistics.config import Settings
from logistics.pubsub import job_channel, location_channel
from tests.factories import ALEXANDERPLATZ, MITTE
from tests.process_helpers import (
    START_S,
    Server,
    customer_socket,
    job_across,
    receive,
    rest,
    subscribe,
    wait_for_redis_subscriber,
)

DRIVER_LOCATION = """
subscription Where($jobId: ID!) {
  driverLocation(jobId: $jobId) { jobId point { lat lng } recordedAt etaSeconds }
}
"""
JOB_UPDATED = """
subscription Updates($jobId: ID!) { jobUpdated(jobId: $jobId) { jobId status previous } }
"""


async def test_a_position_posted_to_one_process_reaches_a_subscriber_of_the_other(
    servers: tuple[Server, Server], child_settings: Settings
) -> None:
    a, b = servers
    await asyncio.wait_for(asyncio.gather(a.wait_ready(), b.wait_ready()), START_S)

    async with rest(a, child_settings) as api_a, rest(b, child_settings) as api_b:
        # given a driver registered on A, an order placed on B, accepted on A
        driver, order = await job_across(api_a, api_b)

        # and the customer subscribed over a websocket to B
        async with customer_socket(b, child_settings, "cust-1") as ws:
            await subscribe(ws, "where", DRIVER_LOCATION, jobId=order["id"])
            await subscribe(ws, "job", JOB_UPDATED, jobId=order["id"])
            await wait_for_redis_subscriber(location_channel(order["id"]))
            await wait_for_redis_subscriber(job_channel(order["id"]))

            # when the driver's app posts a tracking point to A
            await api_a.ok("PUT", f"/jobs/{order['id']}/tracking", driver["sub"], json=ALEXANDERPLATZ)

            # then the subscriber on B receives it
            message = await receive(ws)
            assert (message["id"], message["type"]) == ("where", "next"), message
            position = message["payload"]["data"]["driverLocation"]
            assert position["jobId"] == order["id"]
            assert position["point"] == ALEXANDERPLATZ

            # and a status change made on A reaches B too
            await api_a.ok("PUT", f"/jobs/{order['id']}/start-pickup", driver["sub"], json={"point": MITTE})
            message = await receive(ws)
            assert (message["id"], message["type"]) == ("job", "next"), message
            update = message["payload"]["data"]["jobUpdated"]
            assert (update["previous"], update["status"]) == ("ACCEPTED", "PICKUP_STARTED")
