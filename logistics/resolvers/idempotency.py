"""``Idempotency-Key``: the same key and body from the same user return the first answer.

The key is claimed before the work is done, inside a savepoint: on PostgreSQL a concurrent
request with the same key blocks on the unique index until the first one commits, then
finds its row and replays it, so one key never creates two objects. SQLite serialises
writers, which gives the same guarantee.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col

from logistics.errors import DomainError, ErrorCode
from logistics.models import IdempotencyKey
from logistics.platform import Ctx

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
MAX_KEY_LENGTH = 255


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _find(ctx: Ctx, scope: str, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(
        col(IdempotencyKey.user_id) == ctx.principal.sub,
        col(IdempotencyKey.scope) == scope,
        col(IdempotencyKey.key) == key,
    )
    return (await ctx.session.execute(query)).scalar_one_or_none()


async def once(
    ctx: Ctx,
    *,
    scope: str,
    key: str | None,
    payload: Any,
    create: Callable[[], Awaitable[tuple[str, T]]],
    replay: Callable[[str], Awaitable[T]],
) -> T:
    """Run ``create`` (returning the new object's id and the answer) at most once per key."""
    if key is None:
        return (await create())[1]
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            "Idempotency-Key must be 1 to 255 characters",
            {"fields": {"Idempotency-Key": "1 to 255 characters"}},
        )
    digest = fingerprint(payload)
    existing = await _find(ctx, scope, key)
    if existing is None:
        claim = IdempotencyKey(
            user_id=ctx.principal.sub, scope=scope, key=key, fingerprint=digest, resource_id=""
        )
        try:
            async with ctx.session.begin_nested():
                ctx.session.add(claim)
                await ctx.session.flush()
        except IntegrityError:
            existing = await _find(ctx, scope, key)
        else:
            resource_id, answer = await create()
            claim.resource_id = resource_id
            await ctx.session.flush()
            return answer
    if existing is None or existing.fingerprint != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_CONFLICT,
            "this Idempotency-Key was used with a different request body",
        )
    return await replay(existing.resource_id)


async def insert_once(
    ctx: Ctx,
    *,
    scope: str,
    key: str | None,
    payload: Any,
    model: type[M],
    build: Callable[[], M],
    view: Callable[[M], T],
    announce: Callable[[T], None] | None = None,
) -> T:
    """Insert the row ``build`` makes at most once per key and answer its view; a replay
    answers the view of the row the first request inserted. ``announce`` queues the new
    row's event (never sent for a replay)."""

    async def create() -> tuple[str, T]:
        row = build()
        ctx.session.add(row)
        await ctx.session.flush()
        answer = view(row)
        if announce is not None:
            announce(answer)
        return row.id, answer  # type: ignore[attr-defined]

    async def replay(row_id: str) -> T:
        row = await ctx.session.get(model, row_id)
        assert row is not None
        return view(row)

    return await once(ctx, scope=scope, key=key, payload=payload, create=create, replay=replay)
