"""Local stand-ins for the Stripe and PayPal APIs, for driving the real SDKs in tests."""

from tests.fake_providers.network import no_network
from tests.fake_providers.server import (
    build_app,
    fake_providers,
    fake_providers_server,
    start_fake_providers,
    stop_fake_providers,
)
from tests.fake_providers.state import (
    PAYPAL_CLIENT_ID,
    PAYPAL_CLIENT_SECRET,
    PAYPAL_WEBHOOK_ID,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRET,
    FakeProviders,
    RecordedRequest,
)
from tests.fake_providers.stripe_api import stripe_signed

__all__ = [
    "PAYPAL_CLIENT_ID",
    "PAYPAL_CLIENT_SECRET",
    "PAYPAL_WEBHOOK_ID",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "FakeProviders",
    "RecordedRequest",
    "build_app",
    "fake_providers",
    "fake_providers_server",
    "no_network",
    "start_fake_providers",
    "stop_fake_providers",
    "stripe_signed",
]
