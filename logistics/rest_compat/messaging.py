from fastapi import APIRouter, Depends

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import messaging
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates
from logistics.shapes import messaging as shape

router = APIRouter(route_class=UnitOfWorkRoute, tags=["messages, issues and contacts"])


@creates(router, "/jobs/{job_id}/messages", shape.MessageView, ErrorCode.NOT_FOUND, ErrorCode.JOB_NOT_ACTIVE)
async def send_message(
    job_id: str,
    body: shape.MessageIn,
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = IdempotencyKey,
) -> shape.MessageView:
    """Write in the job's chat (its customer and driver, while the job is active)."""
    return await messaging.send_message(ctx, job_id, body, idempotency_key=idempotency_key)


@router.get(
    "/jobs/{job_id}/messages", response_model=shape.MessagePage, responses=errors(ErrorCode.NOT_FOUND)
)
async def list_messages(
    job_id: str, ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.MessagePage:
    """The chat, oldest first; readable after the job ends."""
    return await messaging.list_messages(ctx, job_id, limit=limit, cursor=cursor)


@router.put(
    "/jobs/{job_id}/messages/read", response_model=shape.MarkReadResult, responses=errors(ErrorCode.NOT_FOUND)
)
async def mark_read(
    job_id: str, body: shape.MarkReadIn | None = None, ctx: Ctx = Depends(get_ctx)
) -> shape.MarkReadResult:
    """Mark the other side's messages read, up to `up_to` (default: all); answers how many."""
    return await messaging.mark_messages_read(ctx, job_id, body or shape.MarkReadIn())


@creates(router, "/jobs/{job_id}/issues", shape.IssueView, ErrorCode.NOT_FOUND)
async def report_issue(
    job_id: str,
    body: shape.IssueIn,
    ctx: Ctx = Depends(get_ctx),
    idempotency_key: str | None = IdempotencyKey,
) -> shape.IssueView:
    """Flag a problem; `image_ids` must be images of this job."""
    return await messaging.report_issue(ctx, job_id, body, idempotency_key=idempotency_key)


@router.get("/jobs/{job_id}/issues", response_model=shape.IssuePage, responses=errors(ErrorCode.NOT_FOUND))
async def list_issues(
    job_id: str, ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> shape.IssuePage:
    """The problems flagged on the job, oldest first."""
    return await messaging.list_issues(ctx, job_id, limit=limit, cursor=cursor)


@router.get(
    "/jobs/{job_id}/contacts",
    response_model=shape.Contacts,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.JOB_NOT_ACTIVE),
)
async def contacts(job_id: str, ctx: Ctx = Depends(get_ctx)) -> shape.Contacts:
    """Phone numbers of customer, driver, pickup, dropoff and support, while the job is active."""
    return await messaging.contacts(ctx, job_id)
