"""The job's chat, the problems flagged on it, and the phone numbers of its participants.

All three are for the job's customer and its assigned driver only; anyone else gets
``NOT_FOUND``. Sending and calling need an active job; messages stay readable afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlmodel import col

from logistics.errors import DomainError, ErrorCode, validation_failed
from logistics.job import webhook_events
from logistics.job.access import participant_access
from logistics.job.status import is_active
from logistics.models import Driver, JobImage, JobIssue, Message
from logistics.platform import Ctx
from logistics.pubsub import issues_channel, messages_channel
from logistics.resolvers import idempotency
from logistics.resolvers.pagination import keyset_page
from logistics.shapes.common import Contact, Shape
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
    SupportContact,
)

V = TypeVar("V", bound=Shape)
R = TypeVar("R", Message, JobIssue)


async def _post(
    ctx: Ctx,
    job_id: str,
    kind: str,
    data: Shape,
    key: str | None,
    build: Callable[[], R],
    model: type[R],
    view: type[V],
) -> V:
    """A new post in one of the job's threads (chat or issues), once per key; the thread's
    subscribers hear of it after the commit."""
    channel = messages_channel(job_id) if model is Message else issues_channel(job_id)
    return await idempotency.insert_once(
        ctx,
        scope=f"{kind}s.create:{job_id}",
        key=key,
        payload=data.model_dump(mode="json"),
        model=model,
        build=build,
        view=view.of,
        announce=lambda posted: _announce(ctx, job_id, channel, kind, posted),
    )


def _announce(ctx: Ctx, job_id: str, channel: str, kind: str, posted: Shape) -> None:
    """The thread's subscribers hear of a new post; an issue also goes to webhooks."""
    fields = posted.model_dump(mode="json")
    ctx.publish(channel, {"type": kind, **fields})
    if kind == "issue":
        webhook_events.issue_reported(ctx, job_id, fields)


async def _thread(
    ctx: Ctx, job_id: str, model: type[R], view: type[V], limit: int, cursor: str | None
) -> tuple[list[V], str | None]:
    """A page of one of the job's threads, oldest first, for its participants."""
    await participant_access(ctx, job_id)
    query = select(model).where(col(model.job_id) == job_id)
    rows, next_cursor = await keyset_page(
        ctx.session, query, col(model.id), limit=limit, cursor=cursor, newest_first=False
    )
    return [view.of(row) for row in rows], next_cursor


def _require_active(active: bool, what: str) -> None:
    if not active:
        raise DomainError(ErrorCode.JOB_NOT_ACTIVE, f"{what} only while the job is active")


async def send_message(
    ctx: Ctx, job_id: str, data: MessageIn, *, idempotency_key: str | None = None
) -> MessageView:
    access = await participant_access(ctx, job_id)
    _require_active(is_active(access.job.status), "messages can be sent")

    return await _post(
        ctx,
        job_id,
        "message",
        data,
        idempotency_key,
        lambda: Message(
            job_id=job_id,
            sender_id=ctx.principal.sub,
            sender_role=access.role,
            body=data.body,
            created_at=ctx.now(),
        ),
        Message,
        MessageView,
    )


async def list_messages(ctx: Ctx, job_id: str, *, limit: int = 20, cursor: str | None = None) -> MessagePage:
    items, next_cursor = await _thread(ctx, job_id, Message, MessageView, limit, cursor)
    return MessagePage(items=items, next_cursor=next_cursor)


async def mark_messages_read(ctx: Ctx, job_id: str, data: MarkReadIn) -> MarkReadResult:
    """Mark the other side's unread messages (up to ``up_to``) as read by the caller."""
    access = await participant_access(ctx, job_id)
    conditions = [
        col(Message.job_id) == job_id,
        col(Message.sender_role) != access.role,
        col(Message.read_at).is_(None),
    ]
    if data.up_to is not None:
        anchor = (
            await ctx.session.execute(
                select(col(Message.id)).where(col(Message.id) == data.up_to, col(Message.job_id) == job_id)
            )
        ).first()
        if anchor is None:
            raise validation_failed("up_to is not a message of this job", up_to="unknown message")
        conditions.append(col(Message.id) <= data.up_to)
    result = await ctx.session.execute(
        update(Message)
        .where(*conditions)
        .values(read_at=ctx.now())
        .execution_options(synchronize_session=False)
    )
    return MarkReadResult(read=result.rowcount)  # type: ignore[attr-defined]


async def report_issue(
    ctx: Ctx, job_id: str, data: IssueIn, *, idempotency_key: str | None = None
) -> IssueView:
    access = await participant_access(ctx, job_id)
    image_ids = list(dict.fromkeys(data.image_ids))
    if image_ids:
        found = set(
            (
                await ctx.session.execute(
                    select(col(JobImage.id)).where(
                        col(JobImage.job_id) == job_id, col(JobImage.id).in_(image_ids)
                    )
                )
            ).scalars()
        )
        missing = [image_id for image_id in image_ids if image_id not in found]
        if missing:
            raise validation_failed("images must belong to this job", image_ids=", ".join(missing))

    return await _post(
        ctx,
        job_id,
        "issue",
        data,
        idempotency_key,
        lambda: JobIssue(
            job_id=job_id,
            type=data.type.value,
            description=data.description,
            reported_by=access.role,
            reporter_id=ctx.principal.sub,
            image_ids=image_ids,
            created_at=ctx.now(),
        ),
        JobIssue,
        IssueView,
    )


async def list_issues(ctx: Ctx, job_id: str, *, limit: int = 20, cursor: str | None = None) -> IssuePage:
    items, next_cursor = await _thread(ctx, job_id, JobIssue, IssueView, limit, cursor)
    return IssuePage(items=items, next_cursor=next_cursor)


async def contacts(ctx: Ctx, job_id: str) -> Contacts:
    access = await participant_access(ctx, job_id)
    job = access.job
    _require_active(is_active(job.status), "contacts are shown")
    pickup_contact = Contact.model_validate(job.pickup["contact"])
    driver_contact = None
    if job.driver_id is not None:
        driver = (
            await ctx.session.execute(select(Driver).where(col(Driver.id) == job.driver_id))
        ).scalar_one()
        driver_contact = Contact(name=driver.name, phone=driver.phone)
    # The customer's own number comes from the identity token; without one, the pickup
    # contact (whom the customer named for this order) is the best number to call.
    customer = (
        Contact(name=job.customer_name or pickup_contact.name, phone=job.customer_phone)
        if job.customer_phone
        else pickup_contact
    )
    region = ctx.settings.region(job.region_id)
    return Contacts(
        customer=customer,
        driver=driver_contact,
        pickup=pickup_contact,
        dropoff=Contact.model_validate(job.dropoff["contact"]),
        support=SupportContact(phone=region.support_phone),
    )
