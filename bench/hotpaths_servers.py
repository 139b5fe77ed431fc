"""The processes under test: the service, the bare baseline, and ``logistics serve --workers 2``.

Each listens on a free loopback port, logs to a file in the run's scratch directory, and is
stopped (its process group: uvicorn's workers too) on the way out. The closed-loop servers are
pinned to core 0 with ``taskset`` so that the load generator on core 1 never competes with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fanout_server import free_port
from bench.hotpaths_seed import service_env

REPO = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "0", "1"


@dataclass
class Server:
    label: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (its own, not its children's)."""
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return float("nan")


async def _stop(process: asyncio.subprocess.Process, grace: float = 15) -> None:
    if process.returncode is not None:
        return
    # The process leads its own group: a multi-worker server's children go with it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


@contextlib.asynccontextmanager
async def server(
    label: str, command: list[str], env: dict[str, str], workdir: Path, port: int
) -> AsyncIterator[Server]:
    log_path = workdir / f"{label}.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Server(label, process, port, log_path)
    try:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(base_url=running.base_url, timeout=5) as client:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{label} exited ({process.returncode}):\n{running.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label} was not ready within 120 s:\n{running.log_tail()}")
                await asyncio.sleep(0.1)
        yield running
    finally:
        await _stop(process)


def _uvicorn(app: str, port: int) -> list[str]:
    return [
        *("taskset", "-c", SERVER_CORE, sys.executable, "-m", "uvicorn", app, "--factory"),
        *("--host", "127.0.0.1", "--port", str(port), "--backlog", "4096"),
        *("--no-access-log", "--log-level", "warning"),
    ]


def service(url: str, workdir: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    """``uvicorn logistics.app:create_app --factory``, one process on core 0: no dispatch loop
    (it would add its own load to the measurements), no rate limit, drivers approved at once
    (the core loop registers its own)."""
    env = service_env(
        url,
        LOGISTICS_DISPATCH_LOOP="false",
        LOGISTICS_DRIVER_AUTO_APPROVE="true",
        LOGISTICS_STORAGE_DIR=str(workdir / "storage"),
    )
    port = free_port()
    return server("service", _uvicorn("logistics.app:create_app", port), env, workdir, port)


def baseline(
    url: str, workdir: Path, module: str = "bench.hotpaths_baseline", label: str = "baseline"
) -> contextlib.AbstractAsyncContextManager[Server]:
    port = free_port()
    command = _uvicorn(f"{module}:create_app", port)
    return server(label, command, service_env(url), workdir, port)


def multi_worker(
    url: str, broadcast_url: str, workdir: Path, workers: int
) -> contextlib.AbstractAsyncContextManager[Server]:
    """``logistics serve --workers N`` as deployed: unpinned, the dispatch loop on."""
    env = service_env(
        url, LOGISTICS_BROADCAST_URL=broadcast_url, LOGISTICS_STORAGE_DIR=str(workdir / "storage")
    )
    port = free_port()
    command = [sys.executable, "-m", "logistics.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    return server("serve", [*command, "--workers", str(workers)], env, workdir, port)


def children(pid: int) -> list[int]:
    """The worker processes of a ``serve`` supervisor (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(stat[1]) == pid and b"resource_tracker" not in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return sorted(found)


def machine_ticks() -> tuple[int, int]:
    """Busy and total CPU clock ticks of the whole machine, all cores, from ``/proc/stat``."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
