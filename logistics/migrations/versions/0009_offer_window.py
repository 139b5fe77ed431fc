"""Offers remember the dispatch window that chose them and the cost they had there."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job_offers", sa.Column("window_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("job_offers", sa.Column("cost_m", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("job_offers", "cost_m")
    op.drop_column("job_offers", "window_at")
