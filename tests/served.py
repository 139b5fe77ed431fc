"""``logistics serve`` as a user starts it: a child process on a free port in an empty directory,
on its embedded defaults (SQLite, in-memory broadcast), with no ``LOGISTICS_*`` variable of the
test run leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.realtime_helpers import free_port

START_S = 60.0


@dataclass
class Served:
    base: str
    env: dict[str, str]  # the server's environment, for commands run beside it
    process: subprocess.Popen[str]
    output: str = ""  # what it printed, once it has stopped


@contextmanager
def logistics_serve(workdir: Path, *options: str, **settings: str) -> Iterator[Served]:
    """Serve from ``workdir`` with ``settings`` as ``LOGISTICS_<NAME>`` variables, and ``options``
    after serve's own (``--workers 2``)."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOGISTICS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({f"LOGISTICS_{name.upper()}": value for name, value in settings.items()})
    process = subprocess.Popen(  # noqa: S603  (our own interpreter, a fixed argv)
        [sys.executable, "-m", "logistics.cli", "serve", "--port", str(port), "--no-access-log", *options],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", env, process)
    try:
        deadline = time.monotonic() + START_S
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield served
    finally:
        process.terminate()
        served.output = process.communicate(timeout=30)[0]
