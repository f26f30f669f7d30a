"""References between tenant tables (revision 0021, models.base.nulled_tenant_reference).

Deleting a membership, door or controller nulls the reference of the rows that name it and
keeps them (entries, door events, doors, door alerts), on both backends. On PostgreSQL the
key is composite (customer_id, x_id) -> parent (customer_id, id) ON DELETE SET NULL (x_id),
so a row cannot name another customer's parent; SQLite keeps the single-column key there
(it cannot null one column of a composite key), and the operations' own rule (the parent is
loaded within the customer first) is what holds it. entries.site_id is composite on both.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any

import pytest
from sqlalchemy import delete, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from models import AccessEvent, Controller, Door, DoorAlert, Entry, Membership, Site
from tests.attendance import entry
from tests.doorkit import door

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


def _controller(session, customer_id: uuid.UUID) -> Controller:  # type: ignore[no-untyped-def]
    c = Controller(customer_id=customer_id, name="Gate", key_hash=secrets.token_hex(32))
    session.add(c)
    session.commit()
    return c


def _event(session, customer_id: uuid.UUID, **refs: Any) -> uuid.UUID:  # type: ignore[no-untyped-def]
    eid = uuid.uuid4()
    session.execute(insert(AccessEvent).values(
        id=eid, customer_id=customer_id, occurred_at=T0, recorded_at=T0, outcome="granted",
        source="controller", **refs))
    return eid


def _alert(session, customer_id: uuid.UUID, **refs: Any) -> uuid.UUID:  # type: ignore[no-untyped-def]
    aid = uuid.uuid4()
    session.execute(insert(DoorAlert).values(
        id=aid, customer_id=customer_id, type="forced_open", occurred_at=T0, created_at=T0,
        **refs))
    return aid


def _row(session, model, row_id: uuid.UUID) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return dict(session.execute(select(model.__table__).where(
        model.__table__.c.id == row_id)).one()._mapping)


def test_deleting_a_membership_nulls_its_entries_and_events_and_keeps_them(session, world):
    a = world.a
    e = entry(session, a.site, a.worker, checked_in_at=T0,
              membership_id=a.worker_membership.id)
    ev = _event(session, a.customer.id, membership_id=a.worker_membership.id)
    session.execute(delete(Membership).where(Membership.id == a.worker_membership.id))
    kept_entry = _row(session, Entry, e.id)
    assert kept_entry["membership_id"] is None
    assert kept_entry["customer_id"] == a.customer.id
    assert kept_entry["account_id"] == a.worker.id
    kept_event = _row(session, AccessEvent, ev)
    assert kept_event["membership_id"] is None and kept_event["customer_id"] == a.customer.id


def test_deleting_a_door_nulls_its_events_and_alerts_and_keeps_them(session, world):
    a = world.a
    d = door(session, a.site)
    other = door(session, a.site, name="Back door")
    ev = _event(session, a.customer.id, door_id=d.id)
    kept_ev = _event(session, a.customer.id, door_id=other.id)
    al = _alert(session, a.customer.id, door_id=d.id)
    session.execute(delete(Door).where(Door.id == d.id))
    assert _row(session, AccessEvent, ev)["door_id"] is None
    assert _row(session, AccessEvent, kept_ev)["door_id"] == other.id  # only that door's
    alert = _row(session, DoorAlert, al)
    assert alert["door_id"] is None and alert["customer_id"] == a.customer.id


def test_deleting_a_controller_nulls_its_doors_events_and_alerts(session, world):
    a = world.a
    c = _controller(session, a.customer.id)
    d = door(session, a.site, controller_id=c.id)
    ev = _event(session, a.customer.id, controller_id=c.id, door_id=d.id)
    al = _alert(session, a.customer.id, controller_id=c.id, door_id=d.id)
    session.execute(delete(Controller).where(Controller.id == c.id))
    kept_door = _row(session, Door, d.id)
    assert kept_door["controller_id"] is None and kept_door["customer_id"] == a.customer.id
    event = _row(session, AccessEvent, ev)
    assert event["controller_id"] is None and event["door_id"] == d.id
    alert = _row(session, DoorAlert, al)
    assert alert["controller_id"] is None and alert["door_id"] == d.id


def test_deleting_a_site_deletes_its_entries(session, world, make):
    a = world.a
    gone, stays = make.site(a.customer), make.site(a.customer)
    e1 = entry(session, gone, a.worker, checked_in_at=T0).id
    e2 = entry(session, stays, a.worker, checked_in_at=T0).id
    session.execute(delete(Site).where(Site.id == gone.id))
    session.expunge_all()
    assert session.get(Entry, e1) is None
    assert session.get(Entry, e2) is not None


def test_an_entry_cannot_name_another_customers_site(session, world):
    """Composite on both backends: the site must be the entry's customer's."""
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(Entry).values(
            id=uuid.uuid4(), customer_id=world.a.customer.id, site_id=world.b.site.id,
            checked_in_at=T0, source="app", restricted=False, created_at=T0))


@pytest.mark.parametrize("refs", ["door", "controller", "membership"])
def test_another_customers_parent_per_backend(session, world, backend, refs):
    """PostgreSQL refuses an event naming another customer's door, controller or membership
    (the composite key); SQLite's single-column key only asks that the parent exists."""
    b = world.b
    parent = {"door": lambda: door(session, b.site).id,
              "controller": lambda: _controller(session, b.customer.id).id,
              "membership": lambda: b.worker_membership.id}[refs]()
    values = {f"{refs}_id": parent}
    if backend.name == "postgresql":
        with pytest.raises(IntegrityError), session.begin_nested():
            _event(session, world.a.customer.id, **values)
    else:
        with session.begin_nested():
            _event(session, world.a.customer.id, **values)


def test_the_database_has_the_keys_the_models_say(session, backend):
    """The keys as the database reports them (not the models): composite with SET NULL
    (col) on PostgreSQL, single-column SET NULL on SQLite; entries -> sites composite."""
    fks = {(fk["referred_table"], tuple(fk["constrained_columns"])):
           fk.get("options", {}).get("ondelete", "")
           for fk in inspect(session.connection()).get_foreign_keys("access_events")}
    site_key = {tuple(fk["constrained_columns"]) for fk in
                inspect(session.connection()).get_foreign_keys("entries")
                if fk["referred_table"] == "sites"}
    assert site_key == {("customer_id", "site_id")}
    if backend.name == "postgresql":
        assert fks[("doors", ("customer_id", "door_id"))] == "SET NULL (door_id)"
        assert fks[("memberships", ("customer_id", "membership_id"))] == \
            "SET NULL (membership_id)"
        assert fks[("controllers", ("customer_id", "controller_id"))] == \
            "SET NULL (controller_id)"
        assert ("doors", ("door_id",)) not in fks
    else:
        assert fks[("doors", ("door_id",))] == "SET NULL"
        assert fks[("memberships", ("membership_id",))] == "SET NULL"
        assert fks[("controllers", ("controller_id",))] == "SET NULL"
