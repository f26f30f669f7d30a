"""entries: drop the two single-column indexes that composite ones already lead with

ix_entries_account_id is the first column of ix_entries_account_in and uq_entries_idempotency,
ix_entries_customer_id that of ix_entries_customer_in and ix_entries_customer_site_in: every
query (and the foreign keys' ON DELETE) can use those, and each extra index costs every
check-in an index insert.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entries_account_id", table_name="entries")
    op.drop_index("ix_entries_customer_id", table_name="entries")


def downgrade() -> None:
    op.create_index("ix_entries_customer_id", "entries", ["customer_id"], unique=False)
    op.create_index("ix_entries_account_id", "entries", ["account_id"], unique=False)
