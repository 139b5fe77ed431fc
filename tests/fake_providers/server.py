"""The fakes served by uvicorn on a free loopback port in a background thread, one server per session."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from starlette.applications import Starlette

from tests.fake_providers.paypal_api import paypal_routes
from tests.fake_providers.state import FakeProviders
from tests.fake_providers.stripe_api import stripe_routes


def build_app(fake: FakeProviders) -> Starlette:
    return Starlette(routes=[*stripe_routes(fake), *paypal_routes(fake)])


@dataclass
class _Running:
    fake: FakeProviders
    server: uvicorn.Server
    thread: threading.Thread


def start_fake_providers() -> _Running:
    """Serve a fresh fake on a free loopback port; returns once it accepts connections."""
    fake = FakeProviders()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    fake.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        build_app(fake),
        lifespan="off",
        log_level="warning",
        access_log=False,
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fake provider server did not start")
        time.sleep(0.01)
    return _Running(fake, server, thread)


def stop_fake_providers(running: _Running) -> None:
    running.server.should_exit = True
    running.thread.join(timeout=10)


@pytest.fixture(scope="session")
def fake_providers_server() -> Iterator[FakeProviders]:
    running = start_fake_providers()
    try:
        yield running.fake
    finally:
        stop_fake_providers(running)


@pytest.fixture
def fake_providers(fake_providers_server: FakeProviders) -> Iterator[FakeProviders]:
    """The fake providers, with no state left over from other tests."""
    fake_providers_server.reset()
    yield fake_providers_server
    fake_providers_server.reset()
