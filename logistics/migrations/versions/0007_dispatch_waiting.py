"""Jobs remember why dispatch found nobody to offer them to (shown to ops and in the feed)."""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("dispatch_waiting", sa.String(length=24), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "dispatch_waiting")
