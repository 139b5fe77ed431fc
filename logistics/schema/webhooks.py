"""Outbound webhook endpoints over GraphQL: for merchants (their jobs' events) and ops (every
job's). README, "Webhooks", says how to verify what they receive."""

from __future__ import annotations

import strawberry
from strawberry.experimental.pydantic import input as input_from_shape
from strawberry.experimental.pydantic import type as from_shape

from logistics.resolvers import webhook_endpoints as endpoints
from logistics.schema.context import call
from logistics.schema.fields import Ctx, call_idempotent, page_field
from logistics.shapes import webhooks as shapes
from logistics.shapes.webhooks import WebhookDeliveryStatus


@from_shape(model=shapes.WebhookEndpointView, all_fields=True, name="WebhookEndpoint")
class WebhookEndpoint:
    pass


@from_shape(model=shapes.WebhookEndpointSecret, all_fields=True, name="WebhookEndpointSecret")
class WebhookEndpointSecret:
    pass


@from_shape(model=shapes.WebhookEndpointPage, all_fields=True, name="WebhookEndpointPage")
class WebhookEndpointPage:
    pass


@from_shape(model=shapes.WebhookAttemptView, all_fields=True, name="WebhookAttempt")
class WebhookAttempt:
    pass


@from_shape(model=shapes.WebhookDeliveryView, all_fields=True, name="WebhookDelivery")
class WebhookDelivery:
    pass


@from_shape(model=shapes.WebhookDeliveryPage, all_fields=True, name="WebhookDeliveryPage")
class WebhookDeliveryPage:
    pass


@input_from_shape(model=shapes.WebhookEndpointIn, all_fields=True, name="WebhookEndpointInput")
class WebhookEndpointInput:
    pass


@input_from_shape(model=shapes.WebhookEndpointUpdateIn, all_fields=True, name="WebhookEndpointUpdateInput")
class WebhookEndpointUpdateInput:
    pass


@strawberry.type
class WebhookQuery:
    webhook_endpoints = page_field(
        endpoints.list_webhook_endpoints,
        WebhookEndpointPage,
        "The caller's webhook endpoints, newest first (merchant role); ops see every endpoint.",
    )

    @strawberry.field(
        description="An endpoint's deliveries, newest first, with every attempt and the body sent."
    )
    async def webhook_deliveries(
        self,
        info: Ctx,
        endpoint_id: strawberry.ID,
        status: WebhookDeliveryStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> WebhookDeliveryPage:
        page = await call(
            info, endpoints.webhook_deliveries, str(endpoint_id), status=status, limit=limit, cursor=cursor
        )
        return WebhookDeliveryPage.from_pydantic(page)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        description="Register an endpoint for job events (merchant: its jobs; ops: every job). The answer "
        "carries the signing secret, shown this once (and to a retry with the same Idempotency-Key)."
    )
    async def create_webhook_endpoint(self, info: Ctx, input: WebhookEndpointInput) -> WebhookEndpointSecret:
        answer = await call_idempotent(info, endpoints.create_webhook_endpoint, input.to_pydantic())
        return WebhookEndpointSecret.from_pydantic(answer)

    @strawberry.mutation(
        description="Change an endpoint's URL, events or description; disable or re-enable it."
    )
    async def update_webhook_endpoint(
        self, info: Ctx, id: strawberry.ID, input: WebhookEndpointUpdateInput
    ) -> WebhookEndpoint:
        answer = await call(info, endpoints.update_webhook_endpoint, str(id), input.to_pydantic())
        return WebhookEndpoint.from_pydantic(answer)

    @strawberry.mutation(
        description="A new signing secret, shown once; the old one keeps signing beside it for "
        "WEBHOOK_SECRET_OVERLAP_S (default 24 h) so receivers can switch without losing events."
    )
    async def rotate_webhook_secret(self, info: Ctx, id: strawberry.ID) -> WebhookEndpointSecret:
        return WebhookEndpointSecret.from_pydantic(await call(info, endpoints.rotate_webhook_secret, str(id)))

    @strawberry.mutation(description="Delete an endpoint: its pending deliveries are cancelled.")
    async def delete_webhook_endpoint(self, info: Ctx, id: strawberry.ID) -> bool:
        return await call(info, endpoints.delete_webhook_endpoint, str(id))

    @strawberry.mutation(
        description="Send a delivery's event again (same body and event id) as a new delivery: the "
        "endpoint's owner or ops."
    )
    async def replay_webhook_delivery(self, info: Ctx, delivery_id: strawberry.ID) -> WebhookDelivery:
        answer = await call_idempotent(info, endpoints.replay_webhook_delivery, str(delivery_id))
        return WebhookDelivery.from_pydantic(answer)
