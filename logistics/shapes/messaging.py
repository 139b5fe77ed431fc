from datetime import datetime
from enum import auto

from pydantic import Field

from logistics.enums import ApiEnum
from logistics.shapes.common import Contact, InputShape, Page, Shape


class ParticipantRole(ApiEnum):
    CUSTOMER = auto()
    DRIVER = auto()


class IssueType(ApiEnum):
    ITEM_MISSING, ITEM_DAMAGED, WRONG_ADDRESS = auto(), auto(), auto()
    CUSTOMER_UNREACHABLE, PICKUP_CLOSED, OTHER = auto(), auto(), auto()


class IssueStatus(ApiEnum):
    OPEN = auto()
    RESOLVED = auto()


class MessageIn(InputShape):
    body: str = Field(min_length=1, max_length=2000)


class MessageView(Shape):
    id: str
    job_id: str
    sender_role: ParticipantRole
    body: str
    created_at: datetime
    read_at: datetime | None = None


class MessagePage(Page[MessageView]):
    pass


class MarkReadIn(InputShape):
    up_to: str | None = Field(default=None, max_length=64, description="A message id; default: all.")


class MarkReadResult(Shape):
    read: int


class IssueIn(InputShape):
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


class IssuePage(Page[IssueView]):
    pass


class SupportContact(Shape):
    phone: str


class Contacts(Shape):
    customer: Contact
    driver: Contact | None = None
    pickup: Contact
    dropoff: Contact
    support: SupportContact
