from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from logistics.models.base import UTCDateTime, new_id, utcnow


class Upload(SQLModel, table=True):
    """A stored file. The bytes live under the storage directory by their SHA-256."""

    __tablename__ = "uploads"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    owner_id: str = Field(max_length=255, index=True)
    purpose: str = Field(max_length=16)
    content_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JobImage(SQLModel, table=True):
    __tablename__ = "job_images"
    __table_args__ = (Index("ix_job_images_job", "job_id", "id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=26)
    job_id: str = Field(foreign_key="jobs.id", max_length=26)
    upload_id: str = Field(foreign_key="uploads.id", max_length=26)
    kind: str = Field(max_length=16)
    uploaded_by: str = Field(max_length=16)
    uploader_id: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
