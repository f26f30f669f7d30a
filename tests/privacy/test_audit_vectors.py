"""The audit hash pinned by known answers, and every kind of chain break ``verify`` reports.

The expected hashes are computed here with hashlib over canonical strings written out by hand
(the payload's key names, their order, the separators, the time format), never by calling the
module: a change to what the hash covers, or to the genesis value, changes these answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy import delete, select, update

from entryfy import clock
from models import AuditChainHead, AuditEvent
from privacy import audit, journal

UTC = dt.UTC
ZERO = "0000000000000000000000000000000000000000000000000000000000000000"
CID = uuid.UUID("11111111-1111-1111-1111-111111111111")
ACTOR = uuid.UUID("22222222-2222-2222-2222-222222222222")
SUBJECT = uuid.UUID("33333333-3333-3333-3333-333333333333")
TICKET = uuid.UUID("44444444-4444-4444-4444-444444444444")
AT = dt.datetime(2027, 3, 4, 5, 6, 7, 8, tzinfo=UTC)

FULL = (
    '{"action":"member.read","actor_id":"22222222-2222-2222-2222-222222222222",'
    '"actor_role":"admin","chain":"customer:11111111-1111-1111-1111-111111111111",'
    '"customer_id":"11111111-1111-1111-1111-111111111111","object_id":"42",'
    '"object_type":"membership","occurred_at":"2027-03-04T05:06:07.000008+00:00",'
    '"prev_hash":"' + ZERO + '","seq":1,'
    '"subject_id":"33333333-3333-3333-3333-333333333333",'
    '"ticket_id":"44444444-4444-4444-4444-444444444444"}'
)
BARE = (
    '{"action":"account.sign_in","actor_id":null,"actor_role":null,"chain":"platform",'
    '"customer_id":null,"object_id":null,"object_type":null,'
    '"occurred_at":"2027-03-04T05:06:07.000008+00:00","prev_hash":"' + "ab" * 32 + '",'
    '"seq":17,"subject_id":null,"ticket_id":null}'
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def full_event(**changes) -> AuditEvent:
    fields = {"chain": "customer:11111111-1111-1111-1111-111111111111", "seq": 1,
                  "customer_id": CID, "occurred_at": AT, "actor_id": ACTOR, "actor_role": "admin",
                  "action": "member.read", "object_type": "membership", "object_id": "42",
                  "subject_id": SUBJECT, "ticket_id": TICKET, "prev_hash": ZERO}
    fields.update(changes)
    return AuditEvent(**fields)


def test_known_answer_for_a_full_record():
    assert audit.compute_hash(full_event()) == sha(FULL)
    # The same answer as a literal (sha256sum of FULL, computed once outside the project).
    assert audit.compute_hash(full_event()) == (
        "0dc774b752a329da595b79b2fabbb237a06341aa0a9190a89dee9396e0d3d2d0")


def test_known_answer_for_a_platform_record_with_nothing_optional():
    ev = AuditEvent(chain="platform", seq=17, customer_id=None, occurred_at=AT, actor_id=None,
                    actor_role=None, action="account.sign_in", object_type=None,
                    object_id=None, subject_id=None, ticket_id=None, prev_hash="ab" * 32)
    assert audit.compute_hash(ev) == sha(BARE)


def test_every_field_is_covered_by_the_hash():
    base = audit.compute_hash(full_event())
    other = uuid.UUID("55555555-5555-5555-5555-555555555555")
    for change in ({"chain": "platform"}, {"seq": 2}, {"customer_id": other},
                   {"occurred_at": AT + dt.timedelta(microseconds=1)}, {"actor_id": other},
                   {"actor_role": "worker"}, {"action": "member.write"},
                   {"object_type": "site"}, {"object_id": "43"}, {"subject_id": other},
                   {"ticket_id": other}, {"prev_hash": "f" * 64}):
        assert audit.compute_hash(full_event(**change)) != base, change


def test_chain_names():
    assert audit.chain_name(CID) == "customer:11111111-1111-1111-1111-111111111111"
    assert audit.chain_name(None) == "platform"


def test_the_first_record_links_to_the_genesis_and_the_head_follows(session, world):
    cid = world.a.customer.id
    actor, subject, ticket = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with clock.frozen_at(AT):
        ev = audit.record(session, action="member.read", customer_id=cid, actor_id=actor,
                          actor_role="admin", object_type="membership", object_id=42,
                          subject_id=subject, ticket_id=ticket)
    assert (ev.chain, ev.seq, ev.prev_hash) == (f"customer:{cid}", 1, ZERO)
    assert (ev.occurred_at, ev.object_id, ev.customer_id) == (AT, "42", cid)
    expected = sha(
        '{"action":"member.read","actor_id":"' + str(actor) + '","actor_role":"admin",'
        '"chain":"customer:' + str(cid) + '","customer_id":"' + str(cid) + '",'
        '"object_id":"42","object_type":"membership",'
        '"occurred_at":"2027-03-04T05:06:07.000008+00:00","prev_hash":"' + ZERO + '",'
        '"seq":1,"subject_id":"' + str(subject) + '","ticket_id":"' + str(ticket) + '"}')
    assert ev.hash == expected
    head = session.get(AuditChainHead, f"customer:{cid}")
    assert (head.seq, head.hash, head.anchor_seq, head.anchor_hash, head.customer_id) == (
        1, expected, 0, ZERO, cid)
    assert head.updated_at.replace(tzinfo=UTC) == AT
    # It is flushed: a query finds it without a commit.
    assert session.scalar(select(AuditEvent.hash).where(AuditEvent.id == ev.id)) == expected
    later = AT + dt.timedelta(hours=1)
    with clock.frozen_at(later):
        ev2 = audit.record(session, action="member.read", customer_id=cid)
    assert (ev2.seq, ev2.prev_hash, ev2.object_id, ev2.actor_id) == (2, expected, None, None)
    session.refresh(head)
    assert (head.seq, head.hash) == (2, ev2.hash)
    assert head.updated_at.replace(tzinfo=UTC) == later
    # The head waits for the commit to be published to the witness.
    assert session.info[journal._PENDING_HEADS][f"customer:{cid}"] == (2, ev2.hash)
    assert audit.count(session, cid) == 2
    assert audit.count(session, uuid.uuid4()) == 0


def _chain(session, cid, n):
    for i in range(n):
        with clock.frozen_at(AT + dt.timedelta(days=i)):
            audit.record(session, action="member.read", customer_id=cid)
    return f"customer:{cid}"


def _breaks(session, chain=None):
    return [(b.chain, b.seq, b.problem) for b in audit.verify(session, chain)]


def _set_head(session, name, **values):
    """Change the head behind the session's back (as another transaction, or a tamperer,
    would): the copy the session holds is left as it was."""
    session.execute(update(AuditChainHead).where(AuditChainHead.chain == name).values(**values)
                    .execution_options(synchronize_session=False))


def test_records_beyond_the_recorded_head(session, world):
    name = _chain(session, world.a.customer.id, 3)
    _set_head(session, name, seq=2)
    assert _breaks(session, name) == [(name, 3, "records beyond the recorded chain head")]


def test_a_last_record_that_does_not_match_the_head(session, world):
    name = _chain(session, world.a.customer.id, 3)
    _set_head(session, name, hash="f" * 64)
    assert _breaks(session, name) == [(name, 3, "last record does not match the chain head")]


def test_a_missing_head_and_the_chains_after_it(session, world):
    """A chain with no head is reported, and verify goes on to the chains after it."""
    a = _chain(session, world.a.customer.id, 2)
    b = _chain(session, world.b.customer.id, 2)
    first, second = sorted([a, b])
    session.execute(delete(AuditChainHead).where(AuditChainHead.chain == first))
    _set_head(session, second, hash="e" * 64)
    found = _breaks(session)
    assert (first, 2, "chain head missing") in found
    assert (second, 2, "last record does not match the chain head") in found
    assert _breaks(session, first) == [(first, 2, "chain head missing")]
    assert audit.chains(session) == sorted({first, second} | set(audit.chains(session)))


def test_a_head_with_no_records_must_match_its_anchor(session, world):
    name = "customer:" + str(world.a.customer.id)
    session.add(AuditChainHead(chain=name, customer_id=world.a.customer.id, seq=0,
                               hash="a" * 64, anchor_seq=0, anchor_hash=ZERO))
    session.flush()
    assert name in audit.chains(session)
    assert _breaks(session, name) == [(name, 0, "last record does not match the chain head"),
                                      (name, 0, "chain head does not match its anchor")]
    _set_head(session, name, hash=ZERO)
    assert _breaks(session, name) == []
    # All records pruned: the head and its anchor agree at seq 5.
    _set_head(session, name, seq=5, hash="c" * 64, anchor_seq=5, anchor_hash="c" * 64)
    assert _breaks(session, name) == []
    # The records after the anchor were removed: that is missing records, not an anchor issue.
    _set_head(session, name, seq=7)
    assert _breaks(session, name) == [(name, 6, "records 6..7 at the end are missing")]


def test_verify_checks_only_the_named_chain(session, world):
    a = _chain(session, world.a.customer.id, 2)
    b = _chain(session, world.b.customer.id, 2)
    _set_head(session, b, hash="d" * 64)
    assert _breaks(session, a) == []
    assert _breaks(session, b) == [(b, 2, "last record does not match the chain head")]


def test_pruning_keeps_a_record_that_occurred_exactly_at_the_cut(session, world):
    cid = world.a.customer.id
    name = _chain(session, cid, 4)  # at AT, AT+1d, AT+2d, AT+3d
    cut = AT + dt.timedelta(days=2)
    assert audit.prune_prefix(session, name, before=cut, limit=10) == 2
    seqs = sorted(session.scalars(select(AuditEvent.seq).where(AuditEvent.chain == name)))
    assert seqs == [3, 4]
    head = session.get(AuditChainHead, name)
    assert head.anchor_seq == 2
    assert _breaks(session, name) == []
    assert audit.prune_prefix(session, name, before=cut, limit=10) == 0
    assert audit.prune_prefix(session, "customer:" + str(uuid.uuid4()), before=cut,
                              limit=10) == 0


def test_pruning_everything_old_with_no_young_record(session, world):
    cid = world.a.customer.id
    name = _chain(session, cid, 3)
    with clock.frozen_at(AT + dt.timedelta(days=30)):
        assert audit.prune_prefix(session, name, before=AT + dt.timedelta(days=10),
                                  limit=10) == 3
    head = session.get(AuditChainHead, name)
    assert (head.anchor_seq, head.anchor_hash) == (3, head.hash)
    assert head.updated_at.replace(tzinfo=UTC) == AT + dt.timedelta(days=30)
    assert audit.count(session, cid) == 0
    assert _breaks(session, name) == []


def test_acknowledging_a_restore(session, world, app):
    name = _chain(session, world.a.customer.id, 2)
    with app.app_context():
        heads = audit.acknowledge_restore(session)
    ev = session.scalars(select(AuditEvent).where(AuditEvent.chain == "platform")
                         .order_by(AuditEvent.seq.desc())).first()
    assert (ev.action, ev.actor_role, ev.object_type, ev.customer_id) == (
        "audit.restore_acknowledged", "operator", "audit_heads", None)
    assert heads[name][0] == 2
    assert heads["platform"] == (ev.seq, ev.hash)
    with app.app_context():
        published, bad = journal.published_heads()
    assert bad == []
    assert published[name] == heads[name]


def test_pruning_one_chain_leaves_the_others(session, world):
    """Two chains with the same sequence numbers: pruning one neither deletes the other's
    records nor takes its anchor from them, and the other's young record does not stop it."""
    a = _chain(session, world.a.customer.id, 3)  # AT .. AT+2d
    with clock.frozen_at(AT + dt.timedelta(days=40)):
        audit.record(session, action="member.read", customer_id=world.b.customer.id)
    b = f"customer:{world.b.customer.id}"
    _chain(session, world.b.customer.id, 4)  # seq 2..5 of b: old, and beyond a's last seq
    a_hashes = dict(session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                    .where(AuditEvent.chain == a)).all())
    assert audit.prune_prefix(session, a, before=AT + dt.timedelta(days=10), limit=10) == 3
    head = session.get(AuditChainHead, a)
    assert (head.anchor_seq, head.anchor_hash) == (3, a_hashes[3])
    assert sorted(session.scalars(select(AuditEvent.seq).where(AuditEvent.chain == b))) == [
        1, 2, 3, 4, 5]
    assert _breaks(session) == []
    # b's first record is young: nothing of b goes.
    assert audit.prune_prefix(session, b, before=AT + dt.timedelta(days=10), limit=10) == 0


def test_pruning_reads_the_head_as_it_is_now(session, world):
    """Another pruner may have moved the anchor while this one waited for the chain's lock:
    the head is read afresh, not from what the session held."""
    name = _chain(session, world.a.customer.id, 4)
    hashes = dict(session.execute(select(AuditEvent.seq, AuditEvent.hash)
                                  .where(AuditEvent.chain == name)).all())
    held = session.get(AuditChainHead, name)  # the session's copy, kept alive
    assert held.anchor_seq == 0
    _set_head(session, name, anchor_seq=2, anchor_hash=hashes[2])
    assert audit.prune_prefix(session, name, before=AT + dt.timedelta(days=10), limit=1) == 3
    assert (held.anchor_seq, held.anchor_hash) == (3, hashes[3])


def test_a_restore_acknowledgement_publishes_the_heads_as_they_are_now(session, world, app):
    name = _chain(session, world.a.customer.id, 2)
    held = session.get(AuditChainHead, name)  # the session's copy, kept alive
    assert held.seq == 2
    _set_head(session, name, seq=9, hash="9" * 64)
    with app.app_context():
        heads = audit.acknowledge_restore(session)
    assert heads[name] == (9, "9" * 64)


def test_an_append_continues_from_the_head_as_it_is_now(session, world):
    """Another writer appended while this one waited for the chain's lock: the head is read
    afresh, and the new record follows it."""
    cid = world.a.customer.id
    name = _chain(session, cid, 2)
    held = session.get(AuditChainHead, name)  # the session's copy, kept alive
    assert held.seq == 2
    _set_head(session, name, seq=5, hash="5" * 64)
    ev = audit.record(session, action="member.read", customer_id=cid)
    assert (ev.seq, ev.prev_hash) == (6, "5" * 64)
    assert held.seq == 6


def test_verify_reads_the_head_as_it_is_now(session, world):
    name = _chain(session, world.a.customer.id, 3)
    held = session.get(AuditChainHead, name)  # the session's copy, kept alive
    _set_head(session, name, seq=2)
    assert _breaks(session, name) == [(name, 3, "records beyond the recorded chain head")]
    assert held.seq == 2
