"""Revision 0021 (tenant keys lead with customer_id) on a database with rows, both backends:
up, down and up again keeps every row (on SQLite entries is rebuilt, and a rebuild with
foreign keys on would have emptied entry_corrections: entryfy/migrations/env.py), and a row
naming another customer's parent stops the upgrade with nothing changed."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from entryfy import migrate
from entryfy.db import make_engine, normalise_url
from models import (
    AccessEvent,
    Controller,
    Customer,
    Door,
    DoorAlert,
    Entry,
    EntryCorrection,
    Membership,
    Site,
    UnlockCommand,
)
from tests.conftest import BACKENDS, PG_URL

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
TABLES = ["entries", "entry_corrections", "access_events", "unlock_commands", "doors",
          "door_alerts", "memberships", "controllers", "sites"]


@pytest.fixture(params=BACKENDS)
def scratch(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """An empty database of its own (a migration test goes down and up)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm0021.sqlite3'}"
        return
    base = make_url(normalise_url(PG_URL or ""))
    name = f"entryfy_test_fks_{uuid.uuid4().hex[:10]}"
    server = make_engine(base.render_as_string(hide_password=False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def _fill(url: str, *, cross_customer: bool = False) -> dict[str, uuid.UUID]:
    """Two customers' rows through every key 0021 changes (the schema of 0020 has the same
    columns as the models); ``cross_customer``: one door event names B's door."""
    engine = make_engine(url)
    ids: dict[str, uuid.UUID] = {}
    try:
        with Session(engine) as s:
            for who in ("a", "b"):
                c = Customer(name=f"{who} AB", org_nr=f"55{secrets.randbelow(10**8):08d}")
                s.add(c)
                s.flush()
                site = Site(customer_id=c.id, name="Site", latitude=59.33, longitude=18.06,
                            radius_m=200, geofence="enforce")
                m = Membership(customer_id=c.id, account_id=None, role="member",
                               invited_email=f"{who}@example.test")
                ctl = Controller(customer_id=c.id, name="Gate", key_hash=secrets.token_hex(32))
                s.add_all([site, m, ctl])
                s.flush()
                d = Door(customer_id=c.id, site_id=site.id, name="Door", controller_id=ctl.id,
                         entry_code=secrets.token_hex(8), exit_code=secrets.token_hex(8))
                s.add(d)
                s.flush()
                e = Entry(customer_id=c.id, site_id=site.id, membership_id=m.id,
                          checked_in_at=T0, source="app", restricted=False)
                s.add(e)
                s.flush()
                s.add(EntryCorrection(customer_id=c.id, entry_id=e.id, reason="typo", seq=1))
                ev = AccessEvent(customer_id=c.id, door_id=d.id, controller_id=ctl.id,
                                 membership_id=m.id, outcome="granted", occurred_at=T0)
                s.add(ev)
                s.flush()
                s.add(UnlockCommand(customer_id=c.id, controller_id=ctl.id, door_id=d.id,
                                    event_id=ev.id, expires_at=T0))
                s.add(DoorAlert(customer_id=c.id, type="forced_open", door_id=d.id,
                                controller_id=ctl.id, occurred_at=T0))
                ids[f"{who}_customer"], ids[f"{who}_door"] = c.id, d.id
            if cross_customer:
                wrong = AccessEvent(customer_id=ids["a_customer"], door_id=ids["b_door"],
                                    outcome="granted", occurred_at=T0)
                s.add(wrong)
                s.flush()
                ids["wrong_event"] = wrong.id
            s.commit()
    finally:
        engine.dispose()
    return ids


def _state(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            counts = {t: c.execute(select(func.count()).select_from(text(t))).scalar()
                      for t in TABLES}
            keys = {(fk["referred_table"], tuple(fk["constrained_columns"]))
                    for t in ("entries", "access_events", "doors", "door_alerts")
                    for fk in inspect(c).get_foreign_keys(t)}
            version = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return {"counts": counts, "keys": keys, "version": version}
    finally:
        engine.dispose()


def test_0021_keeps_every_row_up_down_and_up(scratch):
    migrate.upgrade(scratch, revision="0020")
    _fill(scratch)
    before = _state(scratch)
    assert set(before["counts"].values()) == {2}  # type: ignore[union-attr]
    assert ("sites", ("site_id",)) in before["keys"]  # type: ignore[operator]

    migrate.upgrade(scratch)
    up = _state(scratch)
    assert up["counts"] == before["counts"]
    assert ("sites", ("customer_id", "site_id")) in up["keys"]  # type: ignore[operator]
    pg = scratch.startswith("postgresql")
    composite = {("doors", ("customer_id", "door_id")),
                 ("controllers", ("customer_id", "controller_id")),
                 ("memberships", ("customer_id", "membership_id"))}
    assert (composite <= up["keys"]) is pg  # type: ignore[operator]

    command.downgrade(migrate.alembic_config(scratch), "0020")
    down = _state(scratch)
    assert down == before

    migrate.upgrade(scratch)
    assert _state(scratch) == up


def test_0021_refuses_a_row_naming_another_customers_parent(scratch):
    migrate.upgrade(scratch, revision="0020")
    ids = _fill(scratch, cross_customer=True)
    before = _state(scratch)
    with pytest.raises(RuntimeError, match=r"access_events\.door_id': 1"):
        migrate.upgrade(scratch)
    assert _state(scratch) == before  # still 0020, the row and its door id untouched
    engine = make_engine(scratch)
    try:
        with Session(engine) as s:
            assert s.get(AccessEvent, ids["wrong_event"]).door_id == ids["b_door"]
    finally:
        engine.dispose()


def migrate_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


@pytest.mark.postgres_only
def test_0021_counts_every_row_as_an_owner_that_is_no_superuser():
    """The README's owner role is no superuser, and the tables force row-level security on
    their owner: the check must still see the other customer's row (not leave it to the
    key's validation, with a bare foreign-key error), and still change nothing."""
    if not PG_URL:
        pytest.skip("needs PostgreSQL")
    base = make_url(normalise_url(PG_URL))
    suffix = uuid.uuid4().hex[:10]
    role, name = f"entryfy_test_owner_{suffix}", f"entryfy_test_fks_{suffix}"
    server = make_engine(base.render_as_string(hide_password=False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
        c.execute(text(f'CREATE DATABASE "{name}" OWNER "{role}"'))
    as_owner = base.set(database=name, username=role, password=None).render_as_string(
        hide_password=False)
    as_superuser = base.set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(as_owner, revision="0020")
        ids = _fill(as_superuser, cross_customer=True)  # the rows, past the policies
        before = _state(as_superuser)
        with pytest.raises(RuntimeError, match=r"access_events\.door_id': 1"):
            migrate.upgrade(as_owner)
        assert _state(as_superuser) == before
        engine = make_engine(as_superuser)
        try:
            with engine.connect() as c:
                assert c.execute(text(
                    "SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE relname IN "
                    "('entries', 'access_events', 'doors', 'sites')")).scalar() is True
                assert c.execute(text("SELECT door_id FROM access_events WHERE id = :i"),
                                 {"i": ids["wrong_event"]}).scalar() == ids["b_door"]
                c.execute(text("DELETE FROM access_events WHERE id = :i"),
                          {"i": ids["wrong_event"]})
                c.commit()
            # Without that row it goes through as the owner, and the tables force the
            # policies on their owner again afterwards.
            migrate.upgrade(as_owner)
            with engine.connect() as c:
                assert c.execute(text(
                    "SELECT bool_and(relforcerowsecurity) FROM pg_class WHERE relname IN "
                    "('entries', 'access_events', 'doors', 'sites', 'memberships', "
                    "'controllers', 'door_alerts')")).scalar() is True
                assert c.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                    == migrate_head()
        finally:
            engine.dispose()
    finally:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            c.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()
