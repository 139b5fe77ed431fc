"""Cash jobs: the commission comes out of the driver's balance; no receivable waits for it.

Before this revision a completed cash job posted the driver's share to
``driver_cash_earnings`` and the platform's commission to ``platform_receivable``, which nothing
ever collected. Now the driver's cash account holds the whole price (``driver_cash``) and the
commission is taken from the driver's balance (``driver_earnings``) into revenue. This
revision renames the account and restates every receivable entry the old way left behind as
the two postings the new way makes, dated like the job's own entries, so old cash jobs read
like new ones and the commission they owe is netted from the balance too:

- ``earning``: ``platform_receivable`` -C, ``driver_cash`` +C (that cash was in the driver's
  hand all along);
- ``cash_commission``: ``driver_earnings`` -C, ``platform_revenue`` +C.

Both sum to zero, so the ledger stays balanced; afterwards ``platform_receivable`` is zero for
every driver. There is no schema change.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from ulid import ULID

from logistics.models.base import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRIES = sa.table(
    "ledger_entries",
    sa.column("id", sa.String),
    sa.column("posting_id", sa.String),
    sa.column("account", sa.String),
    sa.column("owner_id", sa.String),
    sa.column("amount", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("type", sa.String),
    sa.column("job_id", sa.String),
    sa.column("created_at", UTCDateTime()),
)


def _id(at: datetime) -> str:
    # Ids from the job's own time keep the restated lines beside the job's other lines in a
    # history that pages by id.
    return str(ULID.from_datetime(at)).lower()


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.update(ENTRIES).where(ENTRIES.c.account == "driver_cash_earnings").values(account="driver_cash")
    )
    receivables = bind.execute(
        sa.select(
            ENTRIES.c.owner_id, ENTRIES.c.amount, ENTRIES.c.currency, ENTRIES.c.job_id, ENTRIES.c.created_at
        ).where(ENTRIES.c.account == "platform_receivable")
    ).all()
    rows = []
    for driver_id, commission, currency, job_id, created_at in receivables:
        at: datetime = created_at
        postings = (
            (
                "earning",
                [("platform_receivable", driver_id, -commission), ("driver_cash", driver_id, commission)],
            ),
            (
                "cash_commission",
                [("driver_earnings", driver_id, -commission), ("platform_revenue", "", commission)],
            ),
        )
        for kind, legs in postings:
            posting_id = _id(at)
            for account, owner_id, amount in legs:
                rows.append(
                    {
                        "id": _id(at),
                        "posting_id": posting_id,
                        "account": account,
                        "owner_id": owner_id,
                        "amount": amount,
                        "currency": currency,
                        "type": kind,
                        "job_id": job_id,
                        "created_at": at,
                    }
                )
    if rows:
        bind.execute(sa.insert(ENTRIES), rows)


def downgrade() -> None:
    # A ledger is only ever appended to: the restated postings cannot be told from later ones
    # by their shape, so they are not taken back. Restore a backup to go back before 0008.
    raise RuntimeError("0008 restates ledger entries and cannot be undone; restore a backup")
