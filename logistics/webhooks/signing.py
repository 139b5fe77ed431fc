"""Signatures on outbound webhooks, in the scheme Stripe uses for its own.

The header is ``Logistics-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 under the endpoint's secret of ``"<t>.<raw body>"``. While a rotated-out secret is
still honoured there is one ``v1`` per secret. The timestamp is inside the MAC, so a receiver
that rejects old timestamps also rejects replays of captured requests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Logistics-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
DEFAULT_TOLERANCE_S = 300


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header(secrets_in_use: list[str], timestamp: int, body: bytes) -> str:
    parts = [f"t={timestamp}"] + [f"v1={signature(secret, timestamp, body)}" for secret in secrets_in_use]
    return ",".join(parts)


def verify(secret: str, value: str, body: bytes, *, tolerance_s: int = DEFAULT_TOLERANCE_S) -> bool:
    """What a receiver does (README, "Webhooks"): one ``v1`` must match, and ``t`` be recent."""
    fields = [part.split("=", 1) for part in value.split(",") if "=" in part]
    stamps = [v for k, v in fields if k == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v) for k, v in fields if k == "v1")
