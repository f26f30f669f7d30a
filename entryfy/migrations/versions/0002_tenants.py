"""tenants: composite keys (customer_id, id) on sites and memberships

Other tenant tables (doors, entries, accesses, ...) can then reference a site or a membership
with a composite foreign key that includes ``customer_id``, so the database itself refuses a
row that links one customer's object to another customer's site or member. Unique indexes,
not constraints: both databases accept them as foreign-key targets, and SQLite can add an
index without rebuilding the table (a rebuild would lose the expression index on memberships
and, with foreign keys on, cascade into the tables that reference it).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa  # noqa: F401
from alembic import context, op

import models.base  # noqa: F401
from models import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None). None new in this revision.
TENANT_TABLES: dict[str, str | None] = {}

COMPOSITE_KEYS = {
    "sites": "uq_sites_customer_id_id",
    "memberships": "uq_memberships_customer_id_id",
}


def upgrade() -> None:
    for table, name in COMPOSITE_KEYS.items():
        op.create_index(name, table, ["customer_id", "id"], unique=True)
    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    for table, name in COMPOSITE_KEYS.items():
        op.drop_index(name, table_name=table)
