"""The README's curl walk-through, pasted as it is into a fresh development server, twice in a
row: every step answers, and the customer's tracking shows the delivery completed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.served import logistics_serve

README = Path(__file__).resolve().parent.parent / "README.md"
DEFAULT_BASE = "http://127.0.0.1:8000"


def walkthrough() -> str:
    """The shell block of the README's "The core loop, with curl", without its first line
    (``logistics serve &``: the test starts the server itself)."""
    section = README.read_text(encoding="utf-8").split("## The core loop, with curl", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the README lost its curl walk-through"
    first, rest = block.group(1).split("\n", 1)
    assert first.startswith("logistics serve &"), first
    return rest


def documents(output: str) -> list[Any]:
    """The JSON documents curl printed one after another (its answers end without a newline)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        document, at = decoder.raw_decode(output, at)
        found.append(document)
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with logistics_serve(tmp_path) as served:
        yield served.base, served.env
    # start-up says where everything is
    assert f"GraphiQL     {served.base}/graphql" in served.output, served.output
    assert f"{tmp_path / 'logistics.db'} (SQLite)" in served.output, served.output


def test_the_readme_walkthrough_works_when_pasted_twice(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = server
    script = walkthrough().replace(DEFAULT_BASE, base)
    for attempt in (1, 2):
        # The README's own text, run as a user would paste it into bash.
        run = subprocess.run(  # noqa: S603
            ["bash", "-c", script],  # noqa: S607
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, (attempt, run.stdout, run.stderr)
        assert '"error"' not in run.stdout, (attempt, run.stdout)
        tracking = documents(run.stdout)[-1]
        assert tracking["status"] == "completed", (attempt, tracking)
        assert [event["status"] for event in tracking["timeline"]][-1] == "completed", (attempt, tracking)
