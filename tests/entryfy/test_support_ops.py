"""Support-case rules without HTTP: retention of closed tickets ("support_case": handled plus
four weeks), grants' bounds, and the grant gate."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from entryfy import clock
from entryfy.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import support as ops
from models import AccessGrant, AuditEvent, Ticket, TicketMessage
from privacy import registry, retention

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _ticket(session, tenant, *, closed_at=None, grants=()):
    at = closed_at - dt.timedelta(days=1) if closed_at else T0
    with clock.frozen_at(at):
        t = ops.open_ticket(session, customer_id=tenant.customer.id, author=tenant.admin,
                            subject="Badge problem", body="Erik's badge fails at gate 2.")
        ops.customer_message(session, t, author=tenant.admin, body="Still failing.")
        for scopes in grants:
            ops.create_grant(session, t, by=tenant.admin, scopes=scopes, expires_in_hours=1)
    if closed_at:
        with clock.frozen_at(closed_at):
            ops.close_ticket(session, t, by=tenant.admin)
    session.commit()
    return t


def _count(session, model, ticket):
    return session.scalar(select(func.count()).select_from(model)
                          .where(model.ticket_id == ticket.id))


def test_support_case_rule_is_four_weeks_after_closing():
    rule = registry.retention_rule(ops.RETENTION_RULE)
    assert rule.anchor == "closed_at"
    assert rule.cutoff(T0) == T0 - dt.timedelta(days=28)


def test_open_and_recently_closed_tickets_are_kept(world, session):
    now = T0 + dt.timedelta(days=400)
    open_old = _ticket(session, world.a)
    recent = _ticket(session, world.a, closed_at=now - dt.timedelta(days=27, hours=23))
    assert ops.retire_support_cases(session, now) == 0
    for t in (open_old, recent):
        session.refresh(t)
        assert t.subject == "Badge problem" and t.content_removed_at is None
        assert _count(session, TicketMessage, t) == 2


def test_content_is_removed_four_weeks_after_closing(world, session):
    now = T0 + dt.timedelta(days=60)
    due = _ticket(session, world.a, closed_at=now - dt.timedelta(days=28, seconds=1),
                  grants=[["members"], ["sites", "entries"]])
    other = _ticket(session, world.b, closed_at=now - dt.timedelta(days=40))
    assert _count(session, AccessGrant, due) == 2

    assert ops.retire_support_cases(session, now, dry_run=True) == 2
    session.refresh(due)
    assert due.subject is not None and _count(session, TicketMessage, due) == 2

    assert ops.retire_support_cases(session, now) == 2
    session.commit()
    for t in (due, other):
        session.refresh(t)
        assert t.subject is None and t.opened_by_id is None
        assert t.content_removed_at == now and t.status == "closed"
        assert _count(session, TicketMessage, t) == 0
        assert _count(session, AccessGrant, t) == 0
    # The audit trail still names the ticket (references only) and verifies.
    assert session.scalar(select(AuditEvent).where(AuditEvent.ticket_id == due.id))
    # Idempotent: nothing more is due.
    assert ops.retire_support_cases(session, now) == 0


def test_retirement_runs_in_batches(world, session):
    now = T0 + dt.timedelta(days=90)
    for _ in range(3):
        _ticket(session, world.a, closed_at=now - dt.timedelta(days=30))
    assert [ops.retire_support_cases(session, now, limit=2) for _ in range(3)] == [2, 1, 0]


def test_executor_is_registered_with_the_retention_job(world, database, session):
    assert "support_case" in retention.executors()
    now = T0 + dt.timedelta(days=90)
    t = _ticket(session, world.a, closed_at=now - dt.timedelta(days=30))
    with clock.frozen_at(now):
        report = retention.run(database, only=["support_case"], batch_size=10)
    assert report.status == "finished"
    assert report.rules[0].counts == {"tickets_cleared": 1}
    session.refresh(t)
    assert t.subject is None


def test_grant_bounds_and_closed_tickets(world, session):
    t = _ticket(session, world.a)
    for scopes, hours in ((["members"], 0), (["members"], 169), ([], 1), (["ledger"], 1),
                          (["members"], True)):
        with pytest.raises(ValidationFailed):
            ops.create_grant(session, t, by=world.a.admin, scopes=scopes, expires_in_hours=hours)
    g = ops.create_grant(session, t, by=world.a.admin, scopes=["sites", "members", "sites"],
                         expires_in_hours=168)
    assert g.scope_list == ["members", "sites"]
    assert g.expires_at - g.created_at == dt.timedelta(hours=168)
    ops.close_ticket(session, t, by=world.a.admin)
    assert g.revoked_at is not None
    with pytest.raises(Unprocessable):
        ops.create_grant(session, t, by=world.a.admin, scopes=["sites"], expires_in_hours=1)


def test_grant_gate(world, make, session):
    staff = make.staff().account
    t = _ticket(session, world.a)
    with pytest.raises(NotFound):
        ops.open_grant_scope(session, staff, world.b.customer.id, "members")
    with pytest.raises(NotFound):
        ops.open_grant_scope(session, staff, t.id, "ledger")
    with pytest.raises(Forbidden):
        ops.open_grant_scope(session, staff, t.id, "members")
    ops.create_grant(session, t, by=world.a.admin, scopes=["members"], expires_in_hours=1)
    assert ops.open_grant_scope(session, staff, t.id, "members").id == t.id


def test_tickets_of_an_ended_customer_are_gone_for_support(world, make, session):
    staff = make.staff().account
    t = _ticket(session, world.a)
    world.a.customer.status = "ended"
    session.commit()
    with pytest.raises(NotFound):
        ops.support_ticket(session, t.id)
    assert ops.support_ticket(session, _ticket(session, world.b).id).customer_id == \
        world.b.customer.id
    with pytest.raises(NotFound):
        ops.support_message(session, staff, t.id, "hello")
    assert session.get(Ticket, t.id) is not None


def test_row_level_security_walls_off_tickets(world, backend, database, session):
    """PostgreSQL: even raw SQL as the app role sees only the scoped customer's tickets."""
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    from sqlalchemy import text

    from models.tenancy import TenantContext, set_context

    ta, tb = _ticket(session, world.a), _ticket(session, world.b)
    s = database.session()
    try:
        set_context(s, TenantContext(customer_ids=frozenset({world.b.customer.id})))
        for table in ("tickets", "ticket_messages"):
            ids = set(s.execute(text(f"SELECT customer_id FROM {table}")).scalars())
            assert ids == {world.b.customer.id}, table
        assert s.execute(text("SELECT count(*) FROM tickets WHERE id = :i"),
                         {"i": ta.id}).scalar() == 0
        assert s.execute(text("SELECT count(*) FROM tickets WHERE id = :i"),
                         {"i": tb.id}).scalar() == 1
    finally:
        s.close()
