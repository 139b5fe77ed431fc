"""The public tracking link of a job: ``/t/<job id>.<MAC>``, which anyone holding it may open
without logging in (the customer shares it with whoever waits for the parcel).

The MAC is an HMAC-SHA256 of the job id and the link's generation under a key derived from
the deployment's secret (``ENCRYPTION_KEY``, else the JWT secret), so a link cannot be guessed
or forged from a job id, and nothing secret is stored: the server recomputes it. A link dies
with its job's cancellation, when the customer replaces it (the job's ``tracking_generation``
moves on), and ``TRACKING_LINK_TTL_S`` after the delivery is completed; a changed secret
revokes every link at once.
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


def _mac(settings: Settings, job_id: str, generation: int) -> str:
    digest = hmac.new(_key(settings), f"{job_id}:{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:_MAC_CHARS]


def token_for(settings: Settings, job_id: str, generation: int) -> str:
    return f"{job_id}.{_mac(settings, job_id, generation)}"


def url_for(settings: Settings, job_id: str, generation: int) -> str:
    return f"{settings.public_url.rstrip('/')}{PATH_PREFIX}{token_for(settings, job_id, generation)}"


def job_id_of(token: str) -> str | None:
    """The job a token claims to be for; :func:`holds` says whether it is."""
    job_id, dot, _mac_part = token.partition(".")
    return job_id if dot and job_id and len(token) <= 100 else None


def holds(settings: Settings, token: str, job_id: str, generation: int) -> bool:
    """Whether ``token`` is this job's current link (the MAC compared in constant time)."""
    return hmac.compare_digest(token, token_for(settings, job_id, generation))


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
