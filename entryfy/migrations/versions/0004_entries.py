"""entries: the account's identity number (encrypted), correction order, own-list index

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import context, op

import models.base  # noqa: F401
from models import rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None). entries and
# entry_corrections were created (with RLS) in 0001.
TENANT_TABLES: dict[str, str | None] = {}


def upgrade() -> None:
    # A nullable column: a plain ADD COLUMN on both backends.
    op.add_column(
        "accounts", sa.Column("identity_number_enc", sa.String(length=200), nullable=True)
    )
    op.create_index(
        "ix_entries_account_in", "entries", ["account_id", "checked_in_at"], unique=False
    )
    # An entry's corrections in order (1, 2, 3 ...), also when two share a timestamp.
    op.add_column(
        "entry_corrections",
        sa.Column("seq", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.create_index(
        "uq_entry_corrections_entry_seq", "entry_corrections", ["entry_id", "seq"], unique=True
    )
    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_index("uq_entry_corrections_entry_seq", table_name="entry_corrections")
    with op.batch_alter_table("entry_corrections") as batch:
        batch.drop_column("seq")
    op.drop_index("ix_entries_account_in", table_name="entries")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("identity_number_enc")
