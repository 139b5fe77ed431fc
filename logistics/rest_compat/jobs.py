from fastapi import APIRouter, Body, Depends, Query

from logistics.errors import ErrorCode
from logistics.platform import Ctx
from logistics.resolvers import jobs, lifecycle, tracking
from logistics.rest_compat.base import IdempotencyKey, UnitOfWorkRoute, errors, get_ctx
from logistics.rest_compat.conventions import LIMIT, creates
from logistics.shapes import jobs as shape
from logistics.shapes.common import LocationReport

router = APIRouter(route_class=UnitOfWorkRoute, tags=["driver jobs"])


@router.get("/jobs/available", response_model=shape.JobPage, responses=errors(ErrorCode.FORBIDDEN))
async def available(
    ctx: Ctx = Depends(get_ctx),
    lat: float | None = Query(None, description="Default: the driver's last reported position."),
    lng: float | None = None,
    radius_m: int | None = Query(None, description="1 to 50000; default 10000."),
    limit: int = LIMIT,
    cursor: str | None = None,
) -> shape.JobPage:
    """Open jobs near the driver, nearest first; `distance_m` is the distance to pickup."""
    return await jobs.available_jobs(ctx, lat=lat, lng=lng, radius_m=radius_m, limit=limit, cursor=cursor)


@router.get("/jobs", response_model=shape.JobPage, responses=errors(ErrorCode.FORBIDDEN))
async def my_jobs(
    ctx: Ctx = Depends(get_ctx),
    status: shape.JobListFilter = shape.JobListFilter.ACTIVE,
    limit: int = LIMIT,
    cursor: str | None = None,
) -> shape.JobPage:
    """The driver's own jobs, newest first."""
    return await jobs.list_jobs(ctx, status=status, limit=limit, cursor=cursor)


@creates(router, "/jobs", shape.JobView, ErrorCode.FORBIDDEN, ErrorCode.ADDRESS_INVALID)
async def create(
    body: shape.CreateJobIn, ctx: Ctx = Depends(get_ctx), idempotency_key: str | None = IdempotencyKey
) -> shape.JobView:
    """Create a job priced like a quote: a merchant's for a customer, or a driver's own custom
    delivery (assigned to that driver at once). Paid in cash or by invoice."""
    return await jobs.create_job(ctx, body, idempotency_key=idempotency_key)


@router.get("/jobs/{job_id}", response_model=shape.JobView, responses=errors(ErrorCode.NOT_FOUND))
async def get_job(job_id: str, ctx: Ctx = Depends(get_ctx)) -> shape.JobView:
    """A job the caller drives, ordered, or may take from the feed."""
    return await jobs.get_job(ctx, job_id)


@router.put(
    "/jobs/{job_id}/accept",
    response_model=shape.JobView,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.OFFER_TAKEN),
)
async def accept(job_id: str, ctx: Ctx = Depends(get_ctx)) -> shape.JobView:
    """Take the job. Among racing drivers exactly one wins; the others get `OFFER_TAKEN`."""
    return await jobs.accept_job(ctx, job_id)


@router.put(
    "/jobs/{job_id}/reject",
    response_model=shape.RejectResult,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.INVALID_TRANSITION),
)
async def reject(
    job_id: str, body: shape.RejectIn | None = None, ctx: Ctx = Depends(get_ctx)
) -> shape.RejectResult:
    """Pass on the job; it leaves this driver's feed."""
    return await jobs.reject_job(ctx, job_id, body or shape.RejectIn())


def _step_route(step: str) -> None:
    async def endpoint(
        job_id: str, body: shape.TransitionIn | None = None, ctx: Ctx = Depends(get_ctx)
    ) -> shape.JobView:
        return await lifecycle.advance_job(ctx, job_id, step, body or shape.TransitionIn())

    target = lifecycle.DRIVER_STEPS[step]
    codes = [ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.INVALID_TRANSITION]
    if step == "complete-dropoff":
        codes.append(ErrorCode.PROOF_REQUIRED)
    endpoint.__name__ = step.replace("-", "_")
    router.add_api_route(
        f"/jobs/{{job_id}}/{step}",
        endpoint,
        methods=["PUT"],
        response_model=shape.JobView,
        responses=errors(*codes),
        summary=f"{step.replace('-', ' ').capitalize()}",
        description=(
            f"Move the job to `{target}` (assigned driver only). Body: point (required except for "
            "`complete`), optional `recorded_at` and `note`. Repeating the step that made the "
            "current status answers 200 and changes nothing."
        ),
    )


for _step in lifecycle.DRIVER_STEPS:
    _step_route(_step)


@router.put(
    "/jobs/{job_id}/tracking",
    response_model=shape.TrackingResult,
    responses=errors(ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND, ErrorCode.JOB_NOT_ACTIVE),
)
async def report_tracking(
    job_id: str,
    body: shape.TrackingIn | LocationReport = Body(
        ..., description="One location report, or `{points: [...]}` (1 to 100)."
    ),
    ctx: Ctx = Depends(get_ctx),
) -> shape.TrackingResult:
    """The assigned driver's GPS points while the job is active; a batch is replayed in
    `recorded_at` order."""
    points = body.points if isinstance(body, shape.TrackingIn) else [body]
    return await tracking.report_tracking(ctx, job_id, points)
