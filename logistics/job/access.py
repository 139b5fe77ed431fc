"""Who may see and touch what: the access rules' one home.

- Roles are declared once per use case, with :func:`for_drivers` and :func:`for_ops`.
- "An object of mine" is loaded one way, by :func:`owned`.
- "Who am I to this job" is :func:`job_access`, which asks the feed rule for drivers who are
  neither its customer nor its driver.

Another user's object answers ``NOT_FOUND``, so that an id never confirms that something
exists.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlmodel import SQLModel, col

from logistics.auth import Principal
from logistics.errors import DomainError, ErrorCode, not_found
from logistics.job import feed
from logistics.models import Driver, Job, WebhookEndpoint
from logistics.platform import Ctx

P = ParamSpec("P")
T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)
Owned = TypeVar("Owned")


async def driver_of(ctx: Ctx, principal: Principal | None = None, *, lock: bool = False) -> Driver | None:
    """The caller's driver profile, whatever its review status."""
    query = select(Driver).where(col(Driver.user_id) == (principal or ctx.principal).sub)
    if lock:
        # FOR NO KEY UPDATE (PostgreSQL), not FOR UPDATE: rows that reference this one (job
        # offers, GPS points) take KEY SHARE locks in their foreign-key checks, which FOR UPDATE
        # would block, deadlocking a driver lock against a job lock held by another request.
        query = query.with_for_update(key_share=True)
    return (await ctx.session.execute(query)).scalar_one_or_none()


async def approved_driver(ctx: Ctx, *, lock: bool = False) -> Driver:
    """The caller's driver profile, which must be approved for any driver-side path."""
    driver = await driver_of(ctx, lock=lock)
    if driver is None:
        raise DomainError(ErrorCode.FORBIDDEN, "this path is for registered drivers")
    if driver.status != "approved":
        raise DomainError(ErrorCode.FORBIDDEN, f"driver profile is {driver.status}, not approved")
    return driver


def for_drivers(
    *, lock: bool = False
) -> Callable[
    [Callable[Concatenate[Ctx, Driver, P], Awaitable[T]]], Callable[Concatenate[Ctx, P], Awaitable[T]]
]:
    """A use case for approved drivers: it receives the caller's profile after ``ctx``.

    With ``lock`` the driver's row is held until the commit, which serialises what one
    driver does at once (and, taken before any job row, keeps one lock order everywhere).
    """

    def decorate(
        use_case: Callable[Concatenate[Ctx, Driver, P], Awaitable[T]],
    ) -> Callable[Concatenate[Ctx, P], Awaitable[T]]:
        @functools.wraps(use_case)
        async def run(ctx: Ctx, *args: P.args, **kwargs: P.kwargs) -> T:
            await ctx.begin()
            driver = await approved_driver(ctx, lock=lock)
            if lock and ctx.platform.positions.catch_up(driver):
                # The driver's own requests see its newest ping, even before the batch is written.
                ctx.session.add(driver)
            return await use_case(ctx, driver, *args, **kwargs)

        return run

    return decorate


def require_role(principal: Principal, role: str) -> None:
    if not principal.has_role(role):
        raise DomainError(ErrorCode.FORBIDDEN, f"requires the {role} role")


def for_ops(
    use_case: Callable[Concatenate[Ctx, P], Awaitable[T]],
) -> Callable[Concatenate[Ctx, P], Awaitable[T]]:
    """A use case for the operations team (the ``ops`` role)."""

    @functools.wraps(use_case)
    async def run(ctx: Ctx, *args: P.args, **kwargs: P.kwargs) -> T:
        require_role(ctx.principal, "ops")
        return await use_case(ctx, *args, **kwargs)

    return run


async def load(ctx: Ctx, model: type[M], object_id: str, *, lock: bool = False) -> M | None:
    query = select(model).where(col(model.id) == object_id)  # type: ignore[attr-defined]
    if lock:
        # FOR NO KEY UPDATE: foreign-key checks of rows that reference this one must not
        # wait for it.
        query = query.with_for_update(key_share=True)
    return (await ctx.session.execute(query)).scalar_one_or_none()


async def existing(ctx: Ctx, model: type[M], object_id: str, *, what: str, lock: bool = False) -> M:
    """The object ``object_id`` of ``model`` for a caller who may see any (ops, say), or
    ``NOT_FOUND``."""
    obj = await load(ctx, model, object_id, lock=lock)
    if obj is None:
        raise not_found(what)
    return obj


async def owned(
    ctx: Ctx,
    model: type[M],
    object_id: str,
    *,
    owner: str,
    by: str | None = None,
    what: str,
    lock: bool = False,
    include: Callable[[Any], bool] | None = None,
) -> M:
    """The object ``object_id`` of ``model`` whose ``owner`` attribute is ``by`` (default: the
    caller's subject); anyone else's, a missing one, or one ``include`` refuses (say, a
    deleted one) is ``NOT_FOUND``."""
    obj = await load(ctx, model, object_id, lock=lock)
    return mine(ctx, obj, owner=owner, by=by, what=what, include=include)


def mine(
    ctx: Ctx,
    obj: Owned | None,
    *,
    owner: str,
    by: str | None = None,
    what: str,
    include: Callable[[Any], bool] | None = None,
) -> Owned:
    """``obj`` if it is the caller's (or ``by``'s), else ``NOT_FOUND``: the check of
    :func:`owned`, for an object a use case read in a statement of its own."""
    mine = by if by is not None else ctx.principal.sub
    if obj is None or getattr(obj, owner) != mine or (include is not None and not include(obj)):
        raise not_found(what)
    return obj


async def customer_job(ctx: Ctx, job_id: str, *, lock: bool = False) -> Job:
    """A job the caller ordered (or a merchant created for them)."""
    return await owned(ctx, Job, job_id, owner="customer_id", what="order", lock=lock)


async def driver_job(ctx: Ctx, driver: Driver, job_id: str, *, lock: bool = False) -> Job:
    """A job assigned to this driver."""
    return await owned(ctx, Job, job_id, owner="driver_id", by=driver.id, what="job", lock=lock)


@dataclass(frozen=True)
class JobAccess:
    job: Job
    role: str  # customer | driver | feed | ops
    driver: Driver | None


async def job_access(ctx: Ctx, job_id: str, *, allow_feed: bool = False, lock: bool = False) -> JobAccess:
    """Who the caller is to this job: its customer, its driver, ops, or (for reads and
    accept) a driver to whom the feed rule opens it. Anyone else: ``NOT_FOUND``."""
    job = await load(ctx, Job, job_id, lock=lock)
    if job is None:
        raise not_found("job")
    principal = ctx.principal
    if principal.sub in (job.customer_id, job.creator_id):
        return JobAccess(job, "customer", None)
    driver = await driver_of(ctx)
    if driver is not None and driver.status == "approved":
        if job.driver_id == driver.id:
            return JobAccess(job, "driver", driver)
        if allow_feed and await open_to(ctx, driver, job):
            return JobAccess(job, "feed", driver)
    if principal.has_role("ops"):
        return JobAccess(job, "ops", None)
    raise not_found("job")


async def open_to(ctx: Ctx, driver: Driver, job: Job) -> bool:
    facts = await feed.one_job_facts(ctx.session, job, ctx.now())
    return feed.job_block(feed.DriverFacts.of(driver), facts) is None


async def participant_access(ctx: Ctx, job_id: str) -> JobAccess:
    """The job's customer or its assigned driver: chat, issues, images, contacts."""
    access = await job_access(ctx, job_id)
    if access.role not in ("customer", "driver"):
        raise not_found("job")
    return access


def webhook_owner_role(ctx: Ctx) -> str:
    """Who may register webhook endpoints: ops (hearing of every job) and merchants (of the jobs
    they created or ordered)."""
    if ctx.principal.has_role("ops"):
        return "ops"
    if ctx.principal.has_role("merchant"):
        return "merchant"
    raise DomainError(ErrorCode.FORBIDDEN, "webhook endpoints are for the merchant and ops roles")


async def webhook_endpoint(ctx: Ctx, endpoint_id: str, *, lock: bool = False) -> WebhookEndpoint:
    """One of the caller's webhook endpoints (ops: anyone's); deleted ones are gone."""
    endpoint = await load(ctx, WebhookEndpoint, endpoint_id, lock=lock)
    if endpoint is not None and ctx.principal.has_role("ops") and endpoint.deleted_at is None:
        return endpoint
    return mine(
        ctx, endpoint, owner="owner_id", what="webhook endpoint", include=lambda e: e.deleted_at is None
    )
