"""A driver's earnings, read from the ledger: every line, and the totals (REST `GET /payments`);
and for ops, every driver's balance, so that what drivers owe on cash jobs is in sight."""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import col

from logistics import ledger
from logistics.errors import validation_failed
from logistics.job.access import driver_job, for_drivers, for_ops
from logistics.models import Driver, LedgerEntry
from logistics.platform import Ctx
from logistics.resolvers.pagination import check_limit, decode_cursor, encode_cursor, keyset_page
from logistics.resolvers.views import driver_region, money
from logistics.shapes.money import (
    DriverBalance,
    DriverBalancePage,
    PaymentHistory,
    PaymentLine,
    PaymentTotals,
)

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


def _after(cursor: str | None) -> tuple[str, str] | None:
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    driver_id, _, currency = raw.partition(" ")
    if not driver_id or len(currency) != 3:
        raise validation_failed("invalid cursor", cursor="not a cursor from this API")
    return driver_id, currency


@for_ops
async def driver_balances(
    ctx: Ctx, *, only_owing: bool = False, limit: int = 20, cursor: str | None = None
) -> DriverBalancePage:
    """Every driver's balance, one item per driver and currency, in driver order (oldest
    first); ``only_owing``: only balances below zero. A driver whose balance never moved has
    no item."""
    check_limit(limit)
    owner, currency = col(LedgerEntry.owner_id), col(LedgerEntry.currency)
    balance = func.sum(col(LedgerEntry.amount))
    commission = func.sum(
        case((col(LedgerEntry.type) == "cash_commission", col(LedgerEntry.amount)), else_=0)
    )
    query = (
        select(owner, currency, col(Driver.name), balance, commission)
        .join(Driver, col(Driver.id) == owner)
        .where(col(LedgerEntry.account) == ledger.DRIVER_EARNINGS)
        .group_by(owner, currency, col(Driver.name))
        .order_by(owner, currency)
        .limit(limit + 1)
    )
    after = _after(cursor)
    if after is not None:
        query = query.where(or_(owner > after[0], and_(owner == after[0], currency > after[1])))
    if only_owing:
        query = query.having(balance < 0)
    rows = (await ctx.session.execute(query)).all()
    items = [
        DriverBalance(
            driver_id=driver_id,
            name=name,
            balance=money(int(total), code),
            owed=money(max(0, -int(total)), code),
            cash_commission=money(-int(taken), code),
        )
        for driver_id, code, name, total, taken in rows[:limit]
    ]
    last = items[-1] if len(rows) > limit else None
    next_cursor = encode_cursor(f"{last.driver_id} {last.balance.currency}") if last else None
    return DriverBalancePage(items=items, next_cursor=next_cursor)
