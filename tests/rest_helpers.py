"""Reading REST answers in the tests: a coded error, a timestamp."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    assert body["message"]
    return body


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
