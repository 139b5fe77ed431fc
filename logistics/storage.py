"""Uploaded files: the type is decided by the bytes, the name by their SHA-256.

A client's file name and declared content type are never trusted: the first bytes decide
(JPEG, PNG, WebP or PDF), and the file is written to ``<storage_dir>/ab/cd/<sha256>`` so that
no client-chosen text ever reaches the file system.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from logistics.errors import DomainError, ErrorCode


def sniff_content_type(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


class Storage:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def check(self, data: bytes) -> tuple[str, str]:
        """(content type, sha256) of acceptable bytes, or the error to answer."""
        if len(data) > self.max_bytes:
            raise DomainError(
                ErrorCode.PAYLOAD_TOO_LARGE,
                f"files may be at most {self.max_bytes // (1024 * 1024)} MiB",
                {"max_bytes": self.max_bytes},
            )
        if not data:
            raise DomainError(ErrorCode.VALIDATION_FAILED, "the file is empty", {"fields": {"file": "empty"}})
        content_type = sniff_content_type(data[:16])
        if content_type is None:
            raise DomainError(
                ErrorCode.VALIDATION_FAILED,
                "only JPEG, PNG, WebP and PDF files are accepted",
                {"fields": {"file": "unsupported content"}},
            )
        return content_type, hashlib.sha256(data).hexdigest()

    async def save(self, data: bytes, sha256: str) -> None:
        await asyncio.to_thread(self._write, data, sha256)

    def _write(self, data: bytes, sha256: str) -> None:
        target = self.path_for(sha256)
        if target.exists():
            return  # same bytes, same name: content addressing makes a re-upload free
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def read(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path_for(sha256).read_bytes)
