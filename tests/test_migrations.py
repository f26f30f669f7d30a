"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import models  # noqa: F401
from models.base import Base, only_on


def test_migrations_match_models(backend):
    dialect = backend.admin_engine.dialect.name

    def include_object(obj, name, type_, reflected, compare_to):
        # A key the models create on one backend only (models.base.nulled_tenant_reference)
        # is compared there only; the database's own keys are all compared.
        return reflected or type_ != "foreign_key_constraint" or only_on(obj) in (None, dialect)

    with backend.admin_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "include_object": include_object})
        diff = compare_metadata(ctx, Base.metadata)
    # SQLite cannot reflect expression indexes; they are compared on PostgreSQL.
    assert diff == [], diff


def test_0008_goes_down_and_up_again(tmp_path):
    """Its downgrade restores the two indexes it drops; upgrading drops them again."""
    from alembic import command
    from sqlalchemy import inspect

    from entryfy import migrate
    from entryfy.db import make_engine

    url = f"sqlite:///{tmp_path / 'down-up.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        def entry_indexes() -> set[str]:
            return {i["name"] for i in inspect(engine).get_indexes("entries")}

        at_head = entry_indexes()
        command.downgrade(migrate.alembic_config(url), "0007")
        engine.dispose()
        # 0022's downgrade, on the way, brings back the site_id index it dropped.
        assert entry_indexes() - at_head == {"ix_entries_account_id", "ix_entries_customer_id",
                                             "ix_entries_site_id"}
        migrate.upgrade(url)
        engine.dispose()
        assert entry_indexes() == at_head
    finally:
        engine.dispose()


def test_0016_goes_down_and_up_again(tmp_path):
    """Its downgrade restores the old CHECK constraints and index order, keeps the expression
    index SQLite cannot reflect, and drops the kiosk and inspection tables; upgrading again
    restores all of it."""
    from alembic import command
    from sqlalchemy import inspect, text

    from entryfy import migrate
    from entryfy.db import make_engine

    url = f"sqlite:///{tmp_path / 'down-up-0016.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)

    def schema() -> dict[str, object]:
        with engine.connect() as c:
            sql = dict(c.execute(text("SELECT name, sql FROM sqlite_master")).all())
        return {
            "open": sql["uq_entries_open"],
            "invite": sql.get("uq_memberships_customer_invite"),
            "email": sql.get("uq_accounts_email_lower"),
            "roles": "'foreman'" in sql["memberships"],
            "sources": "'kiosk'" in sql["entries"],
            "tables": set(inspect(engine).get_table_names()),
        }

    try:
        at_head = schema()
        assert at_head["roles"] and at_head["sources"]
        assert "(customer_id, site_id, account_id) WHERE" in at_head["open"]
        command.downgrade(migrate.alembic_config(url), "0016-1")
        engine.dispose()
        down = schema()
        assert not down["roles"] and not down["sources"]
        assert "(account_id, site_id) WHERE" in down["open"]
        assert down["invite"] and down["email"]
        # Later revisions' tables go down with it (0019: the door-control tables).
        later = {"lockdowns", "door_alerts", "passback_states"}
        assert at_head["tables"] - down["tables"] - later == {"kiosks", "inspections"}
        migrate.upgrade(url)
        engine.dispose()
        assert schema() == at_head
    finally:
        engine.dispose()


def test_0019_goes_down_and_up_again(tmp_path):
    """Its downgrade narrows the role back (a hardware manager becomes a member), drops the
    door-control tables and columns; upgrading again restores them."""
    from alembic import command
    from sqlalchemy import inspect, text

    from entryfy import migrate
    from entryfy.db import make_engine

    url = f"sqlite:///{tmp_path / 'down-up-0019.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)

    def schema() -> dict[str, object]:
        with engine.connect() as c:
            sql = dict(c.execute(text("SELECT name, sql FROM sqlite_master")).all())
        return {
            "invite": sql.get("uq_memberships_customer_invite"),
            "roles": "'hardware_manager'" in sql["memberships"],
            "tables": set(inspect(engine).get_table_names()),
            "door_columns": {c["name"] for c in inspect(engine).get_columns("doors")},
        }

    try:
        at_head = schema()
        assert at_head["roles"] and at_head["invite"]
        command.downgrade(migrate.alembic_config(url), "0017")
        engine.dispose()
        down = schema()
        assert not down["roles"] and down["invite"]
        assert at_head["tables"] - down["tables"] == {"lockdowns", "door_alerts",
                                                      "passback_states"}
        assert at_head["door_columns"] - down["door_columns"] == {
            "unlock_schedule", "holidays", "first_person_in", "first_in_at"}
        migrate.upgrade(url)
        engine.dispose()
        assert schema() == at_head
    finally:
        engine.dispose()


def test_0022_goes_down_and_up_again(tmp_path):
    """Its downgrade restores the fifteen single-column indexes; upgrading drops them."""
    from alembic import command
    from sqlalchemy import inspect

    from entryfy import migrate
    from entryfy.db import make_engine

    url = f"sqlite:///{tmp_path / 'down-up-0022.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)

    def indexes() -> set[str]:
        found = inspect(engine)
        return {i["name"] for t in found.get_table_names() for i in found.get_indexes(t)}

    try:
        at_head = indexes()
        command.downgrade(migrate.alembic_config(url), "0021")
        engine.dispose()
        assert indexes() - at_head == {
            "ix_access_events_customer_id", "ix_audit_events_customer_id",
            "ix_accesses_customer_id", "ix_controllers_customer_id",
            "ix_data_request_parts_customer_id", "ix_data_request_parts_request_id",
            "ix_devices_account_id", "ix_door_credentials_customer_id",
            "ix_doors_customer_id", "ix_entry_corrections_entry_id",
            "ix_memberships_customer_id", "ix_sites_customer_id", "ix_tickets_customer_id",
            "ix_webhook_endpoints_customer_id", "ix_entries_site_id"}
        assert at_head - indexes() == set()
        migrate.upgrade(url)
        engine.dispose()
        assert indexes() == at_head
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_0023_goes_down_and_up_again(backend):
    """Its downgrade gives the USING of entries' and access_events' policies the ``= ANY``
    customer test back; upgrading gives them the subquery again. WITH CHECK and the other
    tenant tables keep the ANY throughout; a policy made again (``rls.enable``) keeps the form
    it had, and a new tenant table gets the ANY."""
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    from alembic import command
    from sqlalchemy import text

    from entryfy import migrate
    from models import rls

    def subquery_tables() -> set[str]:
        with backend.admin_engine.connect() as c:
            rows = c.execute(text(
                "SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = "
                "'public' AND policyname = 'tenant_isolation'")).all()
        assert rows and all("= ANY" in check and "unnest(" not in check for _, _, check in rows)
        assert all(("unnest(" in qual) != ("= ANY" in qual) for _, qual, _ in rows)
        return {t for t, qual, _ in rows if "unnest(" in qual}

    assert subquery_tables() == {"entries", "access_events"}
    try:
        command.downgrade(migrate.alembic_config(backend.admin_url), "0022")
        assert subquery_tables() == set()
    finally:
        migrate.upgrade(backend.admin_url)
    assert subquery_tables() == {"entries", "access_events"}
    with backend.admin_engine.connect() as c, c.begin() as t:
        c.execute(text("CREATE TABLE rls_probe (id uuid PRIMARY KEY, customer_id uuid)"))
        rls.enable(c, {"rls_probe": None, "entries": "account_id", "sites": None})
        quals = dict(c.execute(text(
            "SELECT tablename, qual FROM pg_policies WHERE tablename IN ('rls_probe', "
            "'entries', 'sites')")).all())
        t.rollback()
    assert "customer_id IN ( SELECT unnest(" in quals["entries"]
    assert "= ANY" in quals["rls_probe"] and "= ANY" in quals["sites"]


def test_upgrading_sqlite_through_table_rebuilds_keeps_child_rows(tmp_path):
    """0016 (and 0021) rebuild `entries` on SQLite (copy, drop, rename). With foreign keys
    on, dropping the old table cascaded into entry_corrections: a database upgraded through
    0016 lost its corrections. Migrations now run with foreign keys off and check every key
    before they commit (entryfy/migrations/env.py); the corrections stay."""
    import sqlite3

    from alembic import command

    from entryfy import migrate

    path = tmp_path / "rebuilds.sqlite3"
    url = f"sqlite:///{path}"
    command.upgrade(migrate.alembic_config(url), "0015")
    cid, sid, eid = "c" * 32, "5" * 32, "e" * 32
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO customers (id, name, org_nr, status, created_at) "
                  "VALUES (?, 'Bygg AB', '5560000001', 'active', '2026-01-01')", (cid,))
        c.execute("INSERT INTO sites (id, customer_id, name, latitude, longitude, radius_m, "
                  "geofence, timezone, store_coarse_position, created_at) VALUES "
                  "(?, ?, 'Site', 59.3, 18.0, 200, 'enforce', 'Europe/Stockholm', 0, "
                  "'2026-01-01')", (sid, cid))
        c.execute("INSERT INTO entries (id, created_at, customer_id, site_id, checked_in_at, "
                  "source, restricted) VALUES (?, '2026-01-01', ?, ?, '2026-01-01', 'app', 0)",
                  (eid, cid, sid))
        c.execute("INSERT INTO entry_corrections (id, created_at, customer_id, entry_id, seq, "
                  "reason) VALUES (?, '2026-01-02', ?, ?, 1, 'forgot to check out')",
                  ("f" * 32, cid, eid))
    migrate.upgrade(url)
    with sqlite3.connect(path) as c:
        assert c.execute("SELECT entry_id, reason FROM entry_corrections").fetchall() == [
            (eid, "forgot to check out")]
        assert c.execute("SELECT count(*) FROM entries").fetchone() == (1,)
