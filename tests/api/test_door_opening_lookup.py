"""The phone's door opening finds the door, its site, the person's membership there and
whether a webhook listens in one scoped statement (entryfy.ops.doors.door_opening), and
queues no webhook when that statement said nobody listens."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, func, select, update

from entryfy.ops import events
from models import AccessEvent, Customer, WebhookDelivery
from tests import doorkit, sqlspy
from tests.factories import bearer

API = "/api/v1"


@pytest.fixture
def opened(client, world, session):  # type: ignore[no-untyped-def]
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app"])
    h = bearer(client, a.worker)
    # The token's last use is written on its first request, then not for a minute.
    assert client.get(f"{API}/me/doors", headers=h).status_code == 200
    return a, door, h


def _events(session, door_id) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(AccessEvent)
                          .where(AccessEvent.door_id == door_id)) or 0


def test_an_opening_is_the_sign_in_one_lookup_the_accesses_and_the_event(
        client, backend, app, opened, monkeypatch):
    """Four statements on PostgreSQL (there were seven: memberships, set_config and the door
    apart, and the webhook query); SQLite asks for the scope's customers on its own."""
    from entryfy.web import database

    _a, door, h = opened
    with app.app_context():
        engine = database().engine
    with sqlspy.statements(monkeypatch, engine, words=3) as seen:
        r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=doorkit.INSIDE)
    assert r.status_code == 200, r.get_json()
    # The tests' sessions join an outer connection, so each of their transactions writes its
    # (empty) context first; a request's fresh pooled transaction does not
    # (models.tenancy._fresh_transaction).
    seen = [s for s in seen if not s.startswith("SELECT set_config(")]
    lookup = (["SELECT signed_in.id, signed_in.account_id,",
               "SELECT scope.scoped_ids, target.d_site_id,"]
              if backend.name == "postgresql" else
              ["SELECT access_tokens.id, access_tokens.account_id,",
               "SELECT memberships.customer_id FROM", "SELECT doors.site_id AS"])
    assert seen == [*lookup, "SELECT accesses.id, accesses.name,",
                    "INSERT INTO access_events"], seen


def test_a_door_of_an_ended_customer_is_not_found(client, session, opened):
    a, door, h = opened
    session.execute(update(Customer).where(Customer.id == a.customer.id).values(status="ended"))
    session.commit()
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=doorkit.INSIDE)
    assert r.status_code == 404 and r.mimetype == "application/problem+json"
    assert _events(session, door.id) == 0


def test_a_door_where_the_person_is_no_member_is_not_found(client, session, make, world,
                                                           opened):
    _a, door, _h = opened
    stranger = make.account()
    make.membership(world.b.customer, stranger, "member")
    r = client.post(f"{API}/doors/{door.id}/open", headers=bearer(client, stranger),
                    json=doorkit.INSIDE)
    assert r.status_code == 404
    assert _events(session, door.id) == 0


def test_the_answer_nobody_listens_holds_for_its_transaction_only(session, database, world):
    cid = world.a.customer.id
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "webhook" in statement:
            seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        session.connection()  # the transaction the answer was read in (as the lookup's)
        events.note_listening(session, cid, "access_event.created", False)
        assert events.emit(session, cid, "access_event.created", {"id": str(uuid.uuid4())}) == 0
        assert seen == []  # known: no statement
        # Another customer, another event type: asked as usual.
        events.emit(session, world.b.customer.id, "access_event.created", {"id": "x"})
        events.emit(session, cid, "entry.created", {"id": "x"})
        assert len(seen) == 2
        session.commit()
        events.emit(session, cid, "access_event.created", {"id": "x"})
        assert len(seen) == 3  # a new transaction asks again
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.customer_id == cid)) == 0
