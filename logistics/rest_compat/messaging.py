from fastapi import APIRouter, Depends

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import messaging
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates
from logistics.shapes.messaging import (
    Contacts,
    IssueIn,
    IssuePage,
    IssueView,
    MarkReadIn,
    MarkReadResult,
    MessageIn,
    MessagePage,
    MessageView,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["messages, issues and contacts"])


@creates(router, "/jobs/{job_id}/messages", MessageView, ErrorCode.NOT_FOUND, ErrorCode.JOB_NOT_ACTIVE)
async def send_message(
    job_id: str, body: MessageIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> MessageView:
    """Write in the job's chat (its customer and driver, while the job is active)."""
    return await messaging.send_message(ctx, job_id, body, idempotency_key=idempotency_key)


@router.get("/jobs/{job_id}/messages", response_model=MessagePage, responses=errors(ErrorCode.NOT_FOUND))
async def list_messages(
    job_id: str, ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> MessagePage:
    """The chat, oldest first; readable after the job ends."""
    return await messaging.list_messages(ctx, job_id, limit=limit, cursor=cursor)


@router.put(
    "/jobs/{job_id}/messages/read", response_model=MarkReadResult, responses=errors(ErrorCode.NOT_FOUND)
)
async def mark_read(
    job_id: str, body: MarkReadIn | None = None, ctx: Ctx = Depends(get_ctx)
) -> MarkReadResult:
    """Mark the other side's messages read, up to `up_to` (default: all); answers how many."""
    return await messaging.mark_messages_read(ctx, job_id, body or MarkReadIn())


@creates(router, "/jobs/{job_id}/issues", IssueView, ErrorCode.NOT_FOUND)
async def report_issue(
    job_id: str, body: IssueIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> IssueView:
    """Flag a problem; `image_ids` must be images of this job."""
    return await messaging.report_issue(ctx, job_id, body, idempotency_key=idempotency_key)


@router.get("/jobs/{job_id}/issues", response_model=IssuePage, responses=errors(ErrorCode.NOT_FOUND))
async def list_issues(
    job_id: str, ctx: Ctx = Depends(get_ctx), limit: int = LIMIT, cursor: str | None = None
) -> IssuePage:
    """The problems flagged on the job, oldest first."""
    return await messaging.list_issues(ctx, job_id, limit=limit, cursor=cursor)


@router.get(
    "/jobs/{job_id}/contacts",
    response_model=Contacts,
    responses=errors(ErrorCode.NOT_FOUND, ErrorCode.JOB_NOT_ACTIVE),
)
async def contacts(job_id: str, ctx: Ctx = Depends(get_ctx)) -> Contacts:
    """Phone numbers of customer, driver, pickup, dropoff and support, while the job is active."""
    return await messaging.contacts(ctx, job_id)
