"""The public tracking link of a job: ``/t/<job id>.<MAC>``, which anyone holding it may open
without logging in (the customer shares it with whoever waits for the parcel).

The MAC is an HMAC-SHA256 of the job id under a key derived from the deployment's secret
(``ENCRYPTION_KEY``, else the JWT secret), so a link cannot be guessed or forged from a job id,
and nothing needs storing: the server recomputes it. A link dies with its job's cancellation,
and expires ``TRACKING_LINK_TTL_S`` after the delivery is completed; a changed secret revokes
every link at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from logistics.config import Settings
from logistics.job.status import JobStatus

PATH_PREFIX = "/t/"
_MAC_CHARS = 32  # 192 bits of the MAC, URL-safe base64


def _key(settings: Settings) -> bytes:
    secret = settings.encryption_key or settings.jwt_secret
    return hashlib.sha256(b"logistics tracking link\0" + secret.encode()).digest()


def _mac(settings: Settings, job_id: str) -> str:
    digest = hmac.new(_key(settings), job_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def token_for(settings: Settings, job_id: str) -> str:
    return f"{job_id}.{_mac(settings, job_id)}"


def url_for(settings: Settings, job_id: str) -> str:
    return f"{settings.public_url.rstrip('/')}{PATH_PREFIX}{token_for(settings, job_id)}"


def job_id_of(settings: Settings, token: str) -> str | None:
    """The job a token names, if its MAC is right (compared in constant time)."""
    job_id, dot, mac = token.partition(".")
    if not dot or not job_id or len(token) > 100:
        return None
    return job_id if hmac.compare_digest(mac, _mac(settings, job_id)) else None


def expires_at(settings: Settings, status: str, completed_at: datetime | None) -> datetime | None:
    """When the link stops answering: never while the job runs, at once when it is cancelled."""
    if status == JobStatus.COMPLETED and completed_at is not None:
        return completed_at + timedelta(seconds=settings.tracking_link_ttl_s)
    return None


def open_now(settings: Settings, status: str, completed_at: datetime | None, now: datetime) -> bool:
    if status == JobStatus.CANCELLED:
        return False
    ends = expires_at(settings, status, completed_at)
    return ends is None or now < ends
