"""events out: the mail outbox, webhook endpoints and deliveries, the worker's schedule;
controllers.offline_since, data_request_parts.reminded_at

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TENANT_TABLES: dict[str, str | None] = {
    "webhook_endpoints": None,
    "webhook_deliveries": None,
}

UTC = models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    # Nullable columns without constraints: a plain ADD COLUMN on both backends.
    op.add_column("controllers", sa.Column("offline_since", UTC, nullable=True))
    op.add_column("data_request_parts", sa.Column("reminded_at", UTC, nullable=True))

    op.create_table(
        "outbox_mails",
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("content_enc", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("locked_until", UTC, nullable=True),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("last_error", sa.String(length=60), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')",
                           name=op.f("ck_outbox_mails_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_mails")),
    )
    op.create_index("ix_outbox_mails_status_next", "outbox_mails",
                    ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.String(length=500), nullable=False),
        sa.Column("secret_enc", sa.String(length=300), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", UTC, nullable=True),
        sa.Column("disabled_reason", sa.String(length=40), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_webhook_endpoints_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_index(op.f("ix_webhook_endpoints_customer_id"), "webhook_endpoints",
                    ["customer_id"], unique=False)
    op.create_index("uq_webhook_endpoints_customer_id_id", "webhook_endpoints",
                    ["customer_id", "id"], unique=True)

    op.create_table(
        "webhook_deliveries",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=False),
        sa.Column("locked_until", UTC, nullable=True),
        sa.Column("last_attempt_at", UTC, nullable=True),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=60), nullable=True),
        sa.Column("replay_of_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name=op.f("ck_webhook_deliveries_status")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_webhook_deliveries_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id", "endpoint_id"],
                                ["webhook_endpoints.customer_id", "webhook_endpoints.id"],
                                name="fk_webhook_deliveries_endpoint", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_status_next", "webhook_deliveries",
                    ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_webhook_deliveries_customer_endpoint", "webhook_deliveries",
                    ["customer_id", "endpoint_id", "created_at"], unique=False)
    op.create_index("ix_webhook_deliveries_created_at", "webhook_deliveries",
                    ["created_at"], unique=False)

    op.create_table(
        "scheduled_jobs",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("next_run_at", UTC, nullable=False),
        sa.Column("last_started_at", UTC, nullable=True),
        sa.Column("last_finished_at", UTC, nullable=True),
        sa.Column("last_status", sa.String(length=10), nullable=True),
        sa.Column("holder", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_jobs")),
    )

    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_table("scheduled_jobs")
    op.drop_index("ix_webhook_deliveries_created_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_customer_endpoint", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("uq_webhook_endpoints_customer_id_id", table_name="webhook_endpoints")
    op.drop_index(op.f("ix_webhook_endpoints_customer_id"), table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_index("ix_outbox_mails_status_next", table_name="outbox_mails")
    op.drop_table("outbox_mails")
    with op.batch_alter_table("data_request_parts") as b:
        b.drop_column("reminded_at")
    with op.batch_alter_table("controllers") as b:
        b.drop_column("offline_since")
