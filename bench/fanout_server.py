"""The servers under test: the service (a uvicorn process of its own on a fresh SQLite file), the
bare-send app (``fanout_bare``) under the same uvicorn command line, and Redis.

Only loopback addresses; every process started here is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fanout_bare import MODE_ENV
from bench.fanout_diagnose import DIAGNOSTIC_BOOTSTRAP

JWT_SECRET = "fanout-benchmark-secret-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent
# Unless --no-pin (single-job runs only): the server alone on core 0; the clients and the
# driver on core 1, so that neither side's work shows up in the other's latencies or CPU.
SERVER_CORE, CLIENT_CORE = 0, 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def stop_process(
    process: asyncio.subprocess.Process, sig: int = signal.SIGTERM, grace: float = 10
) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    diagnostics_path: Path | None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def snapshot(self) -> None:
        """Ask a diagnostic server to count its objects (it does so between two callbacks)."""
        if self.diagnostics_path is not None:
            self.process.send_signal(signal.SIGUSR1)
            await asyncio.sleep(3)


def server_env(workdir: Path, broadcast_url: str, max_connections: int) -> dict[str, str]:
    """The service's environment: a SQLite file in ``workdir``; none of the caller's settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOGISTICS_")}
    env.update(
        LOGISTICS_ENV="development",
        LOGISTICS_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        LOGISTICS_BROADCAST_URL=broadcast_url,
        LOGISTICS_JWT_SECRET=JWT_SECRET,
        LOGISTICS_DRIVER_AUTO_APPROVE="true",
        LOGISTICS_WS_MAX_CONNECTIONS_PER_USER=str(max_connections),
        LOGISTICS_STORAGE_DIR=str(workdir / "storage"),
        LOGISTICS_RATE_LIMIT_PER_MIN="0",
    )
    return env


async def wait_ready(server: Server, process: asyncio.subprocess.Process, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready within {limit_s:.0f} s:\n{server.log_tail()}")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def uvicorn_server(
    app: list[str], env: dict[str, str], workdir: Path, args: argparse.Namespace, label: str
) -> AsyncIterator[Server]:
    """``uvicorn <app>`` on a free loopback port with the flags both servers share, pinned to
    ``SERVER_CORE`` when ``args.pin``; under the diagnostic bootstrap with ``--diagnose``."""
    port = free_port()
    uvicorn_args = [*app, "--host", "127.0.0.1", "--port", str(port)]
    uvicorn_args += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    # As `logistics serve` runs it: no permessage-deflate on websockets.
    uvicorn_args += ["--ws-per-message-deflate", "false"]
    diagnostics_path = None
    if args.diagnose is not None:
        diagnostics_path = args.diagnose / f"gc-{label}.json"
        command = [sys.executable, "-c", DIAGNOSTIC_BOOTSTRAP, str(diagnostics_path), *uvicorn_args]
    else:
        command = [sys.executable, "-m", "uvicorn", *uvicorn_args]
    if args.pin:
        # taskset execs the interpreter: the pid measured is the server's own.
        command = ["taskset", "-c", str(SERVER_CORE), *command]
    log_path = workdir / "server.log"
    process: asyncio.subprocess.Process | None = None
    try:
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(process, f"http://127.0.0.1:{port}", log_path, diagnostics_path)
        await wait_ready(server, process)
        yield server
    finally:
        if process is not None:
            await stop_process(process)


@contextlib.asynccontextmanager
async def scratch(args: argparse.Namespace) -> AsyncIterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix="logistics-fanout-"))
    try:
        yield workdir
    finally:
        if args.keep_temp:
            print(f"  server files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def running_server(
    broadcast_url: str, max_connections: int, args: argparse.Namespace, label: str
) -> AsyncIterator[Server]:
    """The service: ``uvicorn logistics.app:create_app --factory`` on a fresh, migrated SQLite file."""
    async with scratch(args) as workdir:
        env = server_env(workdir, broadcast_url, max_connections)
        migrate = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "logistics.cli",
            "migrate",
            cwd=workdir,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(migrate.communicate(), 120)
        if migrate.returncode != 0:
            raise RuntimeError(f"logistics migrate failed:\n{output.decode(errors='replace')[-2000:]}")
        app = ["logistics.app:create_app", "--factory"]
        async with uvicorn_server(app, env, workdir, args, label) as server:
            yield server


@contextlib.asynccontextmanager
async def bare_server(args: argparse.Namespace, label: str) -> AsyncIterator[Server]:
    """``fanout_bare`` served by the same uvicorn, the same flags, on the same core."""
    async with scratch(args) as workdir:
        env = {name: value for name, value in os.environ.items() if not name.startswith("LOGISTICS_")}
        env[MODE_ENV] = args.bare_fanout
        app = ["bench.fanout_bare:create_app", "--factory", "--app-dir", str(REPO)]
        async with uvicorn_server(app, env, workdir, args, label) as server:
            yield server


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.asynccontextmanager
async def redis_server(db: int) -> AsyncIterator[str | None]:
    """The local Redis on 6379, or a private one on a free loopback port if none answers."""
    if redis_answers(6379):
        yield f"redis://127.0.0.1:6379/{db}"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        binary,
        *("--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # ten seconds at most
            if redis_answers(port):
                break
            await asyncio.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/{db}"
    finally:
        await stop_process(process)
