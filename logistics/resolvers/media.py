"""Uploads and a job's images (proof of pickup and delivery, damage)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from logistics.errors import DomainError, ErrorCode, not_found, validation_failed
from logistics.job.access import existing, owned, participant_access
from logistics.job.status import is_active
from logistics.models import JobImage, Upload
from logistics.platform import Ctx
from logistics.resolvers import idempotency
from logistics.resolvers.pagination import check_limit, decode_cursor, encode_cursor
from logistics.resolvers.views import image_view, upload_view
from logistics.shapes.media import ImageKind, ImagePage, ImageView, UploadPurpose, UploadView

DRIVER_ONLY_KINDS = (ImageKind.PICKUP, ImageKind.DROPOFF)


@dataclass(frozen=True)
class FileContent:
    data: bytes
    content_type: str


async def _store(ctx: Ctx, data: bytes, purpose: UploadPurpose) -> Upload:
    content_type, sha256 = ctx.platform.storage.check(data)
    await ctx.platform.storage.save(data, sha256)
    upload = Upload(
        owner_id=ctx.principal.sub,
        purpose=purpose.value,
        content_type=content_type,
        size=len(data),
        sha256=sha256,
        created_at=ctx.now(),
    )
    ctx.session.add(upload)
    await ctx.session.flush()
    return upload


async def create_upload(
    ctx: Ctx, data: bytes, purpose: UploadPurpose, *, idempotency_key: str | None = None
) -> UploadView:
    async def create() -> tuple[str, UploadView]:
        upload = await _store(ctx, data, purpose)
        return upload.id, upload_view(upload)

    async def replay(upload_id: str) -> UploadView:
        return upload_view(await _own_upload(ctx, upload_id))

    _content_type, sha256 = ctx.platform.storage.check(data)
    return await idempotency.once(
        ctx,
        scope="uploads.create",
        key=idempotency_key,
        payload={"sha256": sha256, "purpose": purpose.value},
        create=create,
        replay=replay,
    )


async def _own_upload(ctx: Ctx, upload_id: str) -> Upload:
    return await owned(ctx, Upload, upload_id, owner="owner_id", what="upload")


async def add_job_image(
    ctx: Ctx,
    job_id: str,
    kind: ImageKind,
    *,
    upload_id: str | None = None,
    data: bytes | None = None,
    idempotency_key: str | None = None,
) -> ImageView:
    """Attach a photo to a job: an upload of the caller's, or new bytes stored now.

    Proof of pickup and dropoff is the assigned driver's, while the job is active; the
    customer may add damage and other photos at any time.
    """
    access = await participant_access(ctx, job_id)
    if kind in DRIVER_ONLY_KINDS and access.role != "driver":
        raise DomainError(ErrorCode.FORBIDDEN, f"{kind.value} photos are taken by the driver")
    if access.role == "driver" and not is_active(access.job.status):
        raise DomainError(ErrorCode.JOB_NOT_ACTIVE, "the job is not active")
    if (upload_id is None) == (data is None):
        raise validation_failed(
            "send a file or an upload_id", file="file or upload_id", upload_id="file or upload_id"
        )

    async def create() -> tuple[str, ImageView]:
        if data is not None:
            upload = await _store(ctx, data, UploadPurpose.PROOF)
        else:
            try:
                upload = await _own_upload(ctx, upload_id or "")
            except DomainError as exc:
                raise validation_failed("not an upload of yours", upload_id="unknown upload") from exc
        image = JobImage(
            job_id=job_id,
            upload_id=upload.id,
            kind=kind.value,
            uploaded_by=access.role,
            uploader_id=ctx.principal.sub,
            created_at=ctx.now(),
        )
        ctx.session.add(image)
        await ctx.session.flush()
        return image.id, image_view(image, upload)

    async def replay(image_id: str) -> ImageView:
        row = (
            await ctx.session.execute(
                select(JobImage, Upload)
                .join(Upload, col(Upload.id) == col(JobImage.upload_id))
                .where(col(JobImage.id) == image_id)
            )
        ).one()
        return image_view(row[0], row[1])

    payload: dict[str, object] = {"job_id": job_id, "kind": kind.value, "upload_id": upload_id}
    if data is not None:
        payload["sha256"] = ctx.platform.storage.check(data)[1]
    return await idempotency.once(
        ctx,
        scope="job_images.create",
        key=idempotency_key,
        payload=payload,
        create=create,
        replay=replay,
    )


async def list_job_images(ctx: Ctx, job_id: str, *, limit: int = 20, cursor: str | None = None) -> ImagePage:
    await participant_access(ctx, job_id)
    check_limit(limit)
    query = (
        select(JobImage, Upload)
        .join(Upload, col(Upload.id) == col(JobImage.upload_id))
        .where(col(JobImage.job_id) == job_id)
        .order_by(col(JobImage.id))
        .limit(limit + 1)
    )
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(col(JobImage.id) > after)
    rows = (await ctx.session.execute(query)).all()
    items = [image_view(image, upload) for image, upload in rows[:limit]]
    return ImagePage(items=items, next_cursor=encode_cursor(items[-1].id) if len(rows) > limit else None)


async def upload_content(ctx: Ctx, upload_id: str) -> FileContent:
    """The bytes of an upload, for its owner or for a participant of a job it illustrates."""
    upload = await existing(ctx, Upload, upload_id, what="upload")
    if upload.owner_id != ctx.principal.sub:
        job_ids = (
            (
                await ctx.session.execute(
                    select(col(JobImage.job_id)).where(col(JobImage.upload_id) == upload_id)
                )
            )
            .scalars()
            .all()
        )
        allowed = False
        for job_id in job_ids:
            try:
                await participant_access(ctx, job_id)
                allowed = True
                break
            except DomainError:
                continue
        if not allowed:
            raise not_found("upload")
    return FileContent(await ctx.platform.storage.read(upload.sha256), upload.content_type)
