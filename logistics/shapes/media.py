from datetime import datetime
from enum import auto

from pydantic import Field

from logistics.enums import ApiEnum
from logistics.shapes.common import InputShape, Page, Shape


class UploadPurpose(ApiEnum):
    LICENCE, INSURANCE, VEHICLE, PROOF, AVATAR = auto(), auto(), auto(), auto(), auto()


class ImageKind(ApiEnum):
    PICKUP, DROPOFF, DAMAGE, OTHER = auto(), auto(), auto(), auto()


class UploadView(Shape):
    id: str
    url: str
    content_type: str
    size: int
    sha256: str


class ImageIn(InputShape):
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
