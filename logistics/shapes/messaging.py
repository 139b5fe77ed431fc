from datetime import datetime
from enum import StrEnum

from pydantic import Field

from logistics.shapes.common import Contact, Shape


class ParticipantRole(StrEnum):
    CUSTOMER = "customer"
    DRIVER = "driver"


class IssueType(StrEnum):
    ITEM_MISSING = "item_missing"
    ITEM_DAMAGED = "item_damaged"
    WRONG_ADDRESS = "wrong_address"
    CUSTOMER_UNREACHABLE = "customer_unreachable"
    PICKUP_CLOSED = "pickup_closed"
    OTHER = "other"


class IssueStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class MessageIn(Shape):
    body: str = Field(min_length=1, max_length=2000)


class MessageView(Shape):
    id: str
    job_id: str
    sender_role: ParticipantRole
    body: str
    created_at: datetime
    read_at: datetime | None = None


class MessagePage(Shape):
    items: list[MessageView]
    next_cursor: str | None = None


class MarkReadIn(Shape):
    up_to: str | None = Field(default=None, max_length=64, description="A message id; default: all.")


class MarkReadResult(Shape):
    read: int


class IssueIn(Shape):
    type: IssueType
    description: str = Field(min_length=1, max_length=2000)
    image_ids: list[str] = Field(default_factory=list, max_length=20)


class IssueView(Shape):
    id: str
    job_id: str
    type: IssueType
    description: str
    status: IssueStatus
    reported_by: ParticipantRole
    image_ids: list[str]
    created_at: datetime


class IssuePage(Shape):
    items: list[IssueView]
    next_cursor: str | None = None


class SupportContact(Shape):
    phone: str


class Contacts(Shape):
    customer: Contact
    driver: Contact | None = None
    pickup: Contact
    dropoff: Contact
    support: SupportContact
