"""The double-entry ledger: the only source of a driver's balance, and the one place that
says how each movement of money is posted.

A posting is a set of entries that sums to zero in one currency. ``post`` refuses anything
else, so money can only move, never appear or vanish.

A driver's payable balance (``driver_earnings``) is what the platform owes the driver, and it
may be negative: then the driver owes the platform. That is how cash jobs are settled. The
customer's cash stays in the driver's hand (``driver_cash``, the whole price), and the
platform takes its commission from the balance at once, as revenue, so a driver with nothing
else owed goes below zero by the commission. Later earnings, tips and cancellation shares
credit the same balance, so they pay the debt before anything becomes payable again, with no
separate collection step. The commission is therefore never a receivable waiting for someone
to collect it: the receivable *is* the negative balance, and there is no
``platform_receivable`` account (migration 0007 restated the entries it once held). Only a
positive balance can be paid out: ``resolvers/payouts.py`` checks it under the driver's row
lock, which completing a job holds too, so a payout and a commission never interleave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.models import Job, LedgerEntry, Payout
from logistics.models.base import new_id, utcnow

# A driver's payable balance: what the platform owes it; below zero, what it owes the platform.
DRIVER_EARNINGS = "driver_earnings"
# Cash a driver collected from customers, the whole price of each cash job: it is in the
# driver's hand, never owed by the platform.
DRIVER_CASH = "driver_cash"
PLATFORM_REVENUE = "platform_revenue"
# Money customers paid in (negative) or were refunded (positive).
CUSTOMER_PAYMENTS = "customer_payments"
# A paid job's price, held until the job completes or is cancelled (owner: the job).
PREPAID_JOBS = "prepaid_jobs"
PAYOUTS_IN_TRANSIT = "payouts_in_transit"
PAYOUTS_SETTLED = "payouts_settled"


@dataclass(frozen=True)
class Leg:
    account: str
    owner_id: str
    amount: int


async def post(
    session: AsyncSession,
    *,
    type: str,
    currency: str,
    legs: list[Leg],
    job_id: str | None = None,
    at: datetime | None = None,
) -> str:
    legs = [leg for leg in legs if leg.amount != 0]
    if sum(leg.amount for leg in legs) != 0:
        raise ValueError(f"unbalanced posting: {legs}")
    posting_id = new_id()
    for leg in legs:
        session.add(
            LedgerEntry(
                posting_id=posting_id,
                account=leg.account,
                owner_id=leg.owner_id,
                amount=leg.amount,
                currency=currency,
                type=type,
                job_id=job_id,
                created_at=at or utcnow(),
            )
        )
    await session.flush()
    return posting_id


async def balance(session: AsyncSession, account: str, owner_id: str, currency: str) -> int:
    query = select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0)).where(
        col(LedgerEntry.account) == account,
        col(LedgerEntry.owner_id) == owner_id,
        col(LedgerEntry.currency) == currency,
    )
    return int((await session.execute(query)).scalar_one())


# --- the recipes: every movement of money the platform makes, as one posting each ----------


async def _job_posting(session: AsyncSession, job: Job, type: str, at: datetime, legs: list[Leg]) -> str:
    return await post(session, type=type, currency=job.currency, legs=legs, job_id=job.id, at=at)


async def post_completion(session: AsyncSession, job: Job, *, driver_id: str, at: datetime) -> str:
    """A completed job: the driver's share and the platform's commission, from wherever the
    customer's money is (prepaid through a provider, or an invoice). A cash job is two
    postings (:func:`post_cash_completion`)."""
    if job.payment_status == "paid":
        source = Leg(PREPAID_JOBS, job.id, -job.price)
    elif job.payment_method == "cash":
        return await post_cash_completion(session, job, driver_id=driver_id, at=at)
    else:
        source = Leg(CUSTOMER_PAYMENTS, job.customer_id, -job.price)
    legs = [
        source,
        Leg(DRIVER_EARNINGS, driver_id, job.driver_earnings),
        Leg(PLATFORM_REVENUE, "", job.price - job.driver_earnings),
    ]
    return await _job_posting(session, job, "earning", at, legs)


async def post_cash_completion(session: AsyncSession, job: Job, *, driver_id: str, at: datetime) -> str:
    """The customer's cash goes into the driver's hand, all of it; then the platform's
    commission leaves the driver's balance for revenue. Two postings, so that the driver's
    history shows the cash it collected and the commission it owes as lines of their own."""
    commission = job.price - job.driver_earnings
    collected = [Leg(CUSTOMER_PAYMENTS, job.customer_id, -job.price), Leg(DRIVER_CASH, driver_id, job.price)]
    posting_id = await _job_posting(session, job, "earning", at, collected)
    owed = [Leg(DRIVER_EARNINGS, driver_id, -commission), Leg(PLATFORM_REVENUE, "", commission)]
    await _job_posting(session, job, "cash_commission", at, owed)
    return posting_id


async def post_cancellation(
    session: AsyncSession, job: Job, *, fee: int, driver_share: int, at: datetime
) -> str:
    """A cancelled job: the fee split between driver and platform; a prepaid job's price
    less the fee goes back to the customer."""
    legs = [Leg(PLATFORM_REVENUE, "", fee - driver_share)]
    if job.driver_id is not None:
        legs.append(Leg(DRIVER_EARNINGS, job.driver_id, driver_share))
    if job.payment_status == "paid":
        legs += [
            Leg(PREPAID_JOBS, job.id, -job.price),
            Leg(CUSTOMER_PAYMENTS, job.customer_id, job.price - fee),
        ]
    else:
        legs.append(Leg(CUSTOMER_PAYMENTS, job.customer_id, -fee))
    return await _job_posting(session, job, "cancellation", at, legs)


async def post_prepayment(session: AsyncSession, job: Job, amount: int, *, at: datetime) -> str:
    """A customer paid a job's price through a provider: held until completion or cancel."""
    legs = [Leg(CUSTOMER_PAYMENTS, job.customer_id, -amount), Leg(PREPAID_JOBS, job.id, amount)]
    return await _job_posting(session, job, "payment", at, legs)


async def post_prepayment_refund(session: AsyncSession, job: Job, amount: int, *, at: datetime) -> str:
    """A held payment goes back to the customer."""
    legs = [Leg(PREPAID_JOBS, job.id, -amount), Leg(CUSTOMER_PAYMENTS, job.customer_id, amount)]
    return await _job_posting(session, job, "refund", at, legs)


async def post_tip(session: AsyncSession, job: Job, amount: int, *, at: datetime) -> str:
    """A tip goes wholly to the job's driver."""
    assert job.driver_id is not None
    legs = [Leg(CUSTOMER_PAYMENTS, job.customer_id, -amount), Leg(DRIVER_EARNINGS, job.driver_id, amount)]
    return await _job_posting(session, job, "tip", at, legs)


async def post_payout(session: AsyncSession, payout: Payout, *, at: datetime) -> str:
    """A payout leaves the driver's balance for the payouts in transit."""
    legs = [
        Leg(DRIVER_EARNINGS, payout.driver_id, -payout.amount),
        Leg(PAYOUTS_IN_TRANSIT, payout.driver_id, payout.amount),
    ]
    return await post(session, type="payout", currency=payout.currency, legs=legs, at=at)


async def post_payout_settled(session: AsyncSession, payout: Payout, *, paid: bool, at: datetime) -> str:
    """Paid: the money has left the platform. Failed: it returns to the balance."""
    legs = [
        Leg(PAYOUTS_IN_TRANSIT, payout.driver_id, -payout.amount),
        Leg(PAYOUTS_SETTLED if paid else DRIVER_EARNINGS, payout.driver_id, payout.amount),
    ]
    kind = "payout_paid" if paid else "payout_reversal"
    return await post(session, type=kind, currency=payout.currency, legs=legs, at=at)
