from fastapi import APIRouter, Depends, Form, Request, Response, UploadFile
from pydantic import ValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from logistics.errors import DomainError, ErrorCode, pydantic_fields
from logistics.platform import Ctx
from logistics.resolvers import media
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates, inline_schema
from logistics.shapes.media import ImageIn, ImageKind, ImagePage, ImageView, UploadPurpose, UploadView

router = APIRouter(route_class=UnitOfWorkRoute, tags=["uploads and images"])


async def _read(file: StarletteUploadFile, limit: int) -> bytes:
    # Read one byte past the limit: enough to know the file is too large, never the whole file.
    return await file.read(limit + 1)


@creates(router, "/upload", UploadView, ErrorCode.PAYLOAD_TOO_LARGE)
async def upload(
    file: UploadFile,
    purpose: UploadPurpose = Form(...),
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = IdempotencyKey,
) -> UploadView:
    """Store a JPEG, PNG, WebP or PDF (decided by content), at most `MAX_UPLOAD_MB` MiB."""
    data = await _read(file, ctx.platform.storage.max_bytes)
    return await media.create_upload(ctx, data, purpose, idempotency_key=idempotency_key)


@router.post(
    "/jobs/{job_id}/images",
    status_code=201,
    response_model=ImageView,
    responses=errors(
        ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.JOB_NOT_ACTIVE, ErrorCode.PAYLOAD_TOO_LARGE
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "kind"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "kind": {"type": "string", "enum": [k.value for k in ImageKind]},
                        },
                    }
                },
                "application/json": {"schema": inline_schema(ImageIn)},
            },
        }
    },
)
async def add_image(
    job_id: str, request: Request, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> ImageView:
    """Attach a photo: multipart (`file`, `kind`) or JSON `{upload_id, kind}`."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        file, kind = form.get("file"), form.get("kind")
        if not isinstance(file, StarletteUploadFile) or not isinstance(kind, str):
            raise DomainError(
                ErrorCode.VALIDATION_FAILED,
                "send file and kind",
                {"fields": {"file": "required", "kind": "required"}},
            )
        try:
            image_kind = ImageKind(kind)
        except ValueError as exc:
            raise DomainError(
                ErrorCode.VALIDATION_FAILED,
                "unknown kind",
                {"fields": {"kind": ", ".join(k.value for k in ImageKind)}},
            ) from exc
        data = await _read(file, ctx.platform.storage.max_bytes)
        return await media.add_job_image(ctx, job_id, image_kind, data=data, idempotency_key=idempotency_key)
    try:
        body = ImageIn.model_validate(await request.json())
    except ValidationError as exc:
        raise DomainError(
            ErrorCode.VALIDATION_FAILED, "invalid body", {"fields": pydantic_fields(exc.errors())}
        ) from exc
    return await media.add_job_image(
        ctx, job_id, body.kind, upload_id=body.upload_id, idempotency_key=idempotency_key
    )


@router.get("/jobs/{job_id}/images", response_model=ImagePage, responses=errors(ErrorCode.NOT_FOUND))
async def list_images(
    job_id: str,
    ctx: Ctx = Depends(get_ctx),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> ImagePage:
    """The job's photos, oldest first (participants only)."""
    return await media.list_job_images(ctx, job_id, limit=limit, cursor=cursor)


@router.get(
    "/uploads/{upload_id}/content",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "application/pdf": {}}},
        **errors(ErrorCode.NOT_FOUND),
    },
)
async def upload_content(upload_id: str, ctx: Ctx = Depends(get_ctx)) -> Response:
    """The stored bytes, for the uploader or a participant of a job they illustrate."""
    content = await media.upload_content(ctx, upload_id)
    return Response(
        content=content.data,
        media_type=content.content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )
