"""entries: one partial index of the open shifts instead of two

ix_entries_open (0014: customer_id, site_id, checked_in_at WHERE checked_out_at IS NULL) and
uq_entries_open (0016: site_id, account_id WHERE checked_out_at IS NULL AND account_id IS NOT
NULL) both index the same rows, the open shifts, and every check-in paid for both. One is
left: uq_entries_open, rebuilt as (customer_id, site_id, account_id) WHERE checked_out_at IS
NULL. It is still the rule (one open entry per person and site: the site fixes the customer,
and rows whose account_id is NULL never conflict in a unique index, so dropping that term
from the WHERE clause refuses exactly what it refused before), and it now also serves what
ix_entries_open served: a customer's open entries (the console's dashboard, the admins'
open_only list) and one site's (who is on site now), leading with customer_id, the key a
distributed table needs first.

Revision ID: 0020
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

OPEN = "checked_out_at IS NULL"
OPEN_WITH_ACCOUNT = "checked_out_at IS NULL AND account_id IS NOT NULL"


def _index(name: str, columns: list[str], where: str, *, unique: bool) -> None:
    op.create_index(name, "entries", columns, unique=unique,
                    sqlite_where=sa.text(where), postgresql_where=sa.text(where))


def upgrade() -> None:
    op.drop_index("ix_entries_open", table_name="entries")
    op.drop_index("uq_entries_open", table_name="entries")
    _index("uq_entries_open", ["customer_id", "site_id", "account_id"], OPEN, unique=True)


def downgrade() -> None:
    op.drop_index("uq_entries_open", table_name="entries")
    _index("uq_entries_open", ["site_id", "account_id"], OPEN_WITH_ACCOUNT, unique=True)
    _index("ix_entries_open", ["customer_id", "site_id", "checked_in_at"], OPEN, unique=False)
