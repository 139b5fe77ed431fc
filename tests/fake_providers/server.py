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
from starlette.routing import Route

from tests.fake_providers.paypal_api import PaypalHandlers
from tests.fake_providers.state import FakeProviders
from tests.fake_providers.stripe_api import StripeHandlers


def build_app(fake: FakeProviders) -> Starlette:
    s, p = StripeHandlers(fake), PaypalHandlers(fake)
    return Starlette(
        routes=[
            Route("/v1/payment_intents", s.create_intent, methods=["POST"]),
            Route("/v1/payment_intents/{intent_id}", s.get_intent, methods=["GET"]),
            Route("/v1/refunds", s.create_refund, methods=["POST"]),
            Route("/v1/transfers", s.create_transfer, methods=["POST"]),
            Route("/v1/oauth2/token", p.token, methods=["POST"]),
            Route("/v2/checkout/orders", p.create_order, methods=["POST"]),
            Route("/v2/checkout/orders/{order_id}", p.get_order, methods=["GET"]),
            Route("/v2/checkout/orders/{order_id}/capture", p.capture_order, methods=["POST"]),
            Route("/v2/payments/captures/{capture_id}", p.get_capture, methods=["GET"]),
            Route("/v2/payments/captures/{capture_id}/refund", p.refund_capture, methods=["POST"]),
            Route("/v1/notifications/verify-webhook-signature", p.verify_webhook, methods=["POST"]),
            Route("/checkoutnow", p.checkout, methods=["GET"]),
        ]
    )


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
