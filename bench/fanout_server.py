"""The server under test: a uvicorn process of its own on a fresh SQLite file, and Redis.

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

from bench.fanout_diagnose import DIAGNOSTIC_BOOTSTRAP

JWT_SECRET = "fanout-benchmark-secret-0123456789abcdef"


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


@contextlib.asynccontextmanager
async def running_server(
    broadcast_url: str, max_connections: int, args: argparse.Namespace, label: str
) -> AsyncIterator[Server]:
    workdir = Path(tempfile.mkdtemp(prefix="logistics-fanout-"))
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
    process: asyncio.subprocess.Process | None = None
    try:
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
        port = free_port()
        uvicorn_args = ["logistics.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)]
        uvicorn_args += ["--log-level", "warning", "--no-access-log", "--backlog", "4096"]
        # As `logistics serve` runs it: no permessage-deflate on websockets.
        uvicorn_args += ["--ws-per-message-deflate", "false"]
        diagnostics_path = None
        if args.diagnose is not None:
            diagnostics_path = args.diagnose / f"gc-{label}.json"
            command = [sys.executable, "-c", DIAGNOSTIC_BOOTSTRAP, str(diagnostics_path), *uvicorn_args]
        else:
            command = [sys.executable, "-m", "uvicorn", *uvicorn_args]
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Server(process, f"http://127.0.0.1:{port}", log_path, diagnostics_path)
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"the server exited ({process.returncode}):\n{server.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/readyz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server was not ready within 120 s:\n{server.log_tail()}")
                await asyncio.sleep(0.1)
        yield server
    finally:
        if process is not None:
            await stop_process(process)
        if args.keep_temp:
            print(f"  server files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


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
