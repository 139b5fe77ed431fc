"""The README's curl walk-through, pasted as it is into a fresh development server, twice in a
row: every step answers, and the customer's tracking shows the delivery completed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.realtime_helpers import free_port

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
    """``logistics serve`` on a free port, on its embedded defaults in an empty directory."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGISTICS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    process = subprocess.Popen(  # noqa: S603  (our own interpreter, a fixed argv)
        [sys.executable, "-m", "logistics.cli", "serve", "--port", str(port), "--no-access-log"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base, env
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    # start-up says where everything is
    assert f"GraphiQL     {base}/graphql" in output, output
    assert f"{tmp_path / 'logistics.db'} (SQLite)" in output, output


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
