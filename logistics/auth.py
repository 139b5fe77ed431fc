"""Who is calling (JWT -> Principal) and what they may touch: the access rules' one home.

Every edge (REST, GraphQL queries, subscriptions) authenticates through
:meth:`TokenVerifier.principal` and authorizes through the functions below. Another user's
object answers ``NOT_FOUND`` so that an id never confirms that something exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.config import Settings
from logistics.errors import DomainError, ErrorCode, not_found
from logistics.models import Driver, Job

ACTIVE_STATUSES = (
    "accepted",
    "pickup_started",
    "pickup_arrived",
    "pickup_completed",
    "dropoff_started",
    "dropoff_arrived",
    "dropoff_completed",
)


@dataclass(frozen=True)
class Principal:
    sub: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, role: str) -> bool:
        return role in self.roles


def _unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.algorithms = list(settings.jwt_algorithms)
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def _key(self, token: str, algorithm: str) -> Any:
        if algorithm.startswith("HS"):
            return self.settings.jwt_secret
        if self._jwks is not None:
            return self._jwks.get_signing_key_from_jwt(token).key
        if self.settings.jwt_public_key:
            return self.settings.jwt_public_key
        raise _unauthenticated("no key is configured for this token's algorithm")

    def decode(self, token: str) -> dict[str, object]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthenticated("malformed token") from exc
        algorithm = header.get("alg")
        # Pinning: the header may only pick among the configured algorithms, never "none",
        # and never an HMAC algorithm keyed with a public key.
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise _unauthenticated("token algorithm not accepted")
        try:
            return jwt.decode(
                token,
                self._key(token, algorithm),
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.jwt_leeway_s,
                options={
                    "require": ["exp", "iat", "sub"],
                    "verify_aud": self.settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthenticated("token expired") from exc
        except jwt.PyJWTError as exc:
            raise _unauthenticated("invalid token") from exc

    def principal(self, authorization: str | None) -> Principal:
        """The caller of a request from its ``Authorization`` header."""
        if not authorization:
            raise _unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("expected 'Authorization: Bearer <token>'")
        claims = self.decode(token.strip())
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 255:
            raise _unauthenticated("invalid subject")
        roles = claims.get("roles") or []
        return Principal(
            sub=sub,
            name=_opt_str(claims.get("name")),
            phone=_opt_str(claims.get("phone")),
            email=_opt_str(claims.get("email")),
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
        )


def _opt_str(value: object) -> str | None:
    return value[:200] if isinstance(value, str) else None


def mint_token(
    settings: Settings,
    sub: str,
    *,
    name: str | None = None,
    phone: str | None = None,
    roles: list[str] | None = None,
    ttl: timedelta = timedelta(hours=12),
    algorithm: str = "HS256",
    key: str | None = None,
) -> str:
    """A development token signed with the configured secret (``logistics token``)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + int(ttl.total_seconds())}
    if name:
        claims["name"] = name
    if phone:
        claims["phone"] = phone
    if roles:
        claims["roles"] = roles
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, key or settings.jwt_secret, algorithm=algorithm)


# --- access rules -------------------------------------------------------------------------


async def driver_of(session: AsyncSession, principal: Principal, *, lock: bool = False) -> Driver | None:
    query = select(Driver).where(col(Driver.user_id) == principal.sub)
    if lock:
        # FOR NO KEY UPDATE (PostgreSQL), not FOR UPDATE: rows that reference this one (job
        # offers, GPS points) take KEY SHARE locks in their foreign-key checks, which FOR UPDATE
        # would block, deadlocking a driver lock against a job lock held by another request.
        query = query.with_for_update(key_share=True)
    return (await session.execute(query)).scalar_one_or_none()


async def require_driver(session: AsyncSession, principal: Principal, *, lock: bool = False) -> Driver:
    """The caller's driver profile, which must be approved for any driver-side path."""
    driver = await driver_of(session, principal, lock=lock)
    if driver is None:
        raise DomainError(ErrorCode.FORBIDDEN, "this path is for registered drivers")
    if driver.status != "approved":
        raise DomainError(ErrorCode.FORBIDDEN, f"driver profile is {driver.status}, not approved")
    return driver


def require_role(principal: Principal, role: str) -> None:
    if not principal.has_role(role):
        raise DomainError(ErrorCode.FORBIDDEN, f"requires the {role} role")


async def _job(session: AsyncSession, job_id: str, *, lock: bool) -> Job | None:
    query = select(Job).where(col(Job.id) == job_id)
    if lock:
        # FOR NO KEY UPDATE, as in driver_of: foreign-key checks of rows that reference the job
        # must not wait for it.
        query = query.with_for_update(key_share=True)
    return (await session.execute(query)).scalar_one_or_none()


async def customer_job(
    session: AsyncSession, principal: Principal, job_id: str, *, lock: bool = False
) -> Job:
    """A job the caller ordered (or a merchant created for them)."""
    job = await _job(session, job_id, lock=lock)
    if job is None or job.customer_id != principal.sub:
        raise not_found("order")
    return job


async def driver_job(session: AsyncSession, driver: Driver, job_id: str, *, lock: bool = False) -> Job:
    """A job assigned to this driver."""
    job = await _job(session, job_id, lock=lock)
    if job is None or job.driver_id != driver.id:
        raise not_found("job")
    return job


@dataclass(frozen=True)
class JobAccess:
    job: Job
    role: str  # customer | driver | feed | ops
    driver: Driver | None


async def job_access(
    session: AsyncSession,
    principal: Principal,
    job_id: str,
    *,
    allow_feed: bool = False,
    lock: bool = False,
) -> JobAccess:
    """Who the caller is to this job: its customer, its driver, ops, or (for reads) a driver
    looking at an open job in the feed. Anyone else: ``NOT_FOUND``."""
    job = await _job(session, job_id, lock=lock)
    if job is None:
        raise not_found("job")
    if job.customer_id == principal.sub or job.creator_id == principal.sub:
        return JobAccess(job, "customer", None)
    driver = await driver_of(session, principal)
    if driver is not None and driver.status == "approved":
        if job.driver_id == driver.id:
            return JobAccess(job, "driver", driver)
        if allow_feed and job.status == "searching" and job.driver_id is None:
            return JobAccess(job, "feed", driver)
    if principal.has_role("ops"):
        return JobAccess(job, "ops", None)
    raise not_found("job")


async def participant_access(session: AsyncSession, principal: Principal, job_id: str) -> JobAccess:
    """The job's customer or its assigned driver: chat, issues, images, contacts."""
    access = await job_access(session, principal, job_id)
    if access.role not in ("customer", "driver"):
        raise not_found("job")
    return access


def is_active(job: Job) -> bool:
    return job.status in ACTIVE_STATUSES


def now_utc() -> datetime:
    return datetime.now(UTC)
