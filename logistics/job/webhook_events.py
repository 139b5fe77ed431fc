"""The webhook events of the job core, each built from what the change itself holds.

``job.status_changed`` carries the same status, previous status and ETA as the ``jobUpdated``
subscription; the other events add what their change is about (the driver, the proof, the
cancellation's fee, the refund, the tip, the issue).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from logistics.job import tracking_link
from logistics.job.status import JobStatus
from logistics.models import Driver, Job, JobImage, Payment
from logistics.platform import Ctx
from logistics.shapes.events import JobUpdate
from logistics.shapes.webhooks import WebhookEventType as E
from logistics.webhooks.outbox import emit


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def job_summary(ctx: Ctx, job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status,
        "customer_id": job.customer_id,
        "created_by": job.created_by,
        "creator_id": job.creator_id,
        "driver_id": job.driver_id,
        "region_id": job.region_id,
        "vehicle_type": job.vehicle_type,
        "price": money(job.price, job.currency),
        "pickup": {"point": job.pickup["point"], "address": job.pickup.get("address")},
        "dropoff": {"point": job.dropoff["point"], "address": job.dropoff.get("address")},
        "tracking_url": tracking_link.url_for(ctx.settings, job.id, job.tracking_generation),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def job_created(ctx: Ctx, job: Job) -> None:
    emit(ctx, job.id, E.JOB_CREATED, {"job": job_summary(ctx, job)})


async def job_moved(ctx: Ctx, job: Job, update: JobUpdate) -> None:
    """A step of the lifecycle: ``job.status_changed``, and the events of the steps that
    carry more (a driver assigned, the delivery with its proof, a cancellation)."""
    eta = update.eta.model_dump(mode="json") if update.eta is not None else None
    # Each step resets what job.eta_changed compares against.
    job.notified_eta_at = update.eta.dropoff_at if update.eta is not None else None
    if update.previous is None or update.previous == job.status:
        return  # the job's first status: job.created says it
    summary = job_summary(ctx, job)
    emit(
        ctx,
        job.id,
        E.JOB_STATUS_CHANGED,
        {"job": summary, "status": job.status, "previous_status": update.previous, "eta": eta},
    )
    if job.status == JobStatus.ACCEPTED and job.driver_id is not None:
        driver = (
            await ctx.session.execute(select(Driver).where(col(Driver.id) == job.driver_id))
        ).scalar_one()
        emit(
            ctx,
            job.id,
            E.JOB_DRIVER_ASSIGNED,
            {
                "job": summary,
                "driver": {"id": driver.id, "name": driver.name, "vehicle": driver.vehicle},
                "eta": eta,
            },
        )
    elif job.status == JobStatus.DROPOFF_COMPLETED:
        emit(ctx, job.id, E.JOB_DELIVERED, {"job": summary, "proof": await _proof(ctx, job)})
    elif job.status == JobStatus.CANCELLED:
        emit(ctx, job.id, E.JOB_CANCELLED, {"job": summary, "cancellation": job.cancellation})


async def _proof(ctx: Ctx, job: Job) -> dict[str, Any]:
    """The dropoff photos' ids and where and when the driver completed the dropoff."""
    photos = (
        await ctx.session.execute(
            select(col(JobImage.id)).where(col(JobImage.job_id) == job.id, col(JobImage.kind) == "dropoff")
        )
    ).scalars()
    return {"photo_ids": list(photos), "completed_at": job.updated_at}


def eta_changed(ctx: Ctx, job: Job, eta: dict[str, Any], previous_dropoff_at: Any) -> None:
    emit(
        ctx,
        job.id,
        E.JOB_ETA_CHANGED,
        {"job": job_summary(ctx, job), "eta": eta, "previous_dropoff_at": previous_dropoff_at},
    )


def issue_reported(ctx: Ctx, job_id: str, issue: dict[str, Any]) -> None:
    emit(ctx, job_id, E.JOB_ISSUE_REPORTED, {"job_id": job_id, "issue": issue})


def refunded(ctx: Ctx, payment: Payment, amount: int) -> None:
    emit(
        ctx,
        payment.job_id,
        E.PAYMENT_REFUNDED,
        {
            "job_id": payment.job_id,
            "payment": {
                "id": payment.id,
                "purpose": payment.purpose,
                "provider": payment.provider,
                "amount": money(payment.amount, payment.currency),
                "status": payment.status,
            },
            "refund": money(amount, payment.currency),
        },
    )


def tip_received(ctx: Ctx, payment: Payment, driver_id: str | None) -> None:
    emit(
        ctx,
        payment.job_id,
        E.TIP_RECEIVED,
        {"job_id": payment.job_id, "driver_id": driver_id, "tip": money(payment.amount, payment.currency)},
    )
