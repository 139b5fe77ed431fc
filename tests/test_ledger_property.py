"""The ledger under random sequences of money operations (a Hypothesis state machine).

Each example starts on a fresh database with two drivers and one customer, then runs a few
random steps, each one in its own unit of work as a request would: book an order (cash, a
merchant's invoice job, or card-paid through the fake Stripe and confirmed by the client, by a
signed webhook (maybe after a declined card), or by ``settle_payment`` with the provider's
charge; maybe paid twice, through PayPal too), accept, complete, tip, cancel before or after
acceptance, pay an order its customer had already cancelled, request payouts of random amounts
(also by a driver who owes commission on cash jobs), and settle them as paid or failed. The
resolvers are driven directly (no HTTP) for speed; the fake provider server is the only
stand-in.

After every step: every posting sums to zero in one currency; each driver's payable balance
equals its card and invoice earnings + tips + cancellation shares - commission owed on cash
jobs - payouts paid or in transit, counted independently by the test; only that commission
takes a balance below zero (a payout never does: each one leaves the balance at zero or
above, and one the balance does not cover is refused); and the payment history (cash
collected, commission, balance), the prepaid account and the payouts in transit agree.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select, text
from sqlmodel import col

from logistics import ledger
from logistics.app import build_platform
from logistics.auth import Principal
from logistics.config import Settings
from logistics.errors import DomainError, ErrorCode
from logistics.models import Payment
from logistics.payments.gateway import ProviderCharge
from logistics.platform import Ctx, Platform
from logistics.resolvers import earnings, jobs, lifecycle, media, orders, payments, payouts, quotes, tips
from logistics.shapes.common import Point
from logistics.shapes.drivers import RegisterIn
from logistics.shapes.jobs import CreateJobIn, JobView, TransitionIn
from logistics.shapes.media import UploadPurpose
from logistics.shapes.money import PaymentPurpose, PayoutMethodIn, PayoutRequestIn, TipIn
from logistics.shapes.orders import CancelIn, OrderIn
from logistics.shapes.quotes import QuoteIn
from tests.conftest import PG_URL, Clock, reset_database
from tests.factories import KREUZBERG, png_bytes, quote_body
from tests.fake_providers import FakeProviders, stripe_signed
from tests.payment_helpers import intent_of, with_providers

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

T = TypeVar("T")
CUSTOMER = Principal(sub="cust-prop", name="Customer", phone="+49 30 5550000")
MERCHANT = Principal(sub="merchant-prop", roles=frozenset({"merchant"}))
OPS = Principal(sub="ops-prop", roles=frozenset({"ops"}))
WEBHOOK = Principal(sub="system:webhook", roles=frozenset({"system"}))
DRIVER_SUBS = ("drv-a", "drv-b")
IBAN = "DE89370400440532013000"
STEPS = ["start-pickup", "arrive-pickup", "complete-pickup", "start-dropoff", "arrive-dropoff"]
STEPS += ["complete-dropoff", "complete"]
CURRENCY = "EUR"
# How the platform hears that the customer paid: the app's verify, Stripe's webhook (maybe
# after a declined card), or settle_payment given the provider's charge.
PAID_VIA = st.sampled_from(["verify", "webhook", "settle", "declined first"])


@dataclass
class JobModel:
    id: str
    price: int
    earnings: int
    method: str  # cash | card | invoice
    paid: bool
    status: str
    driver: str | None = None  # the driver's sub
    payment_id: str | None = None


@dataclass
class DriverModel:
    sub: str
    id: str
    owed_earnings: int = 0  # card and invoice jobs: the platform owes them to the driver
    cash_earnings: int = 0
    cash_collected: int = 0
    commission: int = 0  # the platform's share of cash jobs, owed by the driver
    tips: int = 0
    fees: int = 0
    requested: int = 0
    reversed: int = 0
    paid_out: int = 0

    @property
    def balance(self) -> int:
        payouts = self.requested - self.reversed  # paid or in transit
        return self.owed_earnings + self.tips + self.fees - self.commission - payouts


@dataclass
class PayoutModel:
    id: str
    driver: str
    amount: int


def regions_without_photo_proof(directory: Path) -> Path:
    """The built-in region, without the dropoff photo: the machine has enough to do."""
    region = json.loads(resources.files("logistics.regions").joinpath("berlin.json").read_text())
    region["proof_of_delivery"] = "none"
    path = directory / "regions.json"
    path.write_text(json.dumps([region]))
    return path


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, template: Settings, fake: FakeProviders, directory: Path, number: int) -> None:
        super().__init__()
        self.fake = fake
        self.runner = asyncio.Runner()
        url = PG_URL or f"sqlite+aiosqlite:///{directory / f'ledger-{number}.db'}"
        settings = template.model_copy(update={"database_url": url, "storage_dir": directory / "storage"})
        assert settings.default_region.proof_of_delivery == "none"
        self.region = settings.default_region
        self.runner.run(reset_database(url))
        self.platform: Platform = build_platform(settings)
        self.platform.clock = Clock()
        self.runner.run(self.platform.pubsub.connect())
        self.jobs: list[JobModel] = []
        self.drivers: dict[str, DriverModel] = {}
        self.pending: list[PayoutModel] = []
        self.runner.run(self._setup())

    def teardown(self) -> None:
        async def close() -> None:
            await self.platform.pubsub.disconnect()
            for gateway in self.platform.gateways.values():
                aclose: Callable[[], Awaitable[None]] | None = getattr(gateway, "aclose", None)
                if aclose is not None:
                    await aclose()
            await self.platform.db.dispose()

        self.runner.run(close())
        self.runner.close()

    # -- plumbing ----------------------------------------------------------------------------------

    async def _call(self, principal: Principal, work: Callable[[Ctx], Awaitable[T]]) -> T:
        """One request: its own unit of work, committed when ``work`` returns."""
        async with self.platform.db.unit_of_work() as uow:
            return await work(Ctx(uow=uow, principal=principal, platform=self.platform))

    def call(self, principal: Principal, work: Callable[[Ctx], Awaitable[T]]) -> T:
        return self.runner.run(self._call(principal, work))

    def refused(self, code: ErrorCode, principal: Principal, work: Callable[[Ctx], Awaitable[Any]]) -> None:
        with pytest.raises(DomainError) as raised:
            self.call(principal, work)
        assert raised.value.code is code, raised.value

    @staticmethod
    def driver_principal(sub: str) -> Principal:
        return Principal(sub=sub, name=f"Driver {sub}", phone="+49 30 7654321")

    async def _setup(self) -> None:
        expires = (date.today() + timedelta(days=365)).isoformat()
        for sub in DRIVER_SUBS:
            me = self.driver_principal(sub)

            async def register(ctx: Ctx) -> str:
                licence = await media.create_upload(ctx, png_bytes(), UploadPurpose.LICENCE)
                insurance = await media.create_upload(ctx, png_bytes(), UploadPurpose.INSURANCE)
                body = RegisterIn.model_validate(
                    {
                        "name": ctx.principal.name,
                        "phone": "+49 30 7654321",
                        "vehicle": {"type": "car"},
                        "licence": {"number": "B1", "expires_on": expires, "upload_id": licence.id},
                        "insurance": {
                            "provider": "Allianz",
                            "policy_number": "P-1",
                            "expires_on": expires,
                            "upload_id": insurance.id,
                        },
                    }
                )
                driver = await self._register(ctx, body)
                method = PayoutMethodIn.model_validate({"type": "bank_account", "details": {"iban": IBAN}})
                await payouts.add_payout_method(ctx, method)
                return driver

            driver_id = await self._call(me, register)
            self.drivers[sub] = DriverModel(sub=sub, id=driver_id)

    @staticmethod
    async def _register(ctx: Ctx, body: RegisterIn) -> str:
        from logistics.resolvers import drivers

        return (await drivers.register_driver(ctx, body)).id

    def jobs_in(self, *statuses: str) -> list[JobModel]:
        return [job for job in self.jobs if job.status in statuses]

    def _pay_with_stripe(self, job: JobModel, via: str) -> None:
        """The customer pays at Stripe; the platform hears of it ``via`` one of its paths."""
        assert job.payment_id is not None
        intent_id = intent_of(self.fake, job.payment_id)
        if via == "declined first":
            # The first card is declined (Stripe's webhook says failed); another one pays.
            self.fake.fail_intent(intent_id)
            body, headers = stripe_signed(self.fake.stripe_event("payment_intent.payment_failed", intent_id))
            self.call(WEBHOOK, lambda ctx: payments.handle_webhook(ctx, "stripe", body, headers))
        self.fake.pay_intent(intent_id)
        payment_id = job.payment_id
        if via in ("webhook", "declined first"):
            body, headers = stripe_signed(self.fake.stripe_event("payment_intent.succeeded", intent_id))
            outcome = self.call(WEBHOOK, lambda ctx: payments.handle_webhook(ctx, "stripe", body, headers))
            assert outcome == "processed"
        elif via == "verify":
            self.call(CUSTOMER, lambda ctx: payments.confirm_payment(ctx, payment_id, provider="stripe"))
        else:

            async def settle(ctx: Ctx) -> None:
                query = select(Payment).where(col(Payment.id) == payment_id).with_for_update()
                payment = (await ctx.session.execute(query)).scalar_one()
                charge = ProviderCharge(intent_id, "succeeded", payment.amount, payment.currency)
                await payments.settle_payment(ctx, payment, charge)

            self.call(CUSTOMER, settle)

    # -- rules ----------------------------------------------------------------------------------

    @initialize(sub=st.sampled_from(DRIVER_SUBS), via=PAID_VIA)
    def a_driver_has_earned(self, sub: str, via: str) -> None:
        """Start with one card-paid job done, so that payouts have a balance to draw on."""
        self.book("card", True, via, twice=False)
        job = self.jobs[-1]
        self._accept(job, sub)
        self._complete(job)

    @rule(
        method=st.sampled_from(["cash", "card", "invoice"]),
        pay=st.booleans(),
        via=PAID_VIA,
        twice=st.booleans(),
    )
    def book(self, method: str, pay: bool, via: str, twice: bool) -> None:
        """A new order; a card order maybe paid, and maybe paid twice (through PayPal too)."""

        async def order(ctx: Ctx) -> Any:
            quote = await quotes.create_quote(ctx, QuoteIn.model_validate(quote_body()))
            body = OrderIn.model_validate(
                {"quote_id": quote.id, "payment_method": "stripe" if method == "card" else "cash"}
            )
            return await orders.create_order(ctx, body)

        async def invoice_job(ctx: Ctx) -> Any:
            body = {**quote_body(), "customer_id": CUSTOMER.sub, "payment_method": "invoice"}
            return await jobs.create_job(ctx, CreateJobIn.model_validate(body))

        view = self.call(MERCHANT, invoice_job) if method == "invoice" else self.call(CUSTOMER, order)
        job = JobModel(
            id=view.id,
            price=view.price.amount,
            earnings=view.driver_earnings.amount,
            method=method,
            paid=False,
            status=view.status.value,
        )
        self.jobs.append(job)
        if job.method != "card":
            assert job.status == "searching"
            return
        assert job.status == "awaiting_payment"
        start = self.call(
            CUSTOMER,
            lambda ctx: payments.start_payment(
                ctx, job.id, purpose=PaymentPurpose.DELIVERY, provider="stripe"
            ),
        )
        job.payment_id = start.payment_id
        if not pay:
            return
        second = None
        if twice:
            second = self.call(
                CUSTOMER,
                lambda ctx: payments.start_payment(
                    ctx, job.id, purpose=PaymentPurpose.DELIVERY, provider="paypal"
                ),
            )
            assert second.order_id is not None
            self.fake.approve_order(second.order_id)
        self._pay_with_stripe(job, via)
        job.paid, job.status = True, "searching"
        if second is not None:
            # The order is paid already: the second payment goes straight back, in full.
            second_id = second.payment_id
            refunded = self.call(CUSTOMER, lambda ctx: payments.confirm_payment(ctx, second_id))
            assert refunded.status == "refunded" and refunded.refunded_amount == job.price

    @precondition(lambda self: bool(self.jobs_in("searching")))
    @rule(data=st.data())
    def accept(self, data: st.DataObject) -> None:
        job = data.draw(st.sampled_from(self.jobs_in("searching")), label="job")
        self._accept(job, data.draw(st.sampled_from(DRIVER_SUBS), label="driver"))

    def _accept(self, job: JobModel, sub: str) -> None:
        view = self.call(self.driver_principal(sub), lambda ctx: jobs.accept_job(ctx, job.id))
        assert view.status.value == "accepted"
        job.status, job.driver = "accepted", sub

    @precondition(lambda self: bool(self.jobs_in("accepted")))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        self._complete(data.draw(st.sampled_from(self.jobs_in("accepted")), label="job"))

    def _complete(self, job: JobModel) -> None:
        assert job.driver is not None
        me = self.driver_principal(job.driver)
        body = TransitionIn(point=Point.model_validate(KREUZBERG))
        for step in STEPS:
            self.call(me, self._step(job.id, step, body))
        job.status = "completed"
        driver = self.drivers[job.driver]
        if job.method == "cash":
            driver.cash_earnings += job.earnings
            driver.cash_collected += job.price
            driver.commission += job.price - job.earnings
        else:
            assert job.paid or job.method == "invoice"
            driver.owed_earnings += job.earnings

    @staticmethod
    def _step(job_id: str, step: str, body: TransitionIn) -> Callable[[Ctx], Awaitable[JobView]]:
        return lambda ctx: lifecycle.advance_job(ctx, job_id, step, body)

    @precondition(lambda self: bool(self.jobs_in("completed")))
    @rule(data=st.data(), amount=st.integers(1, 2_000), confirmations=st.integers(1, 3))
    def tip(self, data: st.DataObject, amount: int, confirmations: int) -> None:
        job = data.draw(st.sampled_from(self.jobs_in("completed")), label="job")
        assert job.driver is not None
        body = TipIn.model_validate({"amount": {"amount": amount, "currency": CURRENCY}, "method": "stripe"})
        start = self.call(CUSTOMER, lambda ctx: tips.tip_order(ctx, job.id, body))
        self.fake.pay_intent(intent_of(self.fake, start.payment_id))
        for _ in range(confirmations):
            result = self.call(CUSTOMER, lambda ctx: tips.complete_tip(ctx, job.id, start.payment_id))
            assert result.status.value == "succeeded" and result.tip.amount == amount
        self.drivers[job.driver].tips += amount

    @precondition(lambda self: bool(self.jobs_in("awaiting_payment", "searching", "accepted")))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job = data.draw(
            st.sampled_from(self.jobs_in("awaiting_payment", "searching", "accepted")), label="job"
        )
        refunds_before = sum(refund["amount"] for refund in self.fake.stripe_refunds.values())
        view = self.call(
            CUSTOMER, lambda ctx: orders.cancel_order(ctx, job.id, CancelIn(reason="changed plans"))
        )
        fee = min(self.region.cancellation_fee, job.price) if job.status == "accepted" else 0
        assert view.cancellation is not None and view.cancellation.fee.amount == fee
        refund = job.price - fee if job.paid else 0
        assert view.cancellation.refund.amount == refund
        refunded = sum(refund["amount"] for refund in self.fake.stripe_refunds.values()) - refunds_before
        assert refunded == refund
        if job.driver is not None:
            self.drivers[job.driver].fees += fee * self.region.cancellation_driver_share_bps // 10_000
        job.status = "cancelled"

    @precondition(
        lambda self: bool([j for j in self.jobs_in("cancelled") if j.method == "card" and not j.paid])
    )
    @rule(data=st.data(), via=PAID_VIA)
    def pay_after_cancelling(self, data: st.DataObject, via: str) -> None:
        """The money arrives after the customer cancelled: it all goes back to the customer."""
        unpaid = [j for j in self.jobs_in("cancelled") if j.method == "card" and not j.paid]
        job = data.draw(st.sampled_from(unpaid), label="job")
        refunds_before = len(self.fake.stripe_refunds)
        self._pay_with_stripe(job, via)
        job.paid = True
        [refund] = list(self.fake.stripe_refunds.values())[refunds_before:]
        assert refund["amount"] == job.price

    @rule(data=st.data(), percent=st.one_of(st.none(), st.integers(1, 150)), anyone=st.booleans())
    def request_payout(self, data: st.DataObject, percent: int | None, anyone: bool) -> None:
        """The whole balance (no amount), or a share of it: up to half as much again as there is.
        Mostly a driver with a balance asks; otherwise any driver, maybe one at zero or one that
        owes commission, which no payout may pay."""
        owed = [sub for sub, driver in self.drivers.items() if driver.balance > 0]
        sub = data.draw(
            st.sampled_from(list(self.drivers) if anyone else owed or list(self.drivers)), label="driver"
        )
        driver = self.drivers[sub]
        amount = None if percent is None else max(1, abs(driver.balance) * percent // 100)
        body = PayoutRequestIn.model_validate(
            {"amount": None if amount is None else {"amount": amount, "currency": CURRENCY}}
        )
        wanted = driver.balance if amount is None else amount
        if not 0 < wanted <= driver.balance:
            self.refused(
                ErrorCode.INSUFFICIENT_BALANCE,
                self.driver_principal(sub),
                lambda ctx: payouts.request_payout(ctx, body),
            )
            return
        view = self.call(self.driver_principal(sub), lambda ctx: payouts.request_payout(ctx, body))
        assert view.amount.amount == wanted and view.status.value == "pending"
        driver.requested += wanted
        # No payout takes a balance below zero.
        assert self.ledger_balance(driver) == driver.balance >= 0
        self.pending.append(PayoutModel(id=view.id, driver=sub, amount=wanted))

    @precondition(lambda self: bool(self.pending))
    @rule(data=st.data(), paid=st.booleans())
    def settle_payout(self, data: st.DataObject, paid: bool) -> None:
        payout = data.draw(st.sampled_from(self.pending), label="payout")
        view = self.call(
            OPS, lambda ctx: payouts.mark_payout(ctx, payout.id, paid=paid, reason="bank said no")
        )
        assert view.status.value == ("paid" if paid else "failed")
        self.pending.remove(payout)
        driver = self.drivers[payout.driver]
        if paid:
            driver.paid_out += payout.amount
        else:
            driver.reversed += payout.amount
        # A settled payout is settled for good.
        self.refused(
            ErrorCode.INVALID_TRANSITION, OPS, lambda ctx: payouts.mark_payout(ctx, payout.id, paid=True)
        )

    # -- invariants --------------------------------------------------------------------------------

    async def _rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.platform.db.session(write=False) as session:
            return list((await session.execute(text(sql), params)).all())

    def rows(self, sql: str, **params: Any) -> list[Any]:
        return self.runner.run(self._rows(sql, **params))

    @invariant()
    def every_posting_sums_to_zero_in_one_currency(self) -> None:
        unbalanced = self.rows(
            "SELECT posting_id, SUM(amount), COUNT(DISTINCT currency) FROM ledger_entries "
            "GROUP BY posting_id HAVING SUM(amount) <> 0 OR COUNT(DISTINCT currency) <> 1"
        )
        assert unbalanced == []

    def ledger_balance(self, driver: DriverModel) -> int:
        return int(
            self.rows(
                "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = :account AND owner_id = :owner",
                account=ledger.DRIVER_EARNINGS,
                owner=driver.id,
            )[0][0]
        )

    @invariant()
    def only_commission_on_cash_jobs_takes_a_balance_below_zero(self) -> None:
        # Each payout left the balance at zero or above, and since then only commission has
        # lowered it: so it is never below minus the commission owed.
        for driver in self.drivers.values():
            assert self.ledger_balance(driver) >= -driver.commission, driver
        assert self.rows("SELECT COUNT(*) FROM ledger_entries WHERE account = 'platform_receivable'") == [
            (0,)
        ]

    @invariant()
    def each_balance_is_what_the_driver_was_owed(self) -> None:
        for driver in self.drivers.values():
            assert self.ledger_balance(driver) == driver.balance, driver

            page = self.call(
                self.driver_principal(driver.sub), lambda ctx: earnings.earnings_history(ctx, limit=1)
            )
            totals = page.totals
            assert totals.balance.amount == driver.balance
            assert totals.tips.amount == driver.tips
            assert totals.earned.amount == driver.owed_earnings + driver.cash_earnings + driver.fees
            assert totals.paid_out.amount == driver.paid_out
            assert totals.cash_collected.amount == driver.cash_collected
            assert totals.cash_commission.amount == driver.commission

    @invariant()
    def payouts_in_transit_are_the_pending_payouts(self) -> None:
        for driver in self.drivers.values():
            in_transit = self.rows(
                "SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE account = :account AND owner_id = :owner",
                account=ledger.PAYOUTS_IN_TRANSIT,
                owner=driver.id,
            )[0][0]
            assert int(in_transit) == sum(p.amount for p in self.pending if p.driver == driver.sub)

    @invariant()
    def prepaid_money_is_held_only_for_open_paid_jobs(self) -> None:
        held = dict(
            self.rows(
                "SELECT owner_id, SUM(amount) FROM ledger_entries WHERE account = :account GROUP BY owner_id",
                account=ledger.PREPAID_JOBS,
            )
        )
        for job in self.jobs:
            expected = job.price if job.paid and job.status in ("searching", "accepted") else 0
            assert int(held.get(job.id, 0)) == expected, job


def test_the_ledger_stays_balanced_under_random_money_operations(
    settings: Settings, fake_providers: FakeProviders, tmp_path: Path
) -> None:
    template = with_providers(settings, fake_providers).model_copy(
        update={"regions_file": regions_without_photo_proof(tmp_path)}
    )
    numbers = itertools.count()

    class FreshDatabaseEachExample(LedgerMachine):
        def __init__(self) -> None:
            super().__init__(template, fake_providers, tmp_path, next(numbers))

    run_state_machine_as_test(
        FreshDatabaseEachExample,
        settings=hypothesis_settings(
            max_examples=25,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
