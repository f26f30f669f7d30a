"""Distribution-ready by tenant (docs/SCALING.md): which tenant tables' keys lack
``customer_id``, the distribution column a Citus move would use.

Citus's rules for a table distributed by ``customer_id``: its primary key and every unique
constraint include ``customer_id``; a foreign key to another distributed table includes it
on both sides (so the two rows live on the same shard). The schema today keeps ``id``
primary keys (changing every primary key is the move's own migration, planned in
docs/SCALING.md) but gives parents a UNIQUE (customer_id, id) and children composite foreign
keys where it already could. These tests list every gap by name, each with its reason: a new
table or key that breaks the rule fails here until it is fixed or listed, and a gap that was
closed fails here until it is taken off the list.

Citus is PostgreSQL: a key the models create on SQLite only (models.base.only_on, the
single-column twins of the composite ON DELETE SET NULL (col) keys) is no gap; those are
listed in SQLITE_ONLY_KEYS, each with its PostgreSQL composite.
"""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, Table, UniqueConstraint

import models  # noqa: F401  (registers every table on Base.metadata)
from models.base import Base, only_on

TABLES = Base.metadata.tables

# Tables with a customer_id that are NOT distributed by it: customer_id is nullable there,
# for rows that belong to no customer, and Citus refuses NULL in the distribution column.
NOT_DISTRIBUTED = {
    "audit_events": "platform chain rows have no customer; on Citus co-located by chain",
    "audit_chain_heads": "one head per audit chain, the platform's included; goes with "
                         "audit_events",
    "erasures": "an erasure may span customers or none (account-level); stays on the "
                "coordinator with accounts",
    "data_request_events": "events of an account's data request (data_requests has no "
                           "customer); stays on the coordinator with data_requests",
}

# Tenant tables other tables reference that still lack UNIQUE (customer_id, id): a child's
# composite foreign key needs it. They are the two biggest and hottest tables: the index
# would cost every check-in and every door open one more index insert, for nothing until
# the move. Built at the Citus move (CONCURRENTLY), or widened into the primary key there.
PARENTS_WITHOUT_COMPOSITE_KEY = {
    "entries": "entry_corrections.entry_id refers to it; one more index on every check-in",
    "access_events": "unlock_commands.event_id refers to it; one more index on every door "
                     "open",
}

# Foreign keys between distributed tables without customer_id, as (table, columns, parent).
# Each parent row belongs to the same customer as the child (the operations load the parent
# within the customer first), so adding customer_id to the key changes no data.
FOREIGN_KEYS_WITHOUT_CUSTOMER = {
    ("entry_corrections", ("entry_id",), "entries"): "needs entries' UNIQUE (customer_id, id)",
    ("unlock_commands", ("event_id",), "access_events"): "needs access_events' UNIQUE "
                                                         "(customer_id, id)",
}

# Keys the models create on SQLite only, as (table, column, parent): on PostgreSQL the same
# reference is the composite (customer_id, column) -> parent ON DELETE SET NULL (column),
# which SQLite cannot express (its SET NULL would null customer_id too). SQLite is the
# single-node embedded default, never distributed (models.base.nulled_tenant_reference).
SQLITE_ONLY_KEYS = {
    ("entries", "membership_id", "memberships"),
    ("access_events", "door_id", "doors"),
    ("access_events", "controller_id", "controllers"),
    ("access_events", "membership_id", "memberships"),
    ("doors", "controller_id", "controllers"),
    ("door_alerts", "door_id", "doors"),
    ("door_alerts", "controller_id", "controllers"),
}

# Unique keys of distributed tables without customer_id. Two kinds:
# * a secret's hash looked up before the customer is known (a device, kiosk, inspector or
#   door code): on Citus these move to a small reference "lookup" table (hash -> customer_id,
#   id), so the first query learns the shard;
# * keys whose other columns already belong to one customer (a site, a controller, an
#   entry, an account's idempotency key): adding customer_id keeps them equivalent.
UNIQUE_WITHOUT_CUSTOMER = {
    ("controllers", ("key_hash",)): "secret lookup: controller key",
    ("doors", ("entry_code",)): "secret lookup: the door sign's code",
    ("doors", ("exit_code",)): "secret lookup: the door sign's code",
    ("inspections", ("code_hash",)): "secret lookup: inspector code",
    ("kiosks", ("token_hash",)): "secret lookup: kiosk token",
    ("access_events", ("controller_id", "controller_event_id")): "controller is one customer's",
    ("door_alerts", ("controller_id", "controller_event_id")): "controller is one customer's",
    ("entries", ("account_id", "idempotency_key")): "a retried tap: per customer is enough",
    ("entry_corrections", ("entry_id", "seq")): "an entry is one customer's",
}

# Primary keys of distributed tables: (id), which the move widens to (customer_id, id), or
# these composites, which it widens by customer_id in front.
COMPOSITE_PRIMARY_KEYS = {
    "access_doors": ("access_id", "door_id"),
    "access_members": ("access_id", "membership_id"),
    "passback_states": ("membership_id", "site_id"),
}


def _tenant_tables() -> dict[str, Table]:
    return {n: t for n, t in TABLES.items() if "customer_id" in t.c}


def _distributed() -> dict[str, Table]:
    return {n: t for n, t in _tenant_tables().items() if n not in NOT_DISTRIBUTED}


def _pg_foreign_keys(table: Table) -> list[ForeignKeyConstraint]:
    """The table's foreign keys as PostgreSQL (and so Citus) has them."""
    return [fk for fk in table.foreign_key_constraints if only_on(fk) in (None, "postgresql")]


def _unique_keys(table: Table) -> list[tuple[str, ...]]:
    keys = [tuple(c.name for c in u.columns) for u in table.constraints
            if isinstance(u, UniqueConstraint)]
    keys += [tuple(c.name for c in i.columns) for i in table.indexes
             if i.unique and len(i.columns)]  # expression indexes: none without customer_id
    return keys


def test_not_distributed_tables_are_the_nullable_ones():
    nullable = {n for n, t in _tenant_tables().items() if t.c.customer_id.nullable}
    assert nullable == set(NOT_DISTRIBUTED)


def test_referenced_tenant_tables_have_a_composite_key():
    dist = _distributed()
    referenced = {fk.referred_table.name for t in dist.values()
                  for fk in _pg_foreign_keys(t) if fk.referred_table.name in dist}
    lacking = {n for n in referenced
               if "customer_id" not in dist[n].primary_key.columns
               and ("customer_id", "id") not in _unique_keys(dist[n])}
    assert lacking == set(PARENTS_WITHOUT_COMPOSITE_KEY)
    # The ones that have it: the composite foreign keys already in place rely on them.
    assert {"sites", "memberships", "doors", "controllers", "accesses", "tickets",
            "webhook_endpoints"} <= referenced - lacking


def test_foreign_keys_between_distributed_tables_carry_customer_id():
    dist = _distributed()
    lacking = {(n, tuple(e.parent.name for e in fk.elements), fk.referred_table.name)
               for n, t in dist.items() for fk in _pg_foreign_keys(t)
               if fk.referred_table.name in dist
               and "customer_id" not in [e.parent.name for e in fk.elements]}
    assert lacking == set(FOREIGN_KEYS_WITHOUT_CUSTOMER)
    # A composite key names customer_id on both sides (the same customer's parent).
    for n, t in dist.items():
        for fk in _pg_foreign_keys(t):
            pairs = {e.parent.name: e.column.name for e in fk.elements}
            if "customer_id" in pairs and fk.referred_table.name in dist:
                assert pairs["customer_id"] == "customer_id", (n, pairs)


def test_unique_keys_of_distributed_tables_carry_customer_id():
    lacking = {(n, key) for n, t in _distributed().items() for key in _unique_keys(t)
               if "customer_id" not in key}
    assert lacking == set(UNIQUE_WITHOUT_CUSTOMER)


def test_primary_keys_of_distributed_tables():
    other = {n: tuple(c.name for c in t.primary_key.columns)
             for n, t in _distributed().items()
             if tuple(c.name for c in t.primary_key.columns) != ("id",)}
    assert other == COMPOSITE_PRIMARY_KEYS


def test_sqlite_only_keys_each_have_their_postgresql_composite():
    """Each SQLite-only key is the twin of a PostgreSQL composite on the same column that
    nulls only that column; nothing else in the models is backend-specific."""
    sqlite_only, pg_only = set(), {}
    for n, t in TABLES.items():
        for fk in t.foreign_key_constraints:
            cols = tuple(e.parent.name for e in fk.elements)
            if only_on(fk) == "sqlite":
                assert len(cols) == 1 and fk.ondelete == "SET NULL", (n, cols)
                sqlite_only.add((n, cols[0], fk.referred_table.name))
            elif only_on(fk) == "postgresql":
                assert cols[0] == "customer_id" and len(cols) == 2, (n, cols)
                assert fk.ondelete == f"SET NULL ({cols[1]})", (n, fk.ondelete)
                assert [e.column.name for e in fk.elements] == ["customer_id", "id"]
                pg_only[(n, cols[1], fk.referred_table.name)] = fk
            else:
                assert only_on(fk) is None, (n, only_on(fk))
    assert sqlite_only == SQLITE_ONLY_KEYS
    assert set(pg_only) == SQLITE_ONLY_KEYS
