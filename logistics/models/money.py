from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field

from logistics.models.base import Row, utc


class LedgerEntry(Row, table=True):
    """One leg of a balanced posting: the entries of a posting sum to zero.

    Accounts are (account, owner_id): ``driver_earnings``/driver id is a driver's balance
    (negative while it owes commission on cash jobs), ``driver_cash``/driver id the cash it
    collected, ``platform_revenue`` and ``customer_payments`` are the platform's side.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_account", "account", "owner_id", "currency"),
        Index("ix_ledger_job", "job_id"),
    )

    posting_id: str = Field(max_length=26, index=True)
    account: str = Field(max_length=32)
    owner_id: str = Field(default="", max_length=255)
    amount: int
    currency: str = Field(max_length=3)
    type: str = Field(max_length=24)
    job_id: str | None = Field(default=None, max_length=26)
    created_at: datetime = utc(now=True)
