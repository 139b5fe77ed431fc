"""The money operations over GraphQL: payments in, tips, ratings, payouts, history."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from logistics.resolvers import earnings, payments, payouts, ratings, tips
from logistics.schema import inputs as i
from logistics.schema import types as t
from logistics.schema.context import GraphQLContext, call
from logistics.shapes.money import CardOrWallet, PaymentPurpose, PayoutMethodUpdate, PayoutRequestIn, TipIn

Ctx = Info[GraphQLContext, Any]


async def _stripe_config(ctx: Any) -> Any:
    return payments.stripe_config(ctx)


@strawberry.type
class MoneyQuery:
    @strawberry.field(description="Stripe's publishable key and the currency (NOT_FOUND when Stripe is off).")
    async def stripe_config(self, info: Ctx) -> t.StripeConfig:
        return t.StripeConfig.from_pydantic(await call(info, _stripe_config))

    @strawberry.field(description="The driver's payout methods.")
    async def payout_methods(
        self, info: Ctx, limit: int = 20, cursor: str | None = None
    ) -> t.PayoutMethodPage:
        page = await call(info, payouts.list_payout_methods, limit=limit, cursor=cursor)
        return t.PayoutMethodPage.from_pydantic(page)

    @strawberry.field(description="The driver's payouts, newest first.")
    async def payouts(self, info: Ctx, limit: int = 20, cursor: str | None = None) -> t.PayoutPage:
        return t.PayoutPage.from_pydantic(await call(info, payouts.list_payouts, limit=limit, cursor=cursor))

    @strawberry.field(description="The driver's payment history with totals and balance.")
    async def payments(self, info: Ctx, limit: int = 20, cursor: str | None = None) -> t.PaymentHistory:
        return t.PaymentHistory.from_pydantic(
            await call(info, earnings.earnings_history, limit=limit, cursor=cursor)
        )

    @strawberry.field(description="One job's payment lines for its driver.")
    async def job_payments(
        self, info: Ctx, job_id: strawberry.ID, limit: int = 20, cursor: str | None = None
    ) -> t.PaymentHistory:
        page = await call(info, earnings.job_earnings, str(job_id), limit=limit, cursor=cursor)
        return t.PaymentHistory.from_pydantic(page)


async def _start(
    info: Ctx, job_id: strawberry.ID, provider: str, purpose: PaymentPurpose, amount: i.MoneyInput | None
) -> t.PaymentStart:
    start = await call(
        info,
        payments.start_payment,
        str(job_id),
        purpose=purpose,
        provider=provider,
        amount=amount.to_pydantic() if amount is not None else None,
        idempotency_key=info.context.idempotency_key,
    )
    return t.PaymentStart.from_pydantic(start)


@strawberry.type
class MoneyMutation:
    @strawberry.mutation(description="A Stripe PaymentIntent for a delivery or a tip.")
    async def create_stripe_intent(
        self,
        info: Ctx,
        job_id: strawberry.ID,
        purpose: PaymentPurpose = PaymentPurpose.DELIVERY,
        amount: i.MoneyInput | None = None,
    ) -> t.PaymentStart:
        return await _start(info, job_id, "stripe", purpose, amount)

    @strawberry.mutation(description="Ask Stripe whether the payment succeeded.")
    async def verify_stripe_payment(self, info: Ctx, payment_id: strawberry.ID) -> t.Payment:
        payment = await call(info, payments.confirm_payment, str(payment_id), provider="stripe")
        return t.Payment.from_pydantic(payments.payment_view(payment))

    @strawberry.mutation(description="A PayPal order for a delivery or a tip.")
    async def create_paypal_order(
        self,
        info: Ctx,
        job_id: strawberry.ID,
        purpose: PaymentPurpose = PaymentPurpose.DELIVERY,
        amount: i.MoneyInput | None = None,
    ) -> t.PaymentStart:
        return await _start(info, job_id, "paypal", purpose, amount)

    @strawberry.mutation(description="Capture an approved PayPal order.")
    async def capture_paypal_order(self, info: Ctx, payment_id: strawberry.ID) -> t.Payment:
        payment = await call(info, payments.confirm_payment, str(payment_id), provider="paypal")
        return t.Payment.from_pydantic(payments.payment_view(payment))

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
        key = info.context.idempotency_key
        return t.PaymentStart.from_pydantic(
            await call(info, tips.tip_order, str(job_id), body, idempotency_key=key)
        )

    @strawberry.mutation(description="Confirm a tip; the driver gets it exactly once.")
    async def complete_tip(self, info: Ctx, job_id: strawberry.ID, payment_id: strawberry.ID) -> t.TipResult:
        return t.TipResult.from_pydantic(await call(info, tips.complete_tip, str(job_id), str(payment_id)))

    @strawberry.mutation(description="Add a payout method.")
    async def add_payout_method(self, info: Ctx, input: i.PayoutMethodInput) -> t.PayoutMethod:
        key = info.context.idempotency_key
        method = await call(info, payouts.add_payout_method, input.to_pydantic(), idempotency_key=key)
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
        key = info.context.idempotency_key
        return t.Payout.from_pydantic(await call(info, payouts.request_payout, body, idempotency_key=key))

    @strawberry.mutation(description="Mark a manual payout paid (ops role).")
    async def mark_payout_paid(self, info: Ctx, payout_id: strawberry.ID) -> t.Payout:
        return t.Payout.from_pydantic(await call(info, payouts.mark_payout, str(payout_id), paid=True))

    @strawberry.mutation(
        description="Mark a manual payout failed; the money returns to the balance (ops role)."
    )
    async def mark_payout_failed(self, info: Ctx, payout_id: strawberry.ID, reason: str) -> t.Payout:
        payout = await call(info, payouts.mark_payout, str(payout_id), paid=False, reason=reason)
        return t.Payout.from_pydantic(payout)
