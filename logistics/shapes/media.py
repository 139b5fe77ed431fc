from datetime import datetime
from enum import StrEnum

from pydantic import Field

from logistics.shapes.common import Page, Shape

UploadPurpose = StrEnum("UploadPurpose", "LICENCE INSURANCE VEHICLE PROOF AVATAR")

ImageKind = StrEnum("ImageKind", "PICKUP DROPOFF DAMAGE OTHER")


class UploadView(Shape):
    id: str
    url: str
    content_type: str
    size: int
    sha256: str


class ImageIn(Shape):
    upload_id: str = Field(min_length=1, max_length=64)
    kind: ImageKind


class ImageView(Shape):
    id: str
    kind: ImageKind
    url: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    created_at: datetime


class ImagePage(Page[ImageView]):
    pass
