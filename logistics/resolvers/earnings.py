"""A driver's earnings, read from the ledger: every line, and the totals (REST `GET /payments`)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from logistics import ledger
from logistics.job.access import driver_job, for_drivers
from logistics.models import Driver, LedgerEntry
from logistics.platform import Ctx
from logistics.resolvers.pagination import keyset_page
from logistics.resolvers.views import driver_region, money
from logistics.shapes.money import PaymentHistory, PaymentLine, PaymentTotals

LINE_TYPES = {
    "earning": "earning",
    "tip": "tip",
    "cancellation": "cancellation_fee",
    "payout": "payout",
    "payout_reversal": "adjustment",
    "cash_commission": "commission",
}
DRIVER_ACCOUNTS = (ledger.DRIVER_EARNINGS, ledger.DRIVER_CASH)


def _line(entry: LedgerEntry) -> PaymentLine:
    return PaymentLine.model_validate(
        {
            "job_id": entry.job_id,
            "type": LINE_TYPES.get(entry.type, "adjustment"),
            "amount": money(entry.amount, entry.currency),
            "at": entry.created_at,
            "paid_in_cash": entry.account == ledger.DRIVER_CASH,
        }
    )


async def _totals(ctx: Ctx, driver: Driver, currency: str, job_id: str | None = None) -> PaymentTotals:
    query = (
        select(
            col(LedgerEntry.account), col(LedgerEntry.type), func.coalesce(func.sum(LedgerEntry.amount), 0)
        )
        .where(
            col(LedgerEntry.owner_id) == driver.id,
            col(LedgerEntry.currency) == currency,
            col(LedgerEntry.account).in_((*DRIVER_ACCOUNTS, ledger.PAYOUTS_SETTLED)),
        )
        .group_by(col(LedgerEntry.account), col(LedgerEntry.type))
    )
    if job_id is not None:
        query = query.where(col(LedgerEntry.job_id) == job_id)
    sums = {
        (account, kind): int(amount) for account, kind, amount in (await ctx.session.execute(query)).all()
    }

    def total(accounts: tuple[str, ...], *kinds: str) -> int:
        return sum(v for (a, k), v in sums.items() if a in accounts and (not kinds or k in kinds))

    # A cash job's earning line is the whole price in the driver's hand and its commission a
    # line of its own (negative): together they are what the driver earned on it.
    commission = -total((ledger.DRIVER_EARNINGS,), "cash_commission")
    return PaymentTotals(
        earned=money(total(DRIVER_ACCOUNTS, "earning", "cancellation", "cash_commission"), currency),
        tips=money(total(DRIVER_ACCOUNTS, "tip"), currency),
        paid_out=money(total((ledger.PAYOUTS_SETTLED,)), currency),
        balance=money(total((ledger.DRIVER_EARNINGS,)), currency),
        cash_collected=money(total((ledger.DRIVER_CASH,)), currency),
        cash_commission=money(commission, currency),
    )


@for_drivers()
async def earnings_history(
    ctx: Ctx, driver: Driver, *, limit: int = 20, cursor: str | None = None
) -> PaymentHistory:
    currency = driver_region(ctx.settings, driver).currency
    query = select(LedgerEntry).where(
        col(LedgerEntry.owner_id) == driver.id, col(LedgerEntry.account).in_(DRIVER_ACCOUNTS)
    )
    entries, next_cursor = await keyset_page(
        ctx.session, query, col(LedgerEntry.id), limit=limit, cursor=cursor
    )
    return PaymentHistory(
        items=[_line(e) for e in entries],
        totals=await _totals(ctx, driver, currency),
        next_cursor=next_cursor,
    )


@for_drivers()
async def job_earnings(
    ctx: Ctx, driver: Driver, job_id: str, *, limit: int = 20, cursor: str | None = None
) -> PaymentHistory:
    """One job's lines for its driver; another driver's job is NOT_FOUND."""
    job = await driver_job(ctx, driver, job_id)
    query = select(LedgerEntry).where(
        col(LedgerEntry.owner_id) == driver.id,
        col(LedgerEntry.account).in_(DRIVER_ACCOUNTS),
        col(LedgerEntry.job_id) == job.id,
    )
    entries, next_cursor = await keyset_page(
        ctx.session, query, col(LedgerEntry.id), limit=limit, cursor=cursor
    )
    return PaymentHistory(
        items=[_line(e) for e in entries],
        totals=await _totals(ctx, driver, job.currency, job_id=job.id),
        next_cursor=next_cursor,
    )
