"""The double-entry ledger: the only source of a driver's balance.

A posting is a set of entries that sums to zero in one currency. ``post`` refuses anything
else, so money can only move, never appear or vanish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.models import LedgerEntry
from logistics.models.base import new_id, utcnow

# A driver's available balance: what the platform owes it.
DRIVER_EARNINGS = "driver_earnings"
# Earnings a driver collected in cash from the customer: earned, never owed by the platform.
DRIVER_CASH = "driver_cash_earnings"
# The platform's commission on a cash job, owed by the driver who holds the cash.
PLATFORM_RECEIVABLE = "platform_receivable"
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


def completion_legs(
    *,
    job_id: str,
    customer_id: str,
    driver_id: str,
    price: int,
    earnings: int,
    payment_method: str,
    paid: bool,
) -> list[Leg]:
    """A completed job: the driver's share and the platform's commission, from wherever the
    customer's money is (prepaid through a provider, cash in the driver's hand, or an invoice)."""
    commission = price - earnings
    if paid:
        return [
            Leg(PREPAID_JOBS, job_id, -price),
            Leg(DRIVER_EARNINGS, driver_id, earnings),
            Leg(PLATFORM_REVENUE, "", commission),
        ]
    if payment_method == "cash":
        return [
            Leg(CUSTOMER_PAYMENTS, customer_id, -price),
            Leg(DRIVER_CASH, driver_id, earnings),
            Leg(PLATFORM_RECEIVABLE, driver_id, commission),
        ]
    return [
        Leg(CUSTOMER_PAYMENTS, customer_id, -price),
        Leg(DRIVER_EARNINGS, driver_id, earnings),
        Leg(PLATFORM_REVENUE, "", commission),
    ]


def cancellation_legs(
    *,
    job_id: str,
    customer_id: str,
    driver_id: str | None,
    price: int,
    fee: int,
    driver_share: int,
    paid: bool,
) -> list[Leg]:
    """A cancelled job: the fee split between driver and platform; a prepaid job's price
    less the fee goes back to the customer."""
    legs = [Leg(PLATFORM_REVENUE, "", fee - driver_share)]
    if driver_id is not None:
        legs.append(Leg(DRIVER_EARNINGS, driver_id, driver_share))
    if paid:
        legs += [Leg(PREPAID_JOBS, job_id, -price), Leg(CUSTOMER_PAYMENTS, customer_id, price - fee)]
    else:
        legs.append(Leg(CUSTOMER_PAYMENTS, customer_id, -fee))
    return legs


def prepayment_legs(*, job_id: str, customer_id: str, amount: int) -> list[Leg]:
    """A customer paid a job's price through a provider: held until completion or cancel."""
    return [Leg(CUSTOMER_PAYMENTS, customer_id, -amount), Leg(PREPAID_JOBS, job_id, amount)]


def prepayment_refund_legs(*, job_id: str, customer_id: str, amount: int) -> list[Leg]:
    """A held payment goes back to the customer."""
    return [Leg(PREPAID_JOBS, job_id, -amount), Leg(CUSTOMER_PAYMENTS, customer_id, amount)]


def tip_legs(*, customer_id: str, driver_id: str, amount: int) -> list[Leg]:
    """A tip goes wholly to the driver."""
    return [Leg(CUSTOMER_PAYMENTS, customer_id, -amount), Leg(DRIVER_EARNINGS, driver_id, amount)]


def payout_legs(*, driver_id: str, amount: int) -> list[Leg]:
    """A payout leaves the driver's balance for the payouts in transit."""
    return [Leg(DRIVER_EARNINGS, driver_id, -amount), Leg(PAYOUTS_IN_TRANSIT, driver_id, amount)]


def payout_settled_legs(*, driver_id: str, amount: int, paid: bool) -> list[Leg]:
    """Paid: the money has left the platform. Failed: it returns to the balance."""
    return [
        Leg(PAYOUTS_IN_TRANSIT, driver_id, -amount),
        Leg(PAYOUTS_SETTLED if paid else DRIVER_EARNINGS, driver_id, amount),
    ]
