"""entries: a partial index of the open shifts (who is on site now)

The console's dashboard and the admins' "on site now" filter read the customer's open entries
per site. Without this index they walk every shift the customer ever had (5 s for 100,000
shifts on SQLite in bench/console.py); open shifts are a small, bounded part of the table, so
the partial index stays small and costs a check-in one small index insert.

Revision ID: 0014
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN = "checked_out_at IS NULL"


def upgrade() -> None:
    op.create_index("ix_entries_open", "entries", ["customer_id", "site_id", "checked_in_at"],
                    unique=False, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    op.drop_index("ix_entries_open", table_name="entries")
