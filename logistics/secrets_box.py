"""Encryption at rest for payout details (Fernet: AES-128-CBC with HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet

from logistics.config import Settings


def fernet_for(settings: Settings) -> Fernet:
    if settings.encryption_key:
        return Fernet(settings.encryption_key.encode())
    # Development convenience only: production refuses to start without an explicit key.
    derived = hashlib.sha256(b"logistics-payout-details:" + settings.jwt_secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, details: dict[str, Any]) -> str:
    return fernet_for(settings).encrypt(json.dumps(details, sort_keys=True).encode()).decode()


def unseal(settings: Settings, token: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(fernet_for(settings).decrypt(token.encode()))
    return data


def keyed_digest(settings: Settings, details: dict[str, Any]) -> str:
    """An HMAC of the details under a key derived from the encryption key: comparable for
    equality (idempotency), useless for recovering the details."""
    secret = hashlib.sha256(
        b"logistics-digest:" + (settings.encryption_key or settings.jwt_secret).encode()
    ).digest()
    return hmac.new(secret, json.dumps(details, sort_keys=True).encode(), hashlib.sha256).hexdigest()
