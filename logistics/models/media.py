from datetime import datetime

from sqlmodel import Field

from logistics.models.base import ListedByJob, Row, ref, utc


class Upload(Row, table=True):
    """A stored file. The bytes live under the storage directory by their SHA-256."""

    __tablename__ = "uploads"

    owner_id: str = Field(max_length=255, index=True)
    purpose: str = Field(max_length=16)
    content_type: str = Field(max_length=64)
    size: int
    sha256: str = Field(max_length=64)
    created_at: datetime = utc(now=True)


class JobImage(ListedByJob, table=True):
    __tablename__ = "job_images"

    upload_id: str = ref("uploads")
    kind: str = Field(max_length=16)
    uploaded_by: str = Field(max_length=16)
    uploader_id: str = Field(max_length=255)
    created_at: datetime = utc(now=True)
