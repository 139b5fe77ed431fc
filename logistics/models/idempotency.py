from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class IdempotencyKey(SQLModel, table=True):
    """The first answer to a creating request, keyed by (user, operation, client key)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    user_id: str = Field(max_length=255)
    scope: str = Field(max_length=64)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    resource_id: str = Field(max_length=26)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
