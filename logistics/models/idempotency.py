from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field

from logistics.models.base import Row, utc


class IdempotencyKey(Row, table=True):
    """The first answer to a creating request, keyed by (user, operation, client key)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    user_id: str = Field(max_length=255)
    scope: str = Field(max_length=64)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    resource_id: str = Field(max_length=26)
    created_at: datetime = utc(now=True)
