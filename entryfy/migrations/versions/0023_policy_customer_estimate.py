"""entries, access_events: the policy's customer test in a form PostgreSQL does not shrink
the estimate by (PostgreSQL only)

The USING of the two tables' policies becomes ``... OR customer_id IN (SELECT unnest(<scope
ids>)) OR ...`` instead of ``customer_id = ANY (<scope ids>)``; WITH CHECK is unchanged and
the same rows pass. The planner estimated the ANY at the customer's share of the table and
multiplied it by the list's own ``customer_id = X``, so a typical customer's admin list
(1,835 of 2,000,000 entries) was estimated at 5 rows and read and sorted whole by a bitmap
scan instead of one page of its index (models/rls.py ``policy_sql``, docs/SCALING.md "Data at
size"). The other tenant tables keep the ANY: their customers' rows are few, and the subquery
costs every statement ~35 us.

Revision ID: 0023
Revises: 0022
"""
from alembic import op

from models import rls

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# The tables whose admin lists page through a customer's thousands of rows, and their person
# column (frozen at this revision).
TABLES: dict[str, str | None] = {"entries": "account_id", "access_events": "account_id"}


def upgrade() -> None:
    rls.set_estimated_scope(op.get_bind(), TABLES, estimated=True)


def downgrade() -> None:
    rls.set_estimated_scope(op.get_bind(), TABLES, estimated=False)
