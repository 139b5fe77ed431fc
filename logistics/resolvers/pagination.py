"""Keyset pagination over ULID ids, with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from logistics.errors import DomainError, ErrorCode

T = TypeVar("T")
MAX_LIMIT = 100


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            f"limit must be between 1 and {MAX_LIMIT}",
            {"fields": {"limit": f"between 1 and {MAX_LIMIT}"}},
        )
    return limit


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
            raise ValueError("not urlsafe base64")
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED,
            "invalid cursor",
            {"fields": {"cursor": "not a cursor from this API"}},
        ) from exc


async def keyset_page(
    session: AsyncSession,
    query: Select[Any],
    id_column: Any,
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
) -> tuple[list[Any], str | None]:
    """Rows after the cursor and the cursor of the next page (None on the last page)."""
    check_limit(limit)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column.asc()).limit(limit + 1)
    rows: Sequence[Any] = (await session.execute(query)).scalars().all()
    items = list(rows[:limit])
    next_cursor = encode_cursor(items[-1].id) if len(rows) > limit else None
    return items, next_cursor


def offset_page(items: list[T], *, limit: int, cursor: str | None) -> tuple[list[T], str | None]:
    """Pagination for lists sorted by something other than id (the feed, by distance)."""
    check_limit(limit)
    raw = decode_cursor(cursor)
    try:
        start = int(raw) if raw is not None else 0
    except ValueError as exc:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED, "invalid cursor", {"fields": {"cursor": "invalid"}}
        ) from exc
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, encode_cursor(str(start + limit)) if more else None
