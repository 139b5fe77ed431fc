"""``job.eta_changed``: the dropoff ETA of a job under way moved further than
``WEBHOOK_ETA_CHANGE_S`` from the one webhooks last reported.

ETAs move with drivers' positions, which arrive as thousands of batched pings a second, so the
check runs beside them rather than on them: every ``WEBHOOK_ETA_CHECK_S``, over the active jobs
that an endpoint listens to. The report is claimed by a conditional UPDATE of the job's
``notified_eta_at``, so when several processes check at once exactly one sends it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlmodel import col

from logistics.auth import Principal
from logistics.job import webhook_events as events
from logistics.job.eta import job_eta
from logistics.job.status import ACTIVE_STATUSES
from logistics.models import Driver, Job, WebhookEndpoint
from logistics.platform import Ctx, Platform
from logistics.shapes.webhooks import WebhookEventType
from logistics.webhooks.outbox import live_endpoint

JOBS_PER_CHECK = 1000
SYSTEM = Principal.system("webhooks")


def _same(column: object, value: datetime | None) -> object:
    return col(column).is_(None) if value is None else col(column) == value


async def check_etas(platform: Platform) -> int:
    """Report the ETAs that moved; the number of jobs reported."""
    settings, now = platform.settings, platform.clock()
    async with platform.db.session(write=False) as session:
        listeners = [
            endpoint
            for endpoint in (await session.execute(select(WebhookEndpoint).where(*live_endpoint()))).scalars()
            if WebhookEventType.JOB_ETA_CHANGED.value in endpoint.event_types
        ]
        if not listeners:
            return 0
        query = (
            select(Job, Driver)
            .join(Driver, col(Driver.id) == col(Job.driver_id))
            .where(col(Job.status).in_(ACTIVE_STATUSES))
            .order_by(col(Job.updated_at))
            .limit(JOBS_PER_CHECK)
        )
        if not any(endpoint.owner_role == "ops" for endpoint in listeners):
            owners = sorted({endpoint.owner_id for endpoint in listeners})
            query = query.where(or_(col(Job.customer_id).in_(owners), col(Job.creator_id).in_(owners)))
        rows = (await session.execute(query)).all()
    threshold = timedelta(seconds=settings.webhook_eta_change_s)
    reported = 0
    for job, driver in rows:
        eta = job_eta(job, settings.region(job.region_id), driver, settings, now)
        if eta is None:
            continue
        before = job.notified_eta_at
        if before is not None and abs(eta.dropoff_at - before) < threshold:
            continue
        async with platform.db.unit_of_work() as uow:
            claimed = await uow.session.execute(
                update(Job)
                .where(and_(col(Job.id) == job.id, _same(Job.notified_eta_at, before)))  # type: ignore[arg-type]
                .values(notified_eta_at=eta.dropoff_at)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another process reported it, or the job moved on meanwhile
            ctx = Ctx(uow=uow, principal=SYSTEM, platform=platform)
            events.eta_changed(ctx, job, eta.model_dump(mode="json"), before)
            reported += 1
    return reported
