"""PostgreSQL drops the service's connections (a restart, a failover): the service is not
pre-pinging each checkout, so the request that meets a dead connection is answered
``UNAVAILABLE`` with ``Retry-After`` (never a 500), and the next one is served by a new one."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from logistics.config import Settings
from tests.conftest import requires_postgres
from tests.factories import Api
from tests.graphql_helpers import GraphQL

TRACK = "query($id: ID!) { trackOrder(jobId: $id) { status } }"


async def drop_every_other_connection(url: str) -> int:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return int(result.scalar_one())
    finally:
        await engine.dispose()


@requires_postgres
async def test_a_dropped_connection_costs_one_retryable_answer_over_rest(
    api: Api, settings: Settings
) -> None:
    order = await api.order("cust-1")
    await api.ok("GET", f"/orders/{order['id']}/track", "cust-1")
    assert await drop_every_other_connection(settings.database_url) >= 1

    answers = [await api.call("GET", f"/orders/{order['id']}/track", "cust-1") for _ in range(3)]

    for answer in answers:
        assert answer.status_code in (200, 503), answer.text
        if answer.status_code == 503:
            assert answer.json()["error"]["code"] == "UNAVAILABLE"
            assert answer.headers["Retry-After"] == "1"
    assert answers[-1].status_code == 200


@requires_postgres
async def test_a_dropped_connection_costs_one_retryable_answer_over_graphql(
    api: Api, gql: GraphQL, settings: Settings
) -> None:
    order = await api.order("cust-1")
    await gql.ok("cust-1", TRACK, {"id": order["id"]})
    assert await drop_every_other_connection(settings.database_url) >= 1

    bodies = [await gql.post("cust-1", TRACK, {"id": order["id"]}) for _ in range(3)]

    for body in bodies:
        codes = [error["extensions"]["code"] for error in body.get("errors") or []]
        assert codes in ([], ["UNAVAILABLE"]), body
    assert bodies[-1]["data"]["trackOrder"]["status"] == "SEARCHING"
