from __future__ import annotations

from typing import Any

import strawberry
from strawberry.file_uploads import Upload

from logistics.resolvers import (
    drivers,
    jobs,
    lifecycle,
    media,
    messaging,
    orders,
    public_tracking,
    quotes,
    tracking,
)
from logistics.schema import inputs as i
from logistics.schema import types as t
from logistics.schema.context import call
from logistics.schema.fields import Ctx, call_idempotent
from logistics.shapes.drivers import AvailabilityIn
from logistics.shapes.jobs import RejectIn, RejectReason, TrackingIn, TransitionIn
from logistics.shapes.media import ImageKind
from logistics.shapes.messaging import MarkReadIn, MessageIn
from logistics.shapes.orders import CancelIn


def _step_mutation(step: str, description: str | None = None) -> Any:
    """The mutation moving a job by one of the driver's steps (``lifecycle.DRIVER_STEPS``)."""

    async def resolve(info: Ctx, job_id: strawberry.ID, input: i.TransitionInput | None = None) -> t.Job:
        body = input.to_pydantic() if input is not None else TransitionIn()
        return t.Job.from_pydantic(await call(info, lifecycle.advance_job, str(job_id), step, body))

    return strawberry.mutation(resolver=resolve, description=description)


async def _read_upload(file: Upload, limit: int) -> bytes:
    data = await file.read(limit + 1)  # type: ignore[attr-defined]  # Upload is starlette UploadFile here
    return data if isinstance(data, bytes) else bytes(data)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Become a driver (documents from POST /upload).")
    async def register_driver(self, info: Ctx, input: i.RegisterDriverInput) -> t.Driver:
        return t.Driver.from_pydantic(await call(info, drivers.register_driver, input.to_pydantic()))

    @strawberry.mutation(description="A job priced like a quote (merchant, driver's own, or customer).")
    async def create_job(self, info: Ctx, input: i.CreateJobInput) -> t.Job:
        return t.Job.from_pydantic(await call_idempotent(info, jobs.create_job, input.to_pydantic()))

    @strawberry.mutation(description="Take a job; among racing drivers one wins, the others get OFFER_TAKEN.")
    async def accept_job(self, info: Ctx, job_id: strawberry.ID) -> t.Job:
        return t.Job.from_pydantic(await call(info, jobs.accept_job, str(job_id)))

    @strawberry.mutation(description="Pass on a job.")
    async def reject_job(
        self, info: Ctx, job_id: strawberry.ID, reason: RejectReason = RejectReason.OTHER
    ) -> t.RejectResult:
        return t.RejectResult.from_pydantic(
            await call(info, jobs.reject_job, str(job_id), RejectIn(reason=reason))
        )

    start_pickup = _step_mutation("start-pickup")
    arrive_pickup = _step_mutation("arrive-pickup")
    complete_pickup = _step_mutation("complete-pickup")
    start_dropoff = _step_mutation("start-dropoff")
    arrive_dropoff = _step_mutation("arrive-dropoff")
    complete_dropoff = _step_mutation(
        "complete-dropoff", "Needs a dropoff photo where the region requires proof."
    )
    complete_job = _step_mutation("complete", "Finish the job; the driver's earnings are credited.")

    @strawberry.mutation(description="GPS points of the assigned driver while the job is active (1 to 100).")
    async def report_tracking(
        self, info: Ctx, job_id: strawberry.ID, points: list[i.LocationReportInput]
    ) -> t.TrackingResult:
        body = TrackingIn(points=[point.to_pydantic() for point in points])
        return t.TrackingResult.from_pydantic(
            await call(info, tracking.report_tracking, str(job_id), body.points)
        )

    @strawberry.mutation(description="Attach a photo: a multipart `file` or an `uploadId` from POST /upload.")
    async def add_job_image(
        self,
        info: Ctx,
        job_id: strawberry.ID,
        kind: ImageKind,
        upload_id: strawberry.ID | None = None,
        file: Upload | None = None,
    ) -> t.JobImage:
        data = None
        if file is not None:
            data = await _read_upload(file, info.context.platform.storage.max_bytes)
        image = await call_idempotent(
            info,
            media.add_job_image,
            str(job_id),
            kind,
            upload_id=str(upload_id) if upload_id is not None else None,
            data=data,
        )
        return t.JobImage.from_pydantic(image)

    @strawberry.mutation(description="Price a trip.")
    async def create_quote(self, info: Ctx, input: i.QuoteInput) -> t.Quote:
        return t.Quote.from_pydantic(await call(info, quotes.create_quote, input.to_pydantic()))

    @strawberry.mutation(description="Price a trip after the stricter address checks.")
    async def create_validated_quote(self, info: Ctx, input: i.QuoteInput) -> t.Quote:
        return t.Quote.from_pydantic(
            await call(info, quotes.create_quote, input.to_pydantic(), validated=True)
        )

    @strawberry.mutation(description="Book a delivery from a quote (honours the Idempotency-Key header).")
    async def create_order(self, info: Ctx, input: i.OrderInput) -> t.Job:
        return t.Job.from_pydantic(await call_idempotent(info, orders.create_order, input.to_pydantic()))

    @strawberry.mutation(description="Cancel an order: free while searching, a fee once accepted.")
    async def cancel_order(self, info: Ctx, job_id: strawberry.ID, reason: str | None = None) -> t.Job:
        return t.Job.from_pydantic(
            await call(info, orders.cancel_order, str(job_id), CancelIn(reason=reason))
        )

    @strawberry.mutation(
        description="Replace the order's tracking link (trackingUrl): the old one stops answering at once."
    )
    async def rotate_tracking_link(self, info: Ctx, job_id: strawberry.ID) -> t.Job:
        return t.Job.from_pydantic(await call(info, public_tracking.rotate_tracking_link, str(job_id)))

    @strawberry.mutation(description="Change notes, time, contacts or instructions of an order.")
    async def update_order(self, info: Ctx, job_id: strawberry.ID, input: i.OrderUpdateInput) -> t.Job:
        return t.Job.from_pydantic(await call(info, orders.update_order, str(job_id), input.to_pydantic()))

    @strawberry.mutation(description="Go online or offline (approved drivers).")
    async def set_availability(self, info: Ctx, online: bool) -> t.Availability:
        view = await call(info, drivers.set_availability, AvailabilityIn(online=online))
        return t.Availability.from_pydantic(view)

    @strawberry.mutation(description="Report the driver's position; older reports are ignored.")
    async def update_location(self, info: Ctx, input: i.LocationReportInput) -> bool:
        await call(info, tracking.update_location, input.to_pydantic())
        return True

    @strawberry.mutation(description="Approve a driver (ops role).")
    async def approve_driver(self, info: Ctx, driver_id: strawberry.ID) -> t.Driver:
        return t.Driver.from_pydantic(await call(info, drivers.approve_driver, str(driver_id)))

    @strawberry.mutation(description="Flag a problem on a job; imageIds must be images of this job.")
    async def report_issue(self, info: Ctx, job_id: strawberry.ID, input: i.IssueInput) -> t.JobIssue:
        issue = await call_idempotent(info, messaging.report_issue, str(job_id), input.to_pydantic())
        return t.JobIssue.from_pydantic(issue)

    @strawberry.mutation(description="Write in the job's chat (1 to 2000 characters, while active).")
    async def send_message(self, info: Ctx, job_id: strawberry.ID, body: str) -> t.Message:
        message = await call_idempotent(info, messaging.send_message, str(job_id), MessageIn(body=body))
        return t.Message.from_pydantic(message)

    @strawberry.mutation(description="Mark the other side's messages read up to upTo (default all).")
    async def mark_messages_read(
        self, info: Ctx, job_id: strawberry.ID, up_to: strawberry.ID | None = None
    ) -> t.MarkReadResult:
        body = MarkReadIn(up_to=str(up_to) if up_to is not None else None)
        return t.MarkReadResult.from_pydantic(
            await call(info, messaging.mark_messages_read, str(job_id), body)
        )
