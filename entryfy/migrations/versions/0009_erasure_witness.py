"""data-subject requests take an Idempotency-Key; every customer export is recorded

data_requests.idempotency_key with a unique index (account_id, idempotency_key): the same
request POSTed twice with one key is one request. customer_exports: each export of a
customer's data set (time, SHA-256, format), listed by the offboarding certificate. A platform
table (like customer_offboardings): it outlives the purge of the tenant's data.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("data_requests",
                  sa.Column("idempotency_key", sa.String(length=100), nullable=True))
    op.create_index("uq_data_requests_account_idempotency", "data_requests",
                    ["account_id", "idempotency_key"], unique=True)
    op.create_table(
        "customer_exports",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("exported_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_customer_exports_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_exports")),
    )
    op.create_index("ix_customer_exports_customer_at", "customer_exports",
                    ["customer_id", "exported_at"], unique=False)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_index("ix_customer_exports_customer_at", table_name="customer_exports")
    op.drop_table("customer_exports")
    op.drop_index("uq_data_requests_account_idempotency", table_name="data_requests")
    with op.batch_alter_table("data_requests") as batch:
        batch.drop_column("idempotency_key")
