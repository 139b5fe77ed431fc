"""The double-entry ledger: the only source of a driver's balance.

A posting is a set of entries that sums to zero in one currency. ``post`` refuses anything
else, so money can only move, never appear or vanish.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from logistics.models import LedgerEntry
from logistics.models.base import new_id

DRIVER_EARNINGS = "driver_earnings"
PLATFORM_REVENUE = "platform_revenue"
CUSTOMER_PAYMENTS = "customer_payments"


@dataclass(frozen=True)
class Leg:
    account: str
    owner_id: str
    amount: int


async def post(
    session: AsyncSession, *, type: str, currency: str, legs: list[Leg], job_id: str | None = None
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


def split_job_price(price: int, driver_share: int, driver_id: str, customer_id: str) -> list[Leg]:
    """A completed job: the customer's payment goes to the driver's share and the platform."""
    return [
        Leg(CUSTOMER_PAYMENTS, customer_id, -price),
        Leg(DRIVER_EARNINGS, driver_id, driver_share),
        Leg(PLATFORM_REVENUE, "", price - driver_share),
    ]
