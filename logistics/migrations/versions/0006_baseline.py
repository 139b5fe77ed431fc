"""The schema's baseline: every table, as the models declare them.

The six migrations written before the first release (0001 to 0006) are squashed into this one.
It keeps the id of the last of them, 0006, so that a database those migrations already brought
to head is at head here too and is left as it is; an empty one is built by this file alone.
A database left at 0001 to 0005 has no way forward from here: build it anew.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import logistics.models.base

revision: str = "0006"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drivers",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("vehicle_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("vehicle", sa.JSON(), nullable=False),
        sa.Column("licence", sa.JSON(), nullable=False),
        sa.Column("insurance", sa.JSON(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("online_since", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("h3_cell", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("location_recorded_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("completed_jobs", sa.Integer(), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_drivers_cell_status", "drivers", ["h3_cell", "status"], unique=False)
    op.create_index(op.f("ix_drivers_status"), "drivers", ["status"], unique=False)
    op.create_index(op.f("ix_drivers_user_id"), "drivers", ["user_id"], unique=True)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "scope", "key"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("posting_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_account", "ledger_entries", ["account", "owner_id", "currency"], unique=False)
    op.create_index(op.f("ix_ledger_entries_posting_id"), "ledger_entries", ["posting_id"], unique=False)
    op.create_index("ix_ledger_job", "ledger_entries", ["job_id"], unique=False)

    op.create_table(
        "provider_events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("received_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "event_id"),
    )
    op.create_table(
        "quotes",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("vehicle_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("driver_earnings", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("region_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("pickup", sa.JSON(), nullable=False),
        sa.Column("dropoff", sa.JSON(), nullable=False),
        sa.Column("scheduled_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("validated", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=True),
        sa.Column("expires_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_quotes_customer_id"), "quotes", ["customer_id"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_uploads_owner_id"), "uploads", ["owner_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("vehicle_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("breakdown", sa.JSON(), nullable=False),
        sa.Column("driver_earnings", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("region_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("customer_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("customer_phone", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("creator_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("notes", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("pickup", sa.JSON(), nullable=False),
        sa.Column("dropoff", sa.JSON(), nullable=False),
        sa.Column("pickup_lat", sa.Float(), nullable=False),
        sa.Column("pickup_lng", sa.Float(), nullable=False),
        sa.Column("payment_method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("payment_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("quote_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=True),
        sa.Column("scheduled_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancellation", sa.JSON(), nullable=True),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offer_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("dispatch_after", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("quote_id"),
    )
    op.create_index("ix_jobs_customer", "jobs", ["customer_id", "id"], unique=False)
    op.create_index(op.f("ix_jobs_dispatch_after"), "jobs", ["dispatch_after"], unique=False)
    op.create_index("ix_jobs_driver", "jobs", ["driver_id", "id"], unique=False)
    op.create_index("ix_jobs_feed", "jobs", ["status", "pickup_lat", "pickup_lng"], unique=False)

    op.create_table(
        "payout_methods",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("last4", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("details_encrypted", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payout_methods_driver", "payout_methods", ["driver_id", "id"], unique=False)

    op.create_table(
        "job_events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lng", sa.Float(), nullable=True),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_events_job", "job_events", ["job_id", "seq"], unique=True)

    op.create_table(
        "job_images",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("upload_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("uploader_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["upload_id"], ["uploads.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_images_job", "job_images", ["job_id", "id"], unique=False)

    op.create_table(
        "job_issues",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reported_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reporter_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("image_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_issues_job", "job_issues", ["job_id", "id"], unique=False)

    op.create_table(
        "job_offers",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("distance_m", sa.Integer(), nullable=False),
        sa.Column("offered_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("responded_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_offers_driver", "job_offers", ["driver_id", "status"], unique=False)
    op.create_index("ix_job_offers_due", "job_offers", ["status", "expires_at"], unique=False)
    op.create_index("ix_job_offers_job", "job_offers", ["job_id", "id"], unique=False)
    op.create_index(
        "uq_job_offers_live_driver",
        "job_offers",
        ["driver_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "uq_job_offers_live_job",
        "job_offers",
        ["job_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "job_rejections",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "driver_id"),
    )
    op.create_index(op.f("ix_job_rejections_job_id"), "job_rejections", ["job_id"], unique=False)

    op.create_table(
        "location_points",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("speed_mps", sa.Float(), nullable=True),
        sa.Column("recorded_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_location_points_job", "location_points", ["job_id", "recorded_at"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("sender_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("sender_role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_messages_job", "messages", ["job_id", "id"], unique=False)

    op.create_table(
        "payments",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("client_secret", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("approve_url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("refunded_amount", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "provider_ref"),
    )
    op.create_index("ix_payments_job", "payments", ["job_id", "purpose"], unique=False)

    op.create_table(
        "payouts",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("method_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("provider_ref", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("failure_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("requested_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", logistics.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.ForeignKeyConstraint(["method_id"], ["payout_methods.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payouts_driver", "payouts", ["driver_id", "id"], unique=False)

    op.create_table(
        "ratings",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("driver_id", sqlmodel.sql.sqltypes.AutoString(length=26), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("created_at", logistics.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
    )
    op.create_index(op.f("ix_ratings_driver_id"), "ratings", ["driver_id"], unique=False)


def downgrade() -> None:
    op.drop_table("ratings")
    op.drop_table("payouts")
    op.drop_table("payments")
    op.drop_table("messages")
    op.drop_table("location_points")
    op.drop_table("job_rejections")
    op.drop_table("job_offers")
    op.drop_table("job_issues")
    op.drop_table("job_images")
    op.drop_table("job_events")
    op.drop_table("payout_methods")
    op.drop_table("jobs")
    op.drop_table("uploads")
    op.drop_table("quotes")
    op.drop_table("provider_events")
    op.drop_table("ledger_entries")
    op.drop_table("idempotency_keys")
    op.drop_table("drivers")
