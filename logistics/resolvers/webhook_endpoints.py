"""Webhook endpoints: register, list, change, rotate the secret of, delete; see deliveries and
their attempts; replay one."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlmodel import col

from logistics.errors import validation_failed
from logistics.job.access import webhook_endpoint, webhook_owner_role
from logistics.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from logistics.platform import Ctx
from logistics.resolvers import idempotency
from logistics.resolvers.pagination import check_limit, decode_cursor, encode_cursor, keyset_page
from logistics.secrets_box import seal, unseal
from logistics.shapes.webhooks import (
    WebhookAttemptView,
    WebhookDeliveryPage,
    WebhookDeliveryStatus,
    WebhookDeliveryView,
    WebhookEndpointIn,
    WebhookEndpointPage,
    WebhookEndpointSecret,
    WebhookEndpointUpdateIn,
    WebhookEndpointView,
)
from logistics.webhooks.outbox import wake_worker
from logistics.webhooks.sender import private_address
from logistics.webhooks.signing import new_secret

MAX_ENDPOINTS_PER_OWNER = 20


def check_url(ctx: Ctx, url: str) -> str:
    """https (http too outside production), a host, no credentials; in production no private
    or loopback address literal (names are checked again at each send)."""
    parts = urlsplit(url)
    schemes = ("https",) if ctx.settings.env == "production" else ("https", "http")
    if parts.scheme not in schemes or not parts.hostname:
        raise validation_failed("the endpoint must be an absolute URL", url=f"an {' or '.join(schemes)} URL")
    if parts.username or parts.password or parts.fragment:
        raise validation_failed("the URL may not carry credentials or a fragment", url="no user:pass@ or #")
    private = parts.hostname == "localhost" or private_address(parts.hostname)
    if private and not ctx.settings.webhooks_reach_private_networks:
        raise validation_failed("the endpoint must be reachable on the public internet", url="public")
    return url


def view(endpoint: WebhookEndpoint) -> WebhookEndpointView:
    return WebhookEndpointView.of(endpoint)


def with_secret(ctx: Ctx, endpoint: WebhookEndpoint) -> WebhookEndpointSecret:
    return WebhookEndpointSecret(
        endpoint=view(endpoint), secret=unseal(ctx.settings, endpoint.secret_sealed)["secret"]
    )


async def create_webhook_endpoint(
    ctx: Ctx, data: WebhookEndpointIn, *, idempotency_key: str | None = None
) -> WebhookEndpointSecret:
    role = webhook_owner_role(ctx)
    await ctx.begin()
    url = check_url(ctx, data.url)

    async def create() -> tuple[str, WebhookEndpointSecret]:
        owned_now = select(func.count()).where(
            col(WebhookEndpoint.owner_id) == ctx.principal.sub, col(WebhookEndpoint.deleted_at).is_(None)
        )
        count = (await ctx.session.execute(owned_now)).scalar_one()
        if count >= MAX_ENDPOINTS_PER_OWNER:
            raise validation_failed(
                f"at most {MAX_ENDPOINTS_PER_OWNER} endpoints each", url="delete one first"
            )
        now = ctx.now()
        endpoint = WebhookEndpoint(
            owner_id=ctx.principal.sub,
            owner_role=role,
            url=url,
            description=data.description,
            event_types=sorted({event.value for event in data.event_types}),
            secret_sealed=seal(ctx.settings, {"secret": new_secret()}),
            created_at=now,
            updated_at=now,
        )
        ctx.session.add(endpoint)
        await ctx.session.flush()
        return endpoint.id, with_secret(ctx, endpoint)

    async def replay(endpoint_id: str) -> WebhookEndpointSecret:
        return with_secret(ctx, await webhook_endpoint(ctx, endpoint_id))

    return await idempotency.once(
        ctx,
        scope="webhook_endpoints.create",
        key=idempotency_key,
        payload=data.model_dump(mode="json"),
        create=create,
        replay=replay,
    )


async def list_webhook_endpoints(
    ctx: Ctx, *, limit: int = 20, cursor: str | None = None
) -> WebhookEndpointPage:
    role = webhook_owner_role(ctx)
    await ctx.begin()
    query = select(WebhookEndpoint).where(col(WebhookEndpoint.deleted_at).is_(None))
    if role != "ops":  # ops oversee every merchant's endpoints (and may replay their deliveries)
        query = query.where(col(WebhookEndpoint.owner_id) == ctx.principal.sub)
    rows, next_cursor = await keyset_page(
        ctx.session, query, col(WebhookEndpoint.id), limit=limit, cursor=cursor
    )
    return WebhookEndpointPage(items=[view(row) for row in rows], next_cursor=next_cursor)


async def update_webhook_endpoint(
    ctx: Ctx, endpoint_id: str, data: WebhookEndpointUpdateIn
) -> WebhookEndpointView:
    await ctx.begin()
    endpoint = await webhook_endpoint(ctx, endpoint_id, lock=True)
    if data.url is not None:
        endpoint.url = check_url(ctx, data.url)
    if data.event_types is not None:
        endpoint.event_types = sorted({event.value for event in data.event_types})
    if data.description is not None:
        endpoint.description = data.description
    if data.enabled is True:
        endpoint.enabled, endpoint.disabled_reason, endpoint.consecutive_failures = True, None, 0
    elif data.enabled is False:
        endpoint.enabled, endpoint.disabled_reason = False, "owner"
    endpoint.updated_at = ctx.now()
    ctx.session.add(endpoint)
    await ctx.session.flush()
    if data.enabled:
        wake_worker(ctx)
    return view(endpoint)


async def rotate_webhook_secret(ctx: Ctx, endpoint_id: str) -> WebhookEndpointSecret:
    """A new secret; the old one still signs beside it for WEBHOOK_SECRET_OVERLAP_S."""
    await ctx.begin()
    endpoint = await webhook_endpoint(ctx, endpoint_id, lock=True)
    overlap = ctx.settings.webhook_secret_overlap_s
    endpoint.previous_secret_sealed = endpoint.secret_sealed if overlap else None
    endpoint.previous_secret_expires_at = ctx.now() + timedelta(seconds=overlap) if overlap else None
    endpoint.secret_sealed = seal(ctx.settings, {"secret": new_secret()})
    endpoint.updated_at = ctx.now()
    ctx.session.add(endpoint)
    await ctx.session.flush()
    return with_secret(ctx, endpoint)


async def delete_webhook_endpoint(ctx: Ctx, endpoint_id: str) -> bool:
    """Gone at once: its pending deliveries are cancelled; the log of what was sent stays."""
    await ctx.begin()
    endpoint = await webhook_endpoint(ctx, endpoint_id, lock=True)
    endpoint.deleted_at = endpoint.updated_at = ctx.now()
    endpoint.enabled = False
    ctx.session.add(endpoint)
    await ctx.session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.endpoint_id) == endpoint.id, col(WebhookDelivery.status) == "pending")
        .values(status="cancelled", lease_until=None)
    )
    return True


async def webhook_deliveries(
    ctx: Ctx,
    endpoint_id: str,
    *,
    status: WebhookDeliveryStatus | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> WebhookDeliveryPage:
    """An endpoint's deliveries, newest first, each with its attempts and the body sent."""
    await ctx.begin()
    endpoint = await webhook_endpoint(ctx, endpoint_id)
    check_limit(limit)
    after = decode_cursor(cursor)
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status.value)
    if after is not None:
        if not after.isdigit():
            raise validation_failed("invalid cursor", cursor="not a cursor from this API")
        query = query.where(col(WebhookDelivery.id) < int(after))
    rows = (await ctx.session.execute(query.order_by(col(WebhookDelivery.id).desc()).limit(limit + 1))).all()
    page = rows[:limit]
    attempts: dict[int, list[WebhookAttemptView]] = {}
    ids = [delivery.id for delivery, _ in page]
    for attempt in (
        await ctx.session.execute(
            select(WebhookAttempt)
            .where(col(WebhookAttempt.delivery_id).in_(ids))
            .order_by(col(WebhookAttempt.id))
        )
    ).scalars():
        attempts.setdefault(attempt.delivery_id, []).append(WebhookAttemptView.of(attempt))
    items = [delivery_view(delivery, event, attempts.get(delivery.id or 0, [])) for delivery, event in page]
    next_cursor = encode_cursor(str(page[-1][0].id)) if len(rows) > limit else None
    return WebhookDeliveryPage(items=items, next_cursor=next_cursor)


async def replay_webhook_delivery(
    ctx: Ctx, delivery_id: str, *, idempotency_key: str | None = None
) -> WebhookDeliveryView:
    """Send a delivery's event to its endpoint again, as a new delivery: for a receiver that
    lost it, or one that failed for good. The body (and its event id) are the same."""
    await ctx.begin()
    original = await ctx.session.get(WebhookDelivery, int(delivery_id)) if delivery_id.isdigit() else None
    endpoint = await webhook_endpoint(ctx, original.endpoint_id if original is not None else "")
    assert original is not None  # webhook_endpoint answered NOT_FOUND for a missing one

    async def create() -> tuple[str, WebhookDeliveryView]:
        now = ctx.now()
        copy = WebhookDelivery(
            event_id=original.event_id,
            endpoint_id=endpoint.id,
            job_id=original.job_id,
            replay=True,
            next_attempt_at=now,
            created_at=now,
        )
        ctx.session.add(copy)
        await ctx.session.flush()
        wake_worker(ctx)
        return str(copy.id), await _one(ctx, copy)

    async def replay(copy_id: str) -> WebhookDeliveryView:
        copy = await ctx.session.get(WebhookDelivery, int(copy_id))
        assert copy is not None
        return await _one(ctx, copy)

    return await idempotency.once(
        ctx,
        scope="webhook_deliveries.replay",
        key=idempotency_key,
        payload=delivery_id,
        create=create,
        replay=replay,
    )


def delivery_view(
    delivery: WebhookDelivery, event: WebhookEvent, attempts: list[WebhookAttemptView]
) -> WebhookDeliveryView:
    return WebhookDeliveryView.of(
        delivery,
        id=str(delivery.id),
        event_type=event.type,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        attempt_log=attempts,
        payload=event.body,
    )


async def _one(ctx: Ctx, delivery: WebhookDelivery) -> WebhookDeliveryView:
    event = await ctx.session.get(WebhookEvent, delivery.event_id)
    assert event is not None
    return delivery_view(delivery, event, [])
