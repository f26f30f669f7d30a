"""Drop the fourteen single-column indexes that another index of the same table leads with,
and entries.site_id's

Each of these indexes one column that a composite index or key of its table already has
first (``tests/models/test_indexes.py`` now refuses any such pair): every query and every
foreign key's ON DELETE that could use the single-column one uses the composite one as well,
while every INSERT paid for both. The busiest are access_events (every door opening) and
audit_events (every admin action and read); the rest are small tables, dropped so the rule
holds without exceptions. As 0008 did for entries.

Revision ID: 0022
Revises: 0021
"""
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# (table, the dropped index's column): its name is ix_<table>_<column> (the naming convention).
DROPPED = [
    ("access_events", "customer_id"),    # ix_access_events_customer_time (customer_id, occurred_at, id)
    ("audit_events", "customer_id"),     # ix_audit_customer_time (customer_id, occurred_at)
    ("accesses", "customer_id"),         # uq_accesses_customer_id_id
    ("controllers", "customer_id"),      # uq_controllers_customer_id_id
    ("data_request_parts", "customer_id"),  # ix_data_request_parts_customer_due
    ("data_request_parts", "request_id"),   # uq_data_request_parts_request_customer
    ("devices", "account_id"),           # uq_devices_account_hash
    ("door_credentials", "customer_id"),  # uq_door_credentials (customer_id, kind, value_hash)
    ("doors", "customer_id"),            # ix_doors_customer_site, uq_doors_customer_id_id
    ("entry_corrections", "entry_id"),   # uq_entry_corrections_entry_seq
    ("memberships", "customer_id"),      # uq_memberships_customer_id_id
    ("sites", "customer_id"),            # uq_sites_customer_id_id
    ("tickets", "customer_id"),          # ix_tickets_customer_created
    ("webhook_endpoints", "customer_id"),  # uq_webhook_endpoints_customer_id_id
]


# And one that no longer leads any key: entries.site_id's own index served the single-column
# key to sites; since 0021 that key is (customer_id, site_id), which ix_entries_customer_site_in
# leads with, and every query of a site's entries names the customer as well. Every check-in
# paid for it; the planner also preferred it to uq_entries_open for "who is on site" once the
# policies' customer test became a subquery (0023).
ALSO = [("entries", "site_id")]


def upgrade() -> None:
    for table, column in DROPPED + ALSO:
        op.drop_index(f"ix_{table}_{column}", table_name=table)


def downgrade() -> None:
    for table, column in DROPPED + ALSO:
        op.create_index(f"ix_{table}_{column}", table, [column], unique=False)
