"""``logistics serve --demo``: the server and a city to watch on it, in one command.

The server runs as a child process (``logistics serve`` itself, so it migrates, prints its
banner and honours every setting as usual), in a session of its own: the terminal's Ctrl-C
reaches only this process, which first stops the demo (its drivers go offline through the
server, which must still be up), then stops the server with SIGTERM and waits for it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace

import httpx

from logistics.config import Settings, local_url
from logistics.demo.board import Console
from logistics.demo.options import WATCHING, DemoOptions
from logistics.demo.runner import healthy, main

# A first start may migrate a fresh database: give it time before giving up.
START_S = 60.0
STOP_S = 20.0


def serve_with_demo(serve_args: list[str], host: str, port: int, settings: Settings) -> int:
    """Serve with ``serve_args`` in a child, run the watching demo against it once it is
    healthy, and stop both on one Ctrl-C (or when the server exits on its own)."""
    options = replace(WATCHING, url=local_url(host, port))
    if _answers(options.url):
        # Its /healthz would pass for ours, and the demo would drive a stranger's server.
        print(
            f"serve --demo: a server already answers at {options.url}; choose another --port", file=sys.stderr
        )
        return 1
    env = dict(os.environ)
    if settings.env == "development" and not settings.stripe_secret_key:
        # Cards and tips through the sandbox, so the city shows every way money moves.
        env.setdefault("LOGISTICS_PAYMENTS_SANDBOX", "true")
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and command line)
        [sys.executable, "-m", "logistics.cli", "serve", *serve_args],
        start_new_session=True,
        env=env,
    )

    def stop_server() -> None:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(STOP_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    code = 0
    try:
        code = asyncio.run(_wait_then_demo(options, settings, server, stop_server))
    except KeyboardInterrupt:
        pass  # Ctrl-C before the demo took over its signals: just stop the server
    finally:
        stop_server()
    return code


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


async def _wait_then_demo(
    options: DemoOptions,
    settings: Settings,
    server: subprocess.Popen[bytes],
    stop_server: Callable[[], None],
) -> int:
    if not await healthy(options.url, START_S, server):
        if server.poll() is None:
            print(f"serve --demo: the server did not answer at {options.url}/healthz", file=sys.stderr)
            return 1
        return server.returncode or 1
    return await main(options, settings, Console(), server=server, before_summary=stop_server)
