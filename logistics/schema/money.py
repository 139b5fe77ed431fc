"""The money operations over GraphQL: payments in, tips, ratings, payouts, history."""

from __future__ import annotations

from typing import Any

import strawberry

from logistics.resolvers import earnings, payments, payouts, ratings, tips
from logistics.schema import inputs as i
from logistics.schema import types as t
from logistics.schema.context import call
from logistics.schema.fields import Ctx, call_idempotent, job_page_field, page_field
from logistics.shapes.money import CardOrWallet, PaymentPurpose, PayoutMethodUpdate, PayoutRequestIn, TipIn


async def _stripe_config(ctx: Any) -> Any:
    return payments.stripe_config(ctx)


@strawberry.type
class MoneyQuery:
    @strawberry.field(description="Stripe's publishable key and the currency (NOT_FOUND when Stripe is off).")
    async def stripe_config(self, info: Ctx) -> t.StripeConfig:
        return t.StripeConfig.from_pydantic(await call(info, _stripe_config))

    payout_methods = page_field(
        payouts.list_payout_methods, t.PayoutMethodPage, "The driver's payout methods."
    )
    payouts = page_field(payouts.list_payouts, t.PayoutPage, "The driver's payouts, newest first.")
    payments = page_field(
        earnings.earnings_history, t.PaymentHistory, "The driver's payment history with totals and balance."
    )
    job_payments = job_page_field(
        earnings.job_earnings, t.PaymentHistory, "One job's payment lines for its driver."
    )

    @strawberry.field(
        description="Every driver's balance, one item per driver and currency, in driver order; "
        "onlyOwing: only balances below zero, what drivers owe on cash jobs (ops role)."
    )
    async def driver_balances(
        self, info: Ctx, only_owing: bool = False, limit: int = 20, cursor: str | None = None
    ) -> t.DriverBalancePage:
        page = await call(info, earnings.driver_balances, only_owing=only_owing, limit=limit, cursor=cursor)
        return t.DriverBalancePage.from_pydantic(page)


async def _start(
    info: Ctx, job_id: strawberry.ID, provider: str, purpose: PaymentPurpose, amount: i.MoneyInput | None
) -> t.PaymentStart:
    start = await call_idempotent(
        info,
        payments.start_payment,
        str(job_id),
        purpose=purpose,
        provider=provider,
        amount=amount.to_pydantic() if amount is not None else None,
    )
    return t.PaymentStart.from_pydantic(start)


# Each provider's checkout is the same two steps: start a payment, then confirm it.
def _start_mutation(provider: str, description: str) -> Any:
    async def resolve(
        info: Ctx,
        job_id: strawberry.ID,
        purpose: PaymentPurpose = PaymentPurpose.DELIVERY,
        amount: i.MoneyInput | None = None,
    ) -> t.PaymentStart:
        return await _start(info, job_id, provider, purpose, amount)

    return strawberry.mutation(resolver=resolve, description=description)


def _confirm_mutation(provider: str, description: str) -> Any:
    async def resolve(info: Ctx, payment_id: strawberry.ID) -> t.Payment:
        payment = await call(info, payments.confirm_payment, str(payment_id), provider=provider)
        return t.Payment.from_pydantic(payments.payment_view(payment))

    return strawberry.mutation(resolver=resolve, description=description)


@strawberry.type
class MoneyMutation:
    create_stripe_intent = _start_mutation("stripe", "A Stripe PaymentIntent for a delivery or a tip.")
    verify_stripe_payment = _confirm_mutation("stripe", "Ask Stripe whether the payment succeeded.")
    create_paypal_order = _start_mutation("paypal", "A PayPal order for a delivery or a tip.")
    capture_paypal_order = _confirm_mutation("paypal", "Capture an approved PayPal order.")

    @strawberry.mutation(description="Start paying for an order with Stripe or PayPal.")
    async def create_payment_intent(
        self, info: Ctx, job_id: strawberry.ID, method: CardOrWallet
    ) -> t.PaymentStart:
        return await _start(info, job_id, method.value, PaymentPurpose.DELIVERY, None)

    @strawberry.mutation(description="Confirm an order's payment; the order moves to searching.")
    async def complete_payment(self, info: Ctx, job_id: strawberry.ID, payment_id: strawberry.ID) -> t.Job:
        view = await call(info, payments.complete_order_payment, str(job_id), str(payment_id))
        return t.Job.from_pydantic(view)

    @strawberry.mutation(description="Rate the driver 1 to 5 stars, once, after completion.")
    async def rate_order(self, info: Ctx, job_id: strawberry.ID, input: i.RateInput) -> t.Rating:
        return t.Rating.from_pydantic(await call(info, ratings.rate_order, str(job_id), input.to_pydantic()))

    @strawberry.mutation(description="Start a tip for the driver.")
    async def tip_order(
        self, info: Ctx, job_id: strawberry.ID, amount: i.MoneyInput, method: CardOrWallet
    ) -> t.PaymentStart:
        body = TipIn(amount=amount.to_pydantic(), method=method)
        return t.PaymentStart.from_pydantic(await call_idempotent(info, tips.tip_order, str(job_id), body))

    @strawberry.mutation(description="Confirm a tip; the driver gets it exactly once.")
    async def complete_tip(self, info: Ctx, job_id: strawberry.ID, payment_id: strawberry.ID) -> t.TipResult:
        return t.TipResult.from_pydantic(await call(info, tips.complete_tip, str(job_id), str(payment_id)))

    @strawberry.mutation(description="Add a payout method.")
    async def add_payout_method(self, info: Ctx, input: i.PayoutMethodInput) -> t.PayoutMethod:
        method = await call_idempotent(info, payouts.add_payout_method, input.to_pydantic())
        return t.PayoutMethod.from_pydantic(method)

    @strawberry.mutation(description="Rename a payout method.")
    async def update_payout_method(self, info: Ctx, method_id: strawberry.ID, label: str) -> t.PayoutMethod:
        method = await call(
            info, payouts.update_payout_method, str(method_id), PayoutMethodUpdate(label=label)
        )
        return t.PayoutMethod.from_pydantic(method)

    @strawberry.mutation(description="Remove a payout method (not while a payout to it is pending).")
    async def delete_payout_method(self, info: Ctx, method_id: strawberry.ID) -> bool:
        await call(info, payouts.delete_payout_method, str(method_id))
        return True

    @strawberry.mutation(description="Make a payout method the default.")
    async def set_default_payout_method(self, info: Ctx, method_id: strawberry.ID) -> t.PayoutMethod:
        return t.PayoutMethod.from_pydantic(
            await call(info, payouts.set_default_payout_method, str(method_id))
        )

    @strawberry.mutation(description="Pay out the balance (or an amount) to a payout method.")
    async def request_payout(self, info: Ctx, input: i.PayoutRequestInput | None = None) -> t.Payout:
        body = input.to_pydantic() if input is not None else PayoutRequestIn()
        return t.Payout.from_pydantic(await call_idempotent(info, payouts.request_payout, body))

    @strawberry.mutation(description="Mark a manual payout paid (ops role).")
    async def mark_payout_paid(self, info: Ctx, payout_id: strawberry.ID) -> t.Payout:
        return t.Payout.from_pydantic(await call(info, payouts.mark_payout, str(payout_id), paid=True))

    @strawberry.mutation(
        description="Mark a manual payout failed; the money returns to the balance (ops role)."
    )
    async def mark_payout_failed(self, info: Ctx, payout_id: strawberry.ID, reason: str) -> t.Payout:
        payout = await call(info, payouts.mark_payout, str(payout_id), paid=False, reason=reason)
        return t.Payout.from_pydantic(payout)
