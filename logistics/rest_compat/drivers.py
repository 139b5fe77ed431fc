from fastapi import APIRouter, Depends, Response

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import drivers, init, tracking
from logistics.rest_compat.base import UnitOfWorkRoute, errors, get_ctx, get_lazy_ctx
from logistics.shapes.common import LocationReport
from logistics.shapes.drivers import AvailabilityIn, AvailabilityView, DriverView, InitView, RegisterIn

router = APIRouter(route_class=UnitOfWorkRoute, tags=["init and drivers"])


@router.get("/init", response_model=InitView, responses=errors())
async def get_init(ctx: Ctx = Depends(get_ctx)) -> InitView:
    """Config the app needs at start: the caller, whether it is a driver, payments, region."""
    return await init.init(ctx)


@router.post("/register", status_code=201, response_model=DriverView, responses=errors())
async def register(body: RegisterIn, ctx: Ctx = Depends(get_ctx)) -> DriverView:
    """Become a driver: vehicle, licence and insurance (documents from `POST /upload`)."""
    return await drivers.register_driver(ctx, body)


@router.get("/me", response_model=DriverView, responses=errors(ErrorCode.NOT_FOUND))
async def get_me(ctx: Ctx = Depends(get_ctx)) -> DriverView:
    """The caller's driver profile; `NOT_FOUND` when not registered."""
    return await drivers.me(ctx)


@router.put("/availability", response_model=AvailabilityView, responses=errors(ErrorCode.FORBIDDEN))
async def put_availability(body: AvailabilityIn, ctx: Ctx = Depends(get_ctx)) -> AvailabilityView:
    """Go online or offline (approved drivers only)."""
    return await drivers.set_availability(ctx, body)


@router.put("/location", status_code=204, response_class=Response, responses=errors(ErrorCode.FORBIDDEN))
async def put_location(body: LocationReport, ctx: Ctx = Depends(get_lazy_ctx)) -> Response:
    """Report the driver's position. A report older than the stored one is ignored. Positions
    are written in batches every `LOCATION_FLUSH_S` (0.5 s): a 204 is seen by tracking,
    dispatch and the job's `driverLocation` stream within about a second."""
    await tracking.update_location(ctx, body)
    return Response(status_code=204)
