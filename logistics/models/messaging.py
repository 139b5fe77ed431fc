from datetime import datetime

from sqlalchemy import JSON
from sqlmodel import Field

from logistics.models.base import ListedByJob, utc


class Message(ListedByJob, table=True):
    """A line of the job's chat between its customer and its driver."""

    __tablename__ = "messages"

    sender_id: str = Field(max_length=255)
    sender_role: str = Field(max_length=16)
    body: str = Field(max_length=2000)
    created_at: datetime = utc(now=True)
    read_at: datetime | None = utc(default=None)


class JobIssue(ListedByJob, table=True):
    """A problem flagged on a job by either side."""

    __tablename__ = "job_issues"

    type: str = Field(max_length=32)
    description: str = Field(max_length=2000)
    status: str = Field(default="open", max_length=16)
    reported_by: str = Field(max_length=16)
    reporter_id: str = Field(max_length=255)
    image_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = utc(now=True)
