"""``init``: what the app needs at start: who the caller is, payment options, the region."""

from __future__ import annotations

from logistics.job.access import driver_of
from logistics.platform import Ctx
from logistics.resolvers.payments import payment_methods
from logistics.resolvers.views import driver_region, driver_view, money
from logistics.shapes.drivers import (
    InitPayment,
    InitUser,
    InitView,
    PaypalInit,
    RegionView,
    ServiceArea,
    StripeInit,
    VehicleTypeView,
)


async def init(ctx: Ctx) -> InitView:
    driver = await driver_of(ctx)
    settings = ctx.settings
    region = driver_region(settings, driver)
    return InitView(
        user=InitUser(id=ctx.principal.sub, name=ctx.principal.name or (driver.name if driver else None)),
        is_driver=driver is not None,
        driver=driver_view(driver) if driver else None,
        payment=InitPayment(
            methods=payment_methods(ctx),
            currency=region.currency,
            stripe=StripeInit(publishable_key=settings.stripe_publishable_key)
            if "stripe" in ctx.platform.gateways and settings.stripe_publishable_key
            else None,
            paypal=PaypalInit(client_id=settings.paypal_client_id, environment=settings.paypal_environment)
            if "paypal" in ctx.platform.gateways and settings.paypal_client_id
            else None,
            sandbox=settings.payments_sandbox,
        ),
        region=RegionView(
            **region.model_dump(
                include={"id", "name", "country", "currency", "timezone", "distance_unit", "support_phone"}
            ),
            vehicle_types=[
                VehicleTypeView(type=vtype, max_weight_kg=spec.max_weight_kg, max_size=spec.max_size)
                for vtype, spec in region.vehicles.items()
            ],
            proof_of_delivery=region.proof_of_delivery,
            service_area=ServiceArea(coordinates=[[list(p) for p in ring] for ring in region.service_area]),
            cancellation_fee=money(region.cancellation_fee, region.currency),
        ),
    )
