"""The gateways built from the settings, and the socket guard that every gateway test runs behind."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from logistics.config import Settings
from logistics.payments.gateway import ManualPayouts, ProviderError
from logistics.payments.paypal_gateway import PaypalGateway
from logistics.payments.providers import build_payment_gateways, build_payout_gateway
from logistics.payments.stripe_gateway import StripeConnectPayouts, StripeGateway
from tests.fake_providers import FakeProviders, no_network
from tests.gateway_helpers import paypal_order, stripe_charge

# Every test here runs behind the socket guard, so no request can leave the machine.
no_network = no_network

# Stripe's HTTPXClient posts its form body as ``data=<str>``, which httpx deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def test_the_guard_refuses_the_network() -> None:
    with pytest.raises(OSError):
        socket.getaddrinfo("api.stripe.com", 443)
    with pytest.raises(OSError):
        socket.create_connection(("203.0.113.7", 443), timeout=1)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, env="test", **values)


def test_build_payment_gateways(fake_providers: FakeProviders) -> None:
    assert build_payment_gateways(_settings()) == {}
    gateways = build_payment_gateways(
        _settings(
            stripe_secret_key=fake_providers.stripe_secret_key,
            stripe_api_base=fake_providers.url,
            paypal_client_id=fake_providers.paypal_client_id,
            paypal_client_secret=fake_providers.paypal_client_secret,
            paypal_base_url=fake_providers.url,
        )
    )
    assert sorted(gateways) == ["paypal", "stripe"]
    assert isinstance(gateways["stripe"], StripeGateway)
    assert isinstance(gateways["paypal"], PaypalGateway)
    only_paypal_id = build_payment_gateways(_settings(paypal_client_id="id-without-secret"))
    assert only_paypal_id == {}


async def test_built_gateways_reach_the_configured_base(fake_providers: FakeProviders) -> None:
    gateways = build_payment_gateways(
        _settings(
            stripe_secret_key=fake_providers.stripe_secret_key,
            stripe_api_base=fake_providers.url,
            paypal_client_id=fake_providers.paypal_client_id,
            paypal_client_secret=fake_providers.paypal_client_secret,
            paypal_base_url=fake_providers.url,
        )
    )
    for gateway in gateways.values():
        charge = await gateway.create_charge(
            amount=100,
            currency="EUR",
            reference="pay_x",
            description="d",
            idempotency_key=f"k-{gateway.name}",
        )
        assert charge.status == "pending"
    assert len(fake_providers.intents) == 1
    assert len(fake_providers.orders) == 1
    stripe_gateway = gateways["stripe"]
    assert isinstance(stripe_gateway, StripeGateway)
    await stripe_gateway.aclose()


def test_build_payout_gateway(fake_providers: FakeProviders) -> None:
    assert isinstance(build_payout_gateway(_settings()), ManualPayouts)
    payouts = build_payout_gateway(
        _settings(payout_provider="stripe", stripe_secret_key="sk_test_x", stripe_api_base=fake_providers.url)
    )
    assert isinstance(payouts, StripeConnectPayouts)
    with pytest.raises(RuntimeError):
        build_payout_gateway(_settings(payout_provider="stripe"))


async def test_default_provider_addresses_are_refused_in_tests() -> None:
    """Without a base address the SDKs aim at the real APIs, which the guard refuses: the
    adapters report that as a ProviderError."""
    stripe_gateway = StripeGateway("sk_test_x", None, max_network_retries=0)
    try:
        with pytest.raises(ProviderError, match="could not be reached"):
            await stripe_charge(stripe_gateway)
    finally:
        await stripe_gateway.aclose()
    paypal_gateway = PaypalGateway("id", "secret", "sandbox", "WH-1")
    with pytest.raises(ProviderError, match="could not be reached"):
        await paypal_order(paypal_gateway)
