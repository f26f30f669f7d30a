"""The hash-chained audit trail: tampering is found (a changed, a removed middle and a removed
last record), the table is append-only, and retention keeps the chain verifiable."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from entryfy import clock
from models import AuditChainHead, AuditEvent
from models.tenancy import SYSTEM
from privacy import audit

UTC = dt.UTC


def _events(s, customer_id, n, start=dt.datetime(2027, 1, 1, tzinfo=UTC)):
    out = []
    for i in range(n):
        with clock.frozen_at(start + dt.timedelta(days=i)):
            out.append(audit.record(s, action="member.read", customer_id=customer_id,
                                    actor_id=uuid.uuid4(), actor_role="admin",
                                    object_type="membership", object_id=uuid.uuid4(),
                                    subject_id=uuid.uuid4()))
    return out


def test_a_fresh_chain_verifies_and_its_head_follows(session, world):
    evs = _events(session, world.a.customer.id, 3)
    assert [e.seq for e in evs] == [1, 2, 3]
    assert evs[1].prev_hash == evs[0].hash
    head = session.get(AuditChainHead, audit.chain_name(world.a.customer.id))
    assert (head.seq, head.hash, head.anchor_seq) == (3, evs[2].hash, 0)
    assert list(audit.verify(session)) == []


def test_the_app_cannot_change_an_audit_record(session, world, backend):
    """SQLite: a trigger aborts. PostgreSQL: no row-level-security policy allows UPDATE (and
    a trigger refuses it even for the owner)."""
    ev = _events(session, world.a.customer.id, 1)[0]
    session.commit()
    try:
        with session.begin_nested():
            n = session.execute(text("UPDATE audit_events SET action = 'x' WHERE id = :i"),
                                {"i": ev.id.hex if backend.name == "sqlite" else ev.id}
                                ).rowcount
        assert n == 0
    except DBAPIError as e:
        assert "append-only" in str(e)
    session.expire_all()
    assert session.get(AuditEvent, ev.id).action == "member.read"
    assert list(audit.verify(session)) == []


@pytest.mark.postgres_only
def test_the_app_cannot_delete_an_audit_record_on_postgresql(session, world, backend):
    if backend.name != "postgresql":
        pytest.skip("the delete guard is a PostgreSQL trigger")
    ev = _events(session, world.a.customer.id, 1)[0]
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ev.id})


def _tamper(backend, sql, params):
    """What an attacker with the owner's rights (or a restored backup) could do."""
    with backend.admin_engine.begin() as c:
        if backend.name == "postgresql":
            c.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            c.execute(text(sql), params)
            c.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        else:
            c.execute(text("DROP TRIGGER audit_events_no_update"))
            c.execute(text(sql), params)
            c.execute(text(
                "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"))


def _problems(database):
    with database.transaction(SYSTEM) as s:
        return [(b.seq, b.problem) for b in audit.verify(s)]


@pytest.fixture
def chain(committed, make):
    customer = make.customer()
    with committed.transaction(SYSTEM) as s:
        _events(s, customer.id, 5)
    make.s.commit()
    return customer


def _id(backend, database, chain_customer, seq):
    with database.transaction(SYSTEM) as s:
        ev = s.scalar(select(AuditEvent).where(
            AuditEvent.chain == audit.chain_name(chain_customer.id), AuditEvent.seq == seq))
        return ev.id.hex if backend.name == "sqlite" else ev.id


def test_a_changed_record_is_found(committed, chain, backend):
    assert _problems(committed) == []
    _tamper(backend, "UPDATE audit_events SET action = 'nothing.happened' WHERE id = :i",
            {"i": _id(backend, committed, chain, 3)})
    assert (3, "record content changed") in _problems(committed)
    with committed.transaction(SYSTEM) as s:
        assert [(b.chain, b.seq) for b in audit.verify(s)] == [(audit.chain_name(chain.id), 3)]


def test_a_removed_middle_record_is_found(committed, chain, backend):
    _tamper(backend, "DELETE FROM audit_events WHERE id = :i",
            {"i": _id(backend, committed, chain, 3)})
    found = _problems(committed)
    assert (4, "record 3 is missing") in found
    assert (4, "previous-hash link broken") in found
    with committed.transaction(SYSTEM) as s:
        assert {b.chain for b in audit.verify(s)} == {audit.chain_name(chain.id)}


def test_removed_last_records_are_found(committed, chain, backend):
    _tamper(backend, "DELETE FROM audit_events WHERE id = :i",
            {"i": _id(backend, committed, chain, 5)})
    assert _problems(committed) == [(5, "records 5..5 at the end are missing")]


def test_a_removed_first_record_is_found(committed, chain, backend):
    _tamper(backend, "DELETE FROM audit_events WHERE id = :i",
            {"i": _id(backend, committed, chain, 1)})
    found = _problems(committed)
    assert (2, "record 1 is missing") in found


def test_the_verify_command_fails_on_a_break(committed, chain, backend, runner):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    _tamper(backend, "DELETE FROM audit_events WHERE id = :i",
            {"i": _id(backend, committed, chain, 5)})
    r = runner.invoke(args=["audit", "verify"])
    assert r.exit_code == 1
    assert "at the end are missing" in r.output


def test_pruning_a_prefix_keeps_the_chain_verifiable(session, world):
    cid = world.a.customer.id
    evs = _events(session, cid, 6)
    name = audit.chain_name(cid)
    # Records 1..3 are before the cut; 4.. after it. Pruning takes whole prefixes only.
    cut = evs[3].occurred_at
    assert audit.prune_prefix(session, name, before=cut, limit=2) == 2
    assert audit.prune_prefix(session, name, before=cut, limit=2) == 1
    assert audit.prune_prefix(session, name, before=cut, limit=2) == 0
    head = session.get(AuditChainHead, name)
    assert (head.anchor_seq, head.anchor_hash) == (3, evs[2].hash)
    assert list(audit.verify(session)) == []
    seqs = list(session.scalars(select(AuditEvent.seq).where(AuditEvent.chain == name)))
    assert sorted(seqs) == [4, 5, 6]
    # The chain goes on from its head.
    assert audit.record(session, action="x", customer_id=cid).seq == 7
    assert list(audit.verify(session)) == []


def test_pruning_stops_at_the_first_young_record(session, world):
    cid = world.a.customer.id
    evs = _events(session, cid, 2, start=dt.datetime(2029, 1, 1, tzinfo=UTC))
    with clock.frozen_at(dt.datetime(2027, 1, 1, tzinfo=UTC)):  # clock went backwards
        audit.record(session, action="x", customer_id=cid)
    assert audit.prune_prefix(session, audit.chain_name(cid),
                              before=dt.datetime(2028, 1, 1, tzinfo=UTC), limit=10) == 0
    assert len(evs) == 2


def test_a_platform_event_from_an_unscoped_session(database, world):
    """Sign-in events are written from a session with no tenant context (RLS on PG)."""
    s = database.session()
    try:
        ev = audit.record(s, action="account.new_device_sign_in", customer_id=None,
                          actor_id=world.a.worker.id, subject_id=world.a.worker.id)
        ev2 = audit.record(s, action="account.new_device_sign_in", customer_id=None)
        assert ev2.seq == ev.seq + 1 and ev2.prev_hash == ev.hash
        s.commit()
    finally:
        s.close()


# ------------------------------------------------------------------ many records at once

def test_many_records_are_links_of_the_chain_like_single_ones(session, world):
    cid = world.a.customer.id
    first = _events(session, cid, 1)[0]
    subjects = [uuid.uuid4() for _ in range(2500)]  # more than one INSERT batch (1,000)
    actor = uuid.uuid4()
    assert audit.record_many(session, action="identity_number.read", customer_id=cid,
                             subject_ids=subjects, actor_id=actor, actor_role="admin",
                             object_type="ledger", object_id=world.a.site.id) == 2500
    last = audit.record(session, action="member.read", customer_id=cid)
    assert last.seq == 2502  # the chain goes on after the batch
    name = audit.chain_name(cid)
    rows = list(session.scalars(select(AuditEvent).where(AuditEvent.chain == name)
                                .order_by(AuditEvent.seq)))
    assert [e.seq for e in rows] == list(range(1, 2503))
    batch = rows[1:-1]
    assert [e.subject_id for e in batch] == subjects
    assert {(e.action, e.actor_id, e.actor_role, e.object_type, e.object_id) for e in batch} == {
        ("identity_number.read", actor, "admin", "ledger", str(world.a.site.id))}
    assert batch[0].prev_hash == first.hash and last.prev_hash == batch[-1].hash
    for prev, ev in itertools.pairwise(rows):
        assert ev.prev_hash == prev.hash and ev.hash == audit.compute_hash(ev)
    head = session.get(AuditChainHead, name)
    assert (head.seq, head.hash) == (2502, last.hash)
    assert list(audit.verify(session)) == []


def test_no_subjects_write_nothing(session, world):
    cid = world.a.customer.id
    assert audit.record_many(session, action="identity_number.read", customer_id=cid,
                             subject_ids=[]) == 0
    assert audit.count(session, cid) == 0
    assert session.get(AuditChainHead, audit.chain_name(cid)) is None


def test_a_changed_record_of_a_batch_is_found_by_the_verify_command(committed, make, backend,
                                                                    runner):
    customer = make.customer()
    make.s.commit()
    with committed.transaction(SYSTEM) as s:
        audit.record_many(s, action="identity_number.read", customer_id=customer.id,
                          subject_ids=[uuid.uuid4() for _ in range(5)], actor_role="admin")
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    _tamper(backend, "UPDATE audit_events SET subject_id = :s WHERE id = :i",
            {"s": uuid.uuid4().hex if backend.name == "sqlite" else uuid.uuid4(),
             "i": _id(backend, committed, customer, 3)})
    assert (3, "record content changed") in _problems(committed)
    r = runner.invoke(args=["audit", "verify"])
    assert r.exit_code == 1 and "record content changed" in r.output
