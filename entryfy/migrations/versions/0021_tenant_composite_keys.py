"""tenant foreign keys lead with customer_id: entries, access events, doors, door alerts

Issue #19 (distribution-ready by tenant, docs/SCALING.md section 3). Eight single-column
foreign keys between tenant tables become (customer_id, x_id) -> parent (customer_id, id),
against the parents' UNIQUE (customer_id, id) indexes (uq_sites_customer_id_id, ...), with
the same ON DELETE behaviour as before:

- entries.site_id -> sites: CASCADE, composite on both backends;
- entries.membership_id, access_events.door_id / controller_id / membership_id,
  doors.controller_id, door_alerts.door_id / controller_id: SET NULL. On PostgreSQL
  ``ON DELETE SET NULL (x_id)`` (PostgreSQL 15+) nulls the reference and keeps customer_id; a
  plain composite SET NULL would null customer_id too, which is NOT NULL. SQLite cannot name
  the columns, and is never distributed: there these keys stay single-column, unchanged
  (models.base.nulled_tenant_reference).

So on SQLite only entries is rebuilt (batch mode; foreign keys are off during SQLite
migrations, env.py, so the rebuild does not cascade to entry_corrections). Its partial
unique index uq_entries_open is dropped before and made again after, as 0016 does.

Existing rows satisfy the new keys (operations load the parent within the customer first).
If one does not, the upgrade stops with the rows' count per key rather than changing any
row: checked first by a query (as the migrating role; on PostgreSQL the constraint's own
validation, which row-level security does not hide, refuses it as well).

On PostgreSQL each ADD CONSTRAINT validates the whole table under a SHARE ROW EXCLUSIVE
lock on child and parent (writes wait, reads go on): on a large installation, upgrade at a
quiet hour.

Revision ID: 0021
Revises: 0020
"""
import contextlib
from collections.abc import Iterator

import sqlalchemy as sa
from alembic import context, op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# (table, column, parent, composite key's name, ON DELETE)
KEYS: list[tuple[str, str, str, str, str]] = [
    ("entries", "site_id", "sites", "fk_entries_site", "CASCADE"),
    ("entries", "membership_id", "memberships", "fk_entries_membership", "SET NULL"),
    ("access_events", "door_id", "doors", "fk_access_events_door", "SET NULL"),
    ("access_events", "membership_id", "memberships", "fk_access_events_membership",
     "SET NULL"),
    ("access_events", "controller_id", "controllers", "fk_access_events_controller",
     "SET NULL"),
    ("doors", "controller_id", "controllers", "fk_doors_controller", "SET NULL"),
    ("door_alerts", "door_id", "doors", "fk_door_alerts_door", "SET NULL"),
    ("door_alerts", "controller_id", "controllers", "fk_door_alerts_controller", "SET NULL"),
]
OPEN = "checked_out_at IS NULL"


def _single_name(table: str, column: str, parent: str) -> str:
    return f"fk_{table}_{column}_{parent}"  # models.base.NAMING_CONVENTION's "fk"


def _postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


@contextlib.contextmanager
def _every_row_visible() -> Iterator[None]:
    """The tables force row-level security even on their owner, and the owner role the README
    sets up is no superuser: as that role, the check below would count no row, and
    PostgreSQL's own validation of a new foreign key, which scans the table as its owner,
    would see none either and mark the key valid over a row that breaks it (shown by
    tests/test_migration_0021.py). Lifted for this migration only, inside its transaction (the
    keys' ALTERs lock the tables anyway): whatever fails, nothing stays changed."""
    if context.is_offline_mode() or not _postgresql():
        yield
        return
    tables = sorted({t for key in KEYS for t in (key[0], key[2])})
    forced = list(op.get_bind().execute(sa.text(
        "SELECT relname FROM pg_class WHERE relname = ANY(:t) AND relforcerowsecurity"
    ), {"t": tables}).scalars())
    for table in forced:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    yield
    for table in forced:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _check_same_customer() -> None:
    if context.is_offline_mode():
        return  # SQL for later: the key's own validation (PostgreSQL) is the check then
    bind = op.get_bind()
    wrong = {}
    for table, column, parent, _, _ in KEYS:
        n = bind.execute(sa.text(
            f"SELECT count(*) FROM {table} c JOIN {parent} p ON p.id = c.{column} "
            "WHERE p.customer_id <> c.customer_id")).scalar()
        if n:
            wrong[f"{table}.{column}"] = n
    if wrong:
        raise RuntimeError(
            "rows refer to another customer's parent, which the composite keys forbid; "
            f"nothing changed (fix or remove them first): {wrong}")


def _entries_site_sqlite(*, composite: bool) -> None:
    op.drop_index("uq_entries_open", table_name="entries")
    with op.batch_alter_table("entries") as batch:
        if composite:
            batch.drop_constraint(_single_name("entries", "site_id", "sites"),
                                  type_="foreignkey")
            batch.create_foreign_key("fk_entries_site", "sites", ["customer_id", "site_id"],
                                     ["customer_id", "id"], ondelete="CASCADE")
        else:
            batch.drop_constraint("fk_entries_site", type_="foreignkey")
            batch.create_foreign_key(_single_name("entries", "site_id", "sites"), "sites",
                                     ["site_id"], ["id"], ondelete="CASCADE")
    op.create_index("uq_entries_open", "entries", ["customer_id", "site_id", "account_id"],
                    unique=True, sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def upgrade() -> None:
    with _every_row_visible():
        _check_same_customer()
        if not _postgresql():
            _entries_site_sqlite(composite=True)
            return
        for table, column, parent, name, ondelete in KEYS:
            op.drop_constraint(_single_name(table, column, parent), table, type_="foreignkey")
            op.create_foreign_key(
                name, table, parent, ["customer_id", column], ["customer_id", "id"],
                ondelete=f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete)


def downgrade() -> None:
    if not _postgresql():
        _entries_site_sqlite(composite=False)
        return
    with _every_row_visible():
        for table, column, parent, name, ondelete in KEYS:
            op.drop_constraint(name, table, type_="foreignkey")
            op.create_foreign_key(_single_name(table, column, parent), table, parent,
                                  [column], ["id"], ondelete=ondelete)
