"""Who is calling: a JWT, verified with a pinned algorithm, becomes a ``Principal``.

Every edge (REST, GraphQL over HTTP and websocket) authenticates through
:meth:`TokenVerifier.principal`; what the principal may touch is decided by
``logistics.job.access``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt

from logistics.config import Settings
from logistics.errors import DomainError, ErrorCode
from logistics.observability.context import note_user


@dataclass(frozen=True)
class Principal:
    sub: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    # When the token stops being accepted (its exp plus the leeway), in epoch seconds: a live
    # subscription ends then.
    expires_at: float | None = field(default=None, compare=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @classmethod
    def system(cls, name: str) -> Principal:
        """The platform itself acting (the dispatch loop, the ping buffer, the ETA watch)."""
        return cls(sub="system", name=name, roles=frozenset({"system"}))


# Real tokens are well under a kilobyte; a bigger one is refused before it is decoded.
MAX_AUTHORIZATION_BYTES = 8 * 1024
# Verified tokens remembered per process: a fleet's worth, each for at most five minutes.
VERIFIED_CACHE_SIZE = 50_000
VERIFIED_CACHE_TTL_S = 300


def _unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.algorithms = list(settings.jwt_algorithms)
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        # A token verified once is the same caller until it expires: apps send one token with
        # every ping and poll, and checking its signature again is most of a ping's cost.
        self._verified: dict[str, tuple[Principal, float]] = {}

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
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise _unauthenticated(f"the Authorization header is over {MAX_AUTHORIZATION_BYTES} bytes")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("expected 'Authorization: Bearer <token>'")
        token = token.strip()
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            note_user(cached[0].sub)
            return cached[0]
        claims = self.decode(token)
        principal = self._principal_of(claims)
        # The request's log line names its caller.
        note_user(principal.sub)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        exp = claims.get("exp")
        if isinstance(exp, int | float):
            # Until the token expires (leeway included, as decode allows), and never longer
            # than a few minutes: a key rotated out of a JWKS stops counting soon after.
            self._verified[token] = (
                principal,
                min(float(exp) + self.settings.jwt_leeway_s, time.time() + VERIFIED_CACHE_TTL_S),
            )
        return principal

    def _principal_of(self, claims: dict[str, object]) -> Principal:
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
            expires_at=float(exp) + self.settings.jwt_leeway_s
            if isinstance(exp := claims.get("exp"), int | float)
            else None,
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
