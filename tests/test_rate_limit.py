"""Per-user rate limits: a client over its budget is told to wait, others are unaffected."""

from __future__ import annotations

import pytest

from logistics.config import Settings
from logistics.ratelimit import RateLimiter
from tests.factories import Api


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_per_min": 3})


async def test_a_user_over_the_limit_gets_429_with_retry_after_and_others_are_served(api: Api) -> None:
    for _ in range(3):
        await api.ok("GET", "/orders", "busy-customer")

    refused = await api.call("GET", "/orders", "busy-customer")

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    await api.ok("GET", "/orders", "another-customer")


async def test_graphql_requests_count_against_the_same_budget(api: Api) -> None:
    headers = api.headers("gql-customer")
    for _ in range(3):
        await api.client.post("/graphql", json={"query": "{ orders { items { id } } }"}, headers=headers)

    refused = await api.client.post(
        "/graphql", json={"query": "{ orders { items { id } } }"}, headers=headers
    )

    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


def test_the_window_resets_after_a_minute() -> None:
    now = [1000.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.check("u")
    limiter.check("u")
    with pytest.raises(Exception, match="at most 2 requests"):
        limiter.check("u")

    now[0] += 60

    limiter.check("u")


def test_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(0)
    for _ in range(10_000):
        limiter.check("u")
