"""What the tables share: the key, foreign keys to it, and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Index
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import declared_attr
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field, SQLModel
from ulid import ULID

ID_LENGTH = 26


def new_id() -> str:
    # ULIDs sort by creation time, which keeps keyset pagination and indexes friendly.
    return str(ULID()).lower()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Row(SQLModel):
    """The key of every table: a ULID made when the row is."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=ID_LENGTH)


def ref(table: str, **kwargs: Any) -> Any:
    """A column holding the id of a row of ``table``."""
    return Field(foreign_key=f"{table}.id", max_length=ID_LENGTH, **kwargs)


def utc(*, now: bool = False, **kwargs: Any) -> Any:
    """A timestamp column, aware and in UTC on every backend; ``now``: by default, the moment
    the row is made."""
    if now:
        kwargs["default_factory"] = utcnow
    return Field(sa_type=UTCDateTime, **kwargs)


class _Listed(Row):
    """A row the API lists under its parent, a page at a time in id order: the index on
    (parent, id) that keyset pagination walks, named ``ix_<table>_<parent>``."""

    parent: ClassVar[str]

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index(f"ix_{cls.__tablename__}_{cls.parent}", f"{cls.parent}_id", "id"),)


class ListedByJob(_Listed):
    parent = "job"
    job_id: str = ref("jobs")


class ListedByDriver(_Listed):
    parent = "driver"
    driver_id: str = ref("drivers")
