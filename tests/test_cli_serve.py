"""What ``logistics serve`` refuses before it starts anything: several workers that could not
hear each other's events, and the payments sandbox across workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from logistics import cli


@pytest.fixture(autouse=True)
def nothing_starts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Were a refusal missing, the test fails here instead of serving (and migrates nothing
    but a scratch database)."""
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")

    def serve(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("logistics serve started instead of refusing")

    monkeypatch.setattr("uvicorn.run", serve)
    monkeypatch.setattr("logistics.shutdown.serve", serve)


def test_several_workers_on_the_in_memory_broadcast_are_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOGISTICS_BROADCAST_URL", "memory://")
    assert cli.main(["serve", "--workers", "2"]) == 2
    error = capsys.readouterr().err
    assert "shared broker" in error and "LOGISTICS_BROADCAST_URL" in error


def test_the_payments_sandbox_across_workers_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOGISTICS_BROADCAST_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LOGISTICS_PAYMENTS_SANDBOX", "true")
    assert cli.main(["serve", "--workers", "2"]) == 2
    assert "one worker" in capsys.readouterr().err
