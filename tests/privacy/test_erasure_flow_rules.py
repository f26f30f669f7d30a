"""The erasure flow's steps pinned with literal values (privacy.erasure_flow): the freeze (whose
memberships, sessions and tokens, and nobody else's), the residue check, the rounds, the
journal line, the request's parts carried out in order, the summary the person reads, and
re-applying after a restore.

NOW is 2030-06-01 12:00 UTC; HELD (2029-03-01) is inside the personnel ledger's hold then.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from entryfy import clock
from models import (
    AccessToken,
    Account,
    DataRequest,
    DataRequestPart,
    Device,
    Entry,
    Erasure,
    Membership,
)
from models.audit import AuditEvent
from models.tenancy import SYSTEM
from privacy import erasure, erasure_flow, journal
from privacy import requests as dsr
from privacy.erasure_flow import Outcome
from tests.factories import PASSWORD

UTC = dt.UTC
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
HELD = dt.datetime(2029, 3, 1, 7, 0, tzinfo=UTC)
PAST = dt.datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
LEDGER = "personnel_ledger: legal hold"


# ------------------------------------------------------------------ the summary

def test_the_summary_counts_and_names_each_withheld_rule():
    o = Outcome({"deleted": 3, "anonymised": 1, "withheld": 4},
                [{"table": "entries", "rule": "personnel_ledger"},
                 {"table": "entries", "rule": "personnel_ledger"},
                 {"table": "audit_events", "rule": "audit_log"},
                 {"table": "tickets", "rule": None},
                 {"table": "tickets"}], {}, 1)
    assert o.clean is True
    assert o.summary() == (
        "erased: 3 deleted, 1 anonymised, 4 withheld (audit_events 1 under audit_log; "
        "entries 2 under personnel_ledger: legal hold; tickets 2 under no rule)")


def test_the_summary_says_what_is_left_after_the_rounds():
    o = Outcome({"deleted": 0, "anonymised": 2, "withheld": 0}, [],
                {"entries": 2, "devices": 1}, 5)
    assert o.clean is False
    assert o.summary() == (
        "erased: 0 deleted, 2 anonymised, 0 withheld. NOT COMPLETE: rows still hold data "
        "about the person after 5 rounds: devices 1, entries 2; the request stays open and "
        "is tried again")


def test_rule_texts_and_journal_times():
    assert erasure_flow._rule_text("personnel_ledger") == LEDGER
    assert erasure_flow._rule_text("audit_log") == "audit_log"
    assert erasure_flow._rule_text("no_such_rule") == "no_such_rule"
    assert erasure_flow._when("2030-06-01T14:00:00+02:00") == NOW
    assert erasure_flow._when("2030-06-01T14:00:00+02:00").utcoffset() == dt.timedelta(hours=2)
    naive = erasure_flow._when("2030-06-01T12:00:00")
    assert naive == NOW and naive.tzinfo is UTC
    assert erasure_flow._when("yesterday") is None
    assert erasure_flow._when("") is None


def test_constants():
    assert erasure_flow.MAX_ROUNDS == 5
    assert dt.timedelta(minutes=15) == erasure_flow.LOCK_TTL
    assert erasure_flow.ROUND_PAUSE_S == 0.05


# ------------------------------------------------------------------ the cast

class Cast:
    """Customer A (a ledger site) and B; the person ``me`` in both, ``other`` in A; each with
    a device token and a browser session."""

    def __init__(self, s: Any, make: Any) -> None:
        self.s = s
        self.a, self.b = make.customer(), make.customer()
        self.site = make.site(self.a, ledger_id="LEDGER-A")
        self.b_site = make.site(self.b, ledger_id="LEDGER-B")
        self.admin_a = make.account()
        make.membership(self.a, self.admin_a, "admin")
        self.admin_b = make.account()
        make.membership(self.b, self.admin_b, "admin")
        self.me = make.account(email="zelma.q@example.test", first_name="Zelma",
                               last_name="Quist", phone="+46700000001")
        self.other = make.account(email="olle.o@example.test")
        self.me_a = make.membership(self.a, self.me, "member").id
        self.me_b = make.membership(self.b, self.me, "member").id
        self.other_a = make.membership(self.a, self.other, "member").id
        self.tokens = {k: self.token(who) for k, who in (("me", self.me),
                                                         ("other", self.other))}
        self.me_id, self.other_id = self.me.id, self.other.id

    def token(self, who: Account, revoked: dt.datetime | None = None) -> uuid.UUID:
        t = AccessToken(id=uuid.uuid4(), account_id=who.id, kind="device",
                        token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                        expires_at=NOW + dt.timedelta(days=30), revoked_at=revoked)
        self.s.add(t)
        self.s.commit()
        return t.id

    def entry(self, who: Account, site: Any, at: dt.datetime) -> uuid.UUID:
        e = Entry(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id,
                  account_id=who.id, checked_in_at=at, checked_out_at=at + dt.timedelta(hours=8),
                  source="app", created_at=at)
        self.s.add(e)
        self.s.commit()
        return e.id


@pytest.fixture
def cast(session, make):
    return Cast(session, make)


def _active(s: Any, *ids: uuid.UUID) -> list[bool | None]:
    s.expire_all()
    out = []
    for i in ids:
        m = s.get(Membership, i)
        out.append(None if m is None else m.active)
    return out


def _revoked(s: Any, token_id: uuid.UUID) -> dt.datetime | None:
    s.expire_all()
    return s.get(AccessToken, token_id).revoked_at


def test_the_address_of_an_account_unless_erased(session, make):
    s = session
    acc = make.account(email="Mixed.Case@Example.test")
    gone = make.account(email="x@example.test")
    gone.email = f"erased-{gone.id}@erased.invalid"
    s.commit()
    assert erasure_flow._email_of(s, acc.id) == "mixed.case@example.test"
    assert erasure_flow._email_of(s, gone.id) is None
    assert erasure_flow._email_of(s, uuid.uuid4()) is None


# ------------------------------------------------------------------ freeze

def test_freezing_a_customers_part_switches_off_only_that_membership(session, cast):
    s, c = session, cast
    with clock.frozen_at(NOW):
        erasure_flow.freeze(s, c.me_id, c.a.id)
        s.commit()
    assert _active(s, c.me_a, c.me_b, c.other_a) == [False, True, True]
    me = s.get(Account, c.me_id)
    assert me.is_active is True
    assert _revoked(s, c.tokens["me"]) is None
    ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "erasure.freeze"))
    assert (ev.customer_id, ev.actor_id, ev.actor_role, ev.object_type, ev.object_id,
            ev.subject_id) == (c.a.id, None, "system", "account", str(c.me_id), c.me_id)


def test_freezing_the_person_switches_off_the_account_and_every_sign_in(session, cast):
    s, c = session, cast
    earlier = NOW - dt.timedelta(days=3)
    old = c.token(c.me, revoked=earlier)
    with clock.frozen_at(NOW):
        erasure_flow.freeze(s, c.me_id, None)
        s.commit()
    assert _active(s, c.me_a, c.me_b, c.other_a) == [False, False, True]
    assert s.get(Account, c.me_id).is_active is False
    assert s.get(Account, c.other_id).is_active is True
    assert _revoked(s, c.tokens["me"]) == NOW
    assert _revoked(s, old) == earlier  # revoked before: its time stays
    assert _revoked(s, c.tokens["other"]) is None
    ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "erasure.freeze"))
    assert (ev.customer_id, ev.subject_id, ev.object_id) == (None, c.me_id, str(c.me_id))


# ------------------------------------------------------------------ residue

def test_residue_is_what_erasure_would_still_change(session, cast):
    from models.support import Ticket

    s, c = session, cast
    held = c.entry(c.me, c.site, HELD)
    past = c.entry(c.me, c.site, PAST)
    c.entry(c.me, c.b_site, PAST)
    c.entry(c.other, c.site, PAST)
    ticket = Ticket(id=uuid.uuid4(), customer_id=c.a.id, opened_by_id=c.me_id,
                    subject="Gate", status="open", updated_at=HELD)
    # An invitation to the address: a second membership row of the person in A.
    s.add_all([ticket, Membership(id=uuid.uuid4(), customer_id=c.a.id, role="member",
                                  invited_email="zelma.q@example.test")])
    s.commit()
    email = "zelma.q@example.test"
    with clock.frozen_at(NOW):
        assert erasure_flow.residue(s, c.me_id, email, customer_id=c.a.id,
                                    platform=False) == {
            "entries": 1, "memberships": 2, "tickets": 1}
        # The platform part sees no tenant rows; its account row is still to be erased.
        # The account row is held (the ledger entry names it): not residue.
        assert erasure_flow.residue(s, c.me_id, email, customer_id=None, platform=True) == {
            "access_tokens": 1}
        erasure.execute(s, c.me_id, customer_id=c.a.id, platform=False)
        s.commit()
        assert erasure_flow.residue(s, c.me_id, email, customer_id=c.a.id,
                                    platform=False) == {}
        assert erasure_flow.residue(s, c.me_id, email, customer_id=c.b.id,
                                    platform=False) == {"entries": 1, "memberships": 1}
    s.expire_all()
    assert s.get(Entry, held).restricted is True and s.get(Entry, past) is None
    assert s.get(Ticket, ticket.id).opened_by_id is None


def test_residue_of_the_platform_part(session, cast):
    s, c = session, cast
    s.add(Device(id=uuid.uuid4(), account_id=c.me_id, device_hash="d" * 64))
    s.commit()
    # An access request, answered: its record and history (kept, anonymised; the history
    # holds nothing about the person, so it is never residue).
    with clock.frozen_at(NOW):
        dsr.submit(s, s.get(Account, c.me_id), "access", "Zelma asks", PASSWORD)
    s.commit()
    with clock.frozen_at(NOW):
        before = erasure_flow.residue(s, c.me_id, "zelma.q@example.test", customer_id=None,
                                      platform=True)
        assert before == {"access_tokens": 1, "devices": 1, "data_requests": 1, "accounts": 1}
        erasure.execute(s, c.me_id, customer_id=None, platform=True)
        s.commit()
        # The account stays (the memberships still name it), emptied: not residue.
        assert erasure_flow.residue(s, c.me_id, None, customer_id=None, platform=True) == {}
    s.expire_all()
    assert s.get(Account, c.me_id).first_name == ""


# ------------------------------------------------------------------ one erasure

def _lines(witness_dir) -> list[dict[str, Any]]:
    path = witness_dir / "erasures.jsonl"
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_erase_freezes_journals_erases_and_checks(database, session, cast, witness_dir):
    s, c = session, cast
    held = c.entry(c.me, c.site, HELD)
    past = c.entry(c.me, c.site, PAST)
    request_id = uuid.uuid4()
    with clock.frozen_at(NOW):
        out = erasure_flow.erase(database, account_id=c.me_id, request_id=request_id,
                                 customer_id=c.a.id)
    # Withheld: the held entry, and the freeze's own audit event about the person.
    freeze_ev = s.scalar(select(AuditEvent.id).where(AuditEvent.action == "erasure.freeze"))
    assert (out.counts, out.residue, out.rounds) == (
        {"deleted": 2, "anonymised": 0, "withheld": 2}, {}, 1)
    assert sorted((w["table"], w["row_id"], w["rule"]) for w in out.withheld) == [
        ("audit_events", str(freeze_ev), "audit_log"),
        ("entries", str(held), "personnel_ledger")]
    assert out.summary() == ("erased: 2 deleted, 0 anonymised, 2 withheld (audit_events 1 "
                             "under audit_log; entries 1 under personnel_ledger: legal hold)")
    assert _active(s, c.me_a, c.me_b) == [None, True]
    assert s.get(Entry, past) is None
    [line] = _lines(witness_dir)
    assert (line["account_id"], line["request_id"], line["customer_id"], line["email_hash"],
            line["at"]) == (str(c.me_id), str(request_id), str(c.a.id),
                            erasure.email_hash("zelma.q@example.test"), NOW.isoformat())
    er = s.scalar(select(Erasure).where(Erasure.account_id == c.me_id))
    assert (er.request_id, er.customer_id, er.withheld) == (request_id, c.a.id, 2)


def test_erase_without_a_journal_line_and_for_the_platform(database, session, cast,
                                                            witness_dir):
    s, c = session, cast
    with clock.frozen_at(NOW):
        out = erasure_flow.erase(database, account_id=c.other_id, request_id=None,
                                 customer_id=None, journal_line=False)
    assert _lines(witness_dir) == []
    assert out.clean and out.rounds == 1
    s.expire_all()
    acc = s.get(Account, c.other_id)
    # Frozen, then emptied: customer A still holds the membership.
    assert (acc.is_active, acc.email) == (False, f"erased-{c.other_id}@erased.invalid")
    assert s.get(AccessToken, c.tokens["other"]) is None
    assert _active(s, c.other_a) == [False]
    # Again, journalled: the address is gone by now, so the line has no hash of it.
    with clock.frozen_at(NOW):
        again = erasure_flow.erase(database, account_id=c.other_id, request_id=None,
                                   customer_id=None)
    assert again.clean
    [line] = _lines(witness_dir)
    assert (line["account_id"], line["email_hash"], line["customer_id"]) == (
        str(c.other_id), None, None)


def test_erase_goes_round_again_while_residue_is_found(database, session, cast, monkeypatch,
                                                      caplog):
    s, c = session, cast
    held = c.entry(c.me, c.site, HELD)
    answers = [{"entries": 2, "tickets": 1}, {"entries": 1}, {}]
    asked: list[Any] = []
    pauses: list[float] = []

    def residue(s: Any, *a: Any, **k: Any) -> dict[str, int]:
        asked.append((a, k))
        return answers.pop(0)

    monkeypatch.setattr(erasure_flow, "residue", residue)
    monkeypatch.setattr(erasure_flow.time, "sleep", pauses.append)
    with clock.frozen_at(NOW), caplog.at_level("INFO", logger="privacy.erasure_flow"):
        out = erasure_flow.erase(database, account_id=c.me_id, request_id=None,
                                 customer_id=c.a.id)
    assert out.rounds == 3 and out.residue == {}
    assert pauses == [0.05, 0.1]
    assert asked == [((c.me_id, "zelma.q@example.test"),
                      {"customer_id": c.a.id, "platform": False})] * 3
    assert [r.getMessage() for r in caplog.records if r.name == "privacy.erasure_flow"] == [
        "erasure residue round=1 tables=2", "erasure residue round=2 tables=1"]
    # Every round under the one tombstone; the held row counted once in the outcome.
    # (withheld: the entry and the freeze's audit event, once each in the outcome)
    assert out.counts == {"deleted": 1, "anonymised": 0, "withheld": 2}
    [er] = s.scalars(select(Erasure).where(Erasure.account_id == c.me_id)).all()
    assert (er.performed_at, er.reapplied_at, er.withheld) == (NOW, NOW, 6)
    assert sorted(w["table"] for w in out.withheld) == ["audit_events", "entries"]
    assert str(held) in {w["row_id"] for w in out.withheld}


def test_a_row_found_by_address_after_the_first_round_goes_in_the_next(
        database, session, cast, monkeypatch):
    from entryfy import outbox
    from models import OutboxMail

    s, c = session, cast
    real = erasure_flow.residue
    calls = []

    def residue(t: Any, *a: Any, **k: Any) -> dict[str, int]:
        calls.append(a)
        if len(calls) == 1:
            # A mail to the person is queued just after the first round read its rows (the
            # account's address is erased by then).
            outbox.write_mail(t, "olle.o@example.test", "Late", "Queued in a race")
            return {"outbox_mails": 1}
        return real(t, *a, **k)

    monkeypatch.setattr(erasure_flow, "residue", residue)
    monkeypatch.setattr(erasure_flow.time, "sleep", lambda _: None)
    with clock.frozen_at(NOW):
        out = erasure_flow.erase(database, account_id=c.other_id, request_id=None,
                                 customer_id=None)
    assert (out.rounds, out.residue) == (2, {})
    s.expire_all()
    assert s.scalar(select(OutboxMail.id)) is None
    assert s.get(Account, c.other_id).email == f"erased-{c.other_id}@erased.invalid"


def test_erase_stops_after_five_rounds(database, session, cast, monkeypatch):
    c = cast
    pauses: list[float] = []
    monkeypatch.setattr(erasure_flow, "residue", lambda *a, **k: {"devices": 1})
    monkeypatch.setattr(erasure_flow.time, "sleep", pauses.append)
    with clock.frozen_at(NOW):
        out = erasure_flow.erase(database, account_id=c.me_id, request_id=None,
                                 customer_id=c.b.id)
    assert (out.rounds, out.residue, out.clean) == (5, {"devices": 1}, False)
    assert pauses == pytest.approx([0.05, 0.1, 0.15, 0.2, 0.25])


# ------------------------------------------------------------------ a request's erasures

def _erasure_request(database, account_id: uuid.UUID) -> uuid.UUID:
    with database.transaction(SYSTEM) as t:
        req = dsr.submit(t, t.get_one(Account, account_id), "erasure", "Erase me", PASSWORD)
        return req.id


def _parts(s: Any, request_id: uuid.UUID) -> dict[uuid.UUID, tuple[str, str | None]]:
    s.expire_all()
    return {p.customer_id: (p.status, p.outcome) for p in s.scalars(
        select(DataRequestPart).where(DataRequestPart.request_id == request_id))}


def _decide(database, request_id: uuid.UUID, customer_id: uuid.UUID, decision: str = "approve",
            reason: str | None = None, actor_id: uuid.UUID | None = None) -> None:
    from models.tenancy import TenantContext

    with database.transaction(SYSTEM) as t:
        part_id = t.scalar(select(DataRequestPart.id).where(
            DataRequestPart.request_id == request_id,
            DataRequestPart.customer_id == customer_id))
    erasure_flow.decide_part(database, TenantContext(customer_ids=frozenset({customer_id})),
                             part_id, decision=decision, reason=reason, actor_id=actor_id)


def test_parts_are_erased_as_approved_and_the_account_last(database, session, cast,
                                                          witness_dir):
    s, c = session, cast
    held = c.entry(c.me, c.site, HELD)
    rid = _erasure_request(database, c.me_id)
    assert set(_parts(s, rid)) == {c.a.id, c.b.id}
    with clock.frozen_at(NOW):
        # Nothing approved yet: nothing happens.
        erasure_flow.run_pending(database, rid)
        assert _active(s, c.me_a, c.me_b) == [True, True]
        _decide(database, rid, c.a.id, actor_id=c.admin_a.id)
    parts = _parts(s, rid)
    approval = s.scalar(select(AuditEvent).where(AuditEvent.action == "data_request.approve"))
    assert (approval.actor_id, approval.customer_id) == (c.admin_a.id, c.a.id)
    # Withheld besides the entry: the audit events of the freeze and of A's approval.
    assert parts[c.a.id] == ("completed", "erased: 1 deleted, 0 anonymised, 3 withheld "
                                          "(audit_events 2 under audit_log; entries 1 under "
                                          "personnel_ledger: legal hold)")
    assert parts[c.b.id] == ("pending", None)
    # B has not decided: the person is not frozen, their account untouched.
    assert _active(s, c.me_a, c.me_b) == [None, True]
    assert s.get(Account, c.me_id).is_active is True
    assert s.get(DataRequest, rid).status == "waiting_for_customer"
    with clock.frozen_at(NOW):
        _decide(database, rid, c.b.id)
    s.expire_all()
    req = s.get(DataRequest, rid)
    assert req.status == "completed" and req.closed_at == NOW
    # Each part's line (the parts were made at one moment: in either order), then the
    # account's, held for the ledger; the audit events of the freezes are withheld.
    part_a = (f"Customer {c.a.id}: erased: 1 deleted, 0 anonymised, 3 withheld (audit_events "
              f"2 under audit_log; entries 1 under personnel_ledger: legal hold)")
    part_b = (f"Customer {c.b.id}: erased: 1 deleted, 0 anonymised, 2 withheld (audit_events "
              f"2 under audit_log)")
    assert req.outcome.startswith((f"{part_a} {part_b} Your account: erased: ",
                                   f"{part_b} {part_a} Your account: erased: "))
    assert req.outcome.endswith(" withheld (accounts 1 under personnel_ledger: legal hold; "
                                "audit_events 2 under audit_log)")
    acc = s.get(Account, c.me_id)
    assert (acc.first_name, acc.email, acc.is_active) == (
        "Zelma", f"erased-{c.me_id}@erased.invalid", False)
    assert s.get(Entry, held).restricted is True
    # One journal line per part and one for the account, in that order.
    assert [(x["customer_id"], x["request_id"]) for x in _lines(witness_dir)] == [
        (str(c.a.id), str(rid)), (str(c.b.id), str(rid)), (None, str(rid))]
    # Done: running again changes nothing.
    erasure_flow.run_pending(database, rid)
    assert len(_lines(witness_dir)) == 3


def test_the_account_waits_while_any_customer_has_not_decided(database, session, cast,
                                                              witness_dir):
    s, c = session, cast
    rid = _erasure_request(database, c.me_id)
    with database.transaction(SYSTEM) as t:
        part_a = t.scalar(select(DataRequestPart).where(DataRequestPart.request_id == rid,
                                                        DataRequestPart.customer_id == c.a.id))
        part_a.status = "approved"
        # Marked in progress (by hand) while B has not decided: still not the account.
        t.get_one(DataRequest, rid).status = "in_progress"
    erasure_flow.run_pending(database, rid)
    assert {k: v[0] for k, v in _parts(s, rid).items()} == {c.a.id: "completed",
                                                            c.b.id: "pending"}
    assert [x["customer_id"] for x in _lines(witness_dir)] == [str(c.a.id)]
    acc = s.get(Account, c.me_id)
    assert (acc.is_active, acc.email) == (True, "zelma.q@example.test")
    assert _active(s, c.me_b) == [True]


def test_a_part_left_incomplete_stops_the_request(database, session, cast, monkeypatch,
                                                  witness_dir):
    s, c = session, cast
    rid = _erasure_request(database, c.me_id)
    _decide(database, rid, c.b.id, "deny", "We keep it")
    monkeypatch.setattr(erasure_flow, "residue", lambda *a, **k: {"memberships": 1})
    monkeypatch.setattr(erasure_flow.time, "sleep", lambda _: None)
    _decide(database, rid, c.a.id)
    status, outcome = _parts(s, rid)[c.a.id]
    assert status == "approved"
    assert outcome.endswith("NOT COMPLETE: rows still hold data about the person after 5 "
                            "rounds: memberships 1; the request stays open and is tried "
                            "again")
    s.expire_all()
    assert s.get(DataRequest, rid).status == "in_progress"
    # Frozen (everything decided), but the account is not erased before the parts are done.
    acc = s.get(Account, c.me_id)
    assert (acc.is_active, acc.email) == (False, "zelma.q@example.test")
    assert [x["customer_id"] for x in _lines(witness_dir)] == [str(c.a.id)]
    # Approving again resumes (no conflict), and now it completes.
    monkeypatch.undo()
    _decide(database, rid, c.a.id)
    s.expire_all()
    assert _parts(s, rid)[c.a.id][0] == "completed"
    req = s.get(DataRequest, rid)
    assert req.status == "completed"
    # The denial's reason is in the answer, though the platform part has since erased the
    # part's own copy of it with the person's request records.
    assert f"Customer {c.b.id} denied: We keep it" in req.outcome
    assert _parts(s, rid)[c.b.id][0] == "denied"


def test_run_pending_leaves_other_requests_alone(database, session, cast, witness_dir):
    s, c = session, cast
    with database.transaction(SYSTEM) as t:
        access = dsr.submit(t, t.get_one(Account, c.me_id), "access", None, PASSWORD).id
    erasure_flow.run_pending(database, access)
    erasure_flow.run_pending(database, uuid.uuid4())
    assert _lines(witness_dir) == []
    assert s.get(Account, c.me_id).is_active is True
    # An erasure request whose person is already gone (account_id cleared).
    rid = _erasure_request(database, c.other_id)
    with database.transaction(SYSTEM) as t:
        t.get_one(DataRequest, rid).account_id = None
        for p in t.scalars(select(DataRequestPart).where(DataRequestPart.request_id == rid)):
            p.status = "approved"
    erasure_flow.run_pending(database, rid)
    assert _lines(witness_dir) == []
    # An open rectification whose part is approved: not an erasure.
    with database.transaction(SYSTEM) as t:
        fix = dsr.submit(t, t.get_one(Account, c.me_id), "rectification", "Name", PASSWORD).id
        for p in t.scalars(select(DataRequestPart).where(DataRequestPart.request_id == fix)):
            p.status = "approved"
    assert s.get(DataRequest, fix).status == "waiting_for_customer"
    erasure_flow.run_pending(database, fix)
    # A closed erasure request with a part left approved: not acted on.
    closed = _erasure_request(database, c.me_id)
    with database.transaction(SYSTEM) as t:
        t.get_one(DataRequest, closed).status = "denied"
        for p in t.scalars(select(DataRequestPart).where(DataRequestPart.request_id == closed)):
            p.status = "approved"
    erasure_flow.run_pending(database, closed)
    # An erasure request received and not yet verified (so not routed: no parts at all).
    with database.transaction(SYSTEM) as t:
        unverified = DataRequest(id=uuid.uuid4(), account_id=c.me_id, type="erasure",
                                 status="received", channel="email", received_at=NOW,
                                 due_at=NOW + dt.timedelta(days=30), extended_months=0)
        t.add(unverified)
    erasure_flow.run_pending(database, unverified.id)
    assert _lines(witness_dir) == []
    assert _active(s, c.me_a, c.me_b) == [True, True]
    assert s.get(Account, c.me_id).is_active is True


def test_a_run_holding_the_requests_lock_is_left_to_finish(database, session, cast,
                                                           witness_dir, caplog, monkeypatch):
    from privacy import retention
    from privacy.retention import NamedLock

    s, c = session, cast
    rid = _erasure_request(database, c.other_id)
    other = NamedLock(database, "elsewhere:1", name=f"erasure:{rid.hex}",
                      ttl=erasure_flow.LOCK_TTL)
    made: list[tuple[str, str, dt.timedelta]] = []

    class Spy(NamedLock):
        def __init__(self, db: Any, holder: str, *, name: str, ttl: dt.timedelta) -> None:
            made.append((holder, name, ttl))
            super().__init__(db, holder, name=name, ttl=ttl)

    monkeypatch.setattr(retention, "NamedLock", Spy)
    monkeypatch.setattr(erasure_flow.socket, "gethostname", lambda: "h" * 250)
    assert other.acquire()
    try:
        with caplog.at_level("INFO", logger="privacy.erasure_flow"):
            _decide(database, rid, c.a.id)
        assert _lines(witness_dir) == []
        assert [r.getMessage() for r in caplog.records
                if r.name == "privacy.erasure_flow"] == [
            "erasure already running elsewhere; left to it"]
        [(holder, name, ttl)] = made
        assert (name, ttl) == (f"erasure:{rid.hex}", dt.timedelta(minutes=15))
        assert re.fullmatch("h{200}:[0-9a-f]{8}", holder), holder
        assert _parts(s, rid)[c.a.id][0] == "approved"
    finally:
        other.release()
    # The lock is released after a run: a second run takes it again.
    erasure_flow.run_pending(database, rid)
    assert _parts(s, rid)[c.a.id][0] == "completed"
    assert NamedLock(database, "next:1", name=f"erasure:{rid.hex}",
                     ttl=erasure_flow.LOCK_TTL).acquire()


def test_an_ended_customer_is_erased_by_the_vendor(database, session, cast, witness_dir):
    from models import Customer

    s, c = session, cast
    held = c.entry(c.me, c.b_site, HELD)
    s.get(Customer, c.b.id).status = "ended"
    s.execute(Membership.__table__.delete().where(Membership.id == c.me_b))
    s.commit()
    rid = _erasure_request(database, c.me_id)
    assert set(_parts(s, rid)) == {c.a.id}
    with clock.frozen_at(NOW):
        _decide(database, rid, c.a.id)
    s.expire_all()
    req = s.get(DataRequest, rid)
    assert req.status == "completed"
    # Withheld there: the entry, and the audit event of the freeze for B's part.
    assert (f" Customer {c.b.id} (contract ended, handled by the vendor): erased: 0 deleted, "
            f"0 anonymised, 2 withheld (audit_events 1 under audit_log; entries 1 under "
            f"personnel_ledger: legal hold) Your account: erased: ") in req.outcome
    assert s.get(Entry, held).restricted is True
    # Each line names the request, the ended customer's too.
    assert [(x["customer_id"], x["request_id"]) for x in _lines(witness_dir)] == [
        (str(c.a.id), str(rid)), (str(c.b.id), str(rid)), (None, str(rid))]


def test_an_ended_customer_left_incomplete_stops_before_the_account(
        database, session, cast, witness_dir, monkeypatch):
    from models import Customer

    s, c = session, cast
    c.entry(c.me, c.b_site, HELD)
    s.get(Customer, c.b.id).status = "ended"
    s.execute(Membership.__table__.delete().where(Membership.id == c.me_b))
    s.commit()
    rid = _erasure_request(database, c.me_id)
    real = erasure_flow.residue

    def residue(s: Any, account_id: Any, email: Any, *, customer_id: Any, platform: bool
                ) -> dict[str, int]:
        if customer_id == c.b.id:
            return {"entries": 1}
        return real(s, account_id, email, customer_id=customer_id, platform=platform)

    monkeypatch.setattr(erasure_flow, "residue", residue)
    monkeypatch.setattr(erasure_flow.time, "sleep", lambda _: None)
    with clock.frozen_at(NOW):
        _decide(database, rid, c.a.id)
    s.expire_all()
    req = s.get(DataRequest, rid)
    assert req.status == "in_progress" and req.closed_at is None
    assert req.outcome.endswith(
        f" Customer {c.b.id} (contract ended, handled by the vendor): erased: 0 deleted, 0 "
        f"anonymised, 2 withheld (audit_events 1 under audit_log; entries 1 under "
        f"personnel_ledger: legal hold). NOT COMPLETE: rows still hold data about the person "
        f"after 5 rounds: entries 1; the request stays open and is tried again")
    # The account is frozen, not erased: no journal line for it.
    assert [x["customer_id"] for x in _lines(witness_dir)] == [str(c.a.id), str(c.b.id)]
    acc = s.get(Account, c.me_id)
    assert (acc.is_active, acc.email) == (False, "zelma.q@example.test")


def test_submit_carries_out_an_erasure_nobody_has_to_decide(database, session, make,
                                                            witness_dir):
    s = session
    solo = make.account(email="solo.q@example.test")
    solo_id = solo.id
    body, created = erasure_flow.submit(database, solo, "erasure", "Forget me", PASSWORD,
                                        idempotency_key="k-1")
    assert created is True and body["status"] == "completed" and body["type"] == "erasure"
    assert [x["account_id"] for x in _lines(witness_dir)] == [str(solo_id)]
    s.expire_all()
    # Kept without the person: the request record's details are cleared by the erasure.
    assert s.get(DataRequest, body["id"]).details is None
    s.expire_all()
    assert s.get(Account, solo_id) is None


def test_submit_of_another_type_erases_nothing(database, session, make, witness_dir):
    acc = make.account()
    body, created = erasure_flow.submit(database, acc, "access", "My data", PASSWORD,
                                        idempotency_key=None)
    assert created is True and body["status"] == "completed"
    assert body["details"] == "My data"
    again, created_again = erasure_flow.submit(database, acc, "access", None, PASSWORD,
                                               idempotency_key=None)
    assert created_again is True and again["id"] != body["id"]
    keyed, _ = erasure_flow.submit(database, acc, "access", None, PASSWORD,
                                   idempotency_key="tap")
    replay, created_replay = erasure_flow.submit(database, acc, "access", None, PASSWORD,
                                                 idempotency_key="tap")
    assert (replay["id"], created_replay) == (keyed["id"], False)
    assert _lines(witness_dir) == []


def test_submit_twice_at_once_answers_with_the_first(database, session, make, monkeypatch,
                                                     witness_dir):
    acc = make.account()
    first, _ = erasure_flow.submit(database, acc, "access", "Mine", PASSWORD,
                                   idempotency_key="same")
    clash = IntegrityError("INSERT", {}, Exception("unique"))

    def refused(*a: Any, **k: Any) -> Any:
        raise clash

    monkeypatch.setattr(dsr, "submit_once", refused)
    body, created = erasure_flow.submit(database, acc, "access", "Mine", PASSWORD,
                                        idempotency_key="same")
    assert (body["id"], created) == (first["id"], False)
    assert _lines(witness_dir) == []  # a replay erases nothing
    monkeypatch.setattr(dsr, "replayed", lambda *a, **k: None)
    with pytest.raises(IntegrityError) as e:
        erasure_flow.submit(database, acc, "access", None, PASSWORD, idempotency_key="other")
    assert e.value is clash


def test_confirm_from_outside_runs_the_erasure_or_raises_the_codes_error(
        database, session, make, monkeypatch, witness_dir):
    from entryfy.errors import Unprocessable

    solo = make.account(email="outside.q@example.test")
    solo_id = solo.id
    rid = _erasure_request(database, solo_id)

    def right(s: Any, vid: Any, code: str) -> Any:
        assert (vid, code) == (rid, "123456")
        return s.get(DataRequest, rid), None

    monkeypatch.setattr(dsr, "check_code", right)
    body = erasure_flow.confirm_from_outside(database, rid, "123456")
    assert body["id"] == rid and body["status"] == "completed"
    assert [x["account_id"] for x in _lines(witness_dir)] == [str(solo_id)]
    wrong = Unprocessable("Wrong code.", slug="code-wrong")
    monkeypatch.setattr(dsr, "check_code", lambda s, vid, code: (None, wrong))
    with pytest.raises(Unprocessable) as e:
        erasure_flow.confirm_from_outside(database, rid, "000000")
    assert e.value is wrong


def test_resume_all_runs_every_open_erasure_with_approved_work(database, session, cast,
                                                               make, witness_dir):
    s, c = session, cast
    solo = make.account().id
    waiting = _erasure_request(database, c.me_id)  # A's part approved below, B's pending
    ready = _erasure_request(database, solo)  # no customer: in progress
    other = _erasure_request(database, c.other_id)  # one part, approved below
    with database.transaction(SYSTEM) as t:
        # Approved, and the erasure not run (the witness was down, say).
        [part] = t.scalars(select(DataRequestPart).where(DataRequestPart.request_id == other))
        dsr.decide(t, part, decision="approve", reason=None, actor_id=None)
        part_a = t.scalar(select(DataRequestPart).where(DataRequestPart.request_id == waiting,
                                                        DataRequestPart.customer_id == c.a.id))
        dsr.decide(t, part_a, decision="approve", reason=None, actor_id=None)
        # A request of another type in progress: not an erasure to resume.
        fix = dsr.submit(t, t.get_one(Account, c.other_id), "rectification", None, PASSWORD)
        fix.status = "in_progress"
    s.expire_all()
    assert s.get(DataRequest, ready).status == "in_progress"
    assert s.get(DataRequest, other).status == "in_progress"
    assert s.get(DataRequest, waiting).status == "waiting_for_customer"
    assert erasure_flow.resume_all(database) == 3
    s.expire_all()
    assert s.get(DataRequest, ready).status == "completed"
    assert _parts(s, other)[c.a.id][0] == "completed"
    assert s.get(DataRequest, other).status == "completed"
    # Still waiting for B: only A's approved part was carried out.
    assert s.get(DataRequest, waiting).status == "waiting_for_customer"
    assert {k: v[0] for k, v in _parts(s, waiting).items()} == {c.a.id: "completed",
                                                                c.b.id: "pending"}
    assert sorted((x["account_id"], x["customer_id"] or "") for x in _lines(witness_dir)) == \
        sorted([(str(solo), ""), (str(c.other_id), str(c.a.id)), (str(c.other_id), ""),
                (str(c.me_id), str(c.a.id))])
    assert erasure_flow.resume_all(database) == 0


# ------------------------------------------------------------------ after a restore

def _restored(s: Any, email: str, created: dt.datetime, account_id: uuid.UUID | None = None,
              first_name: str = "Old") -> uuid.UUID:
    acc = Account(id=account_id or uuid.uuid4(), email=email, first_name=first_name,
                  last_name="Copy", password_hash="x", is_active=True, created_at=created)
    s.add(acc)
    s.commit()
    return acc.id


def test_reapply_erases_the_person_restored_under_any_id(database, session, make,
                                                         witness_dir):
    from entryfy import outbox
    from models import OutboxMail

    s = session
    gone = make.account(email="twice.q@example.test")
    gone_id = gone.id
    with clock.frozen_at(NOW):
        erasure_flow.erase(database, account_id=gone_id, request_id=None, customer_id=None)
    s.expire_all()
    assert s.get(Account, gone_id) is None
    # A restore brings the person back, with a mail to the address still waiting.
    same = _restored(s, "twice.q@example.test", NOW - dt.timedelta(days=9), gone_id)
    outbox.write_mail(s, "twice.q@example.test", "Waiting", "A mail not yet sent")
    s.commit()
    with clock.frozen_at(NOW + dt.timedelta(days=2)):
        result = erasure_flow.reapply(database)
    assert (result.checked, result.reapplied, result.bad_lines, result.residue) == (1, 1, [],
                                                                                   {})
    s.expire_all()
    assert s.get(Account, same) is None
    assert s.scalar(select(OutboxMail.id)) is None
    # Re-applied under the journal's erasure, without a new journal line.
    assert len(_lines(witness_dir)) == 1
    # The same person under an older id (an account made before the erasure with the
    # address): erased too, though the line's own account is clean by now.
    older = _restored(s, "twice.q@example.test", NOW - dt.timedelta(days=1))
    result = erasure_flow.reapply(database)
    assert (result.checked, result.reapplied) == (1, 1)
    s.expire_all()
    assert s.get(Account, older) is None
    # Someone signing up with the address at the moment of the erasure, or after it.
    for created, name in ((NOW, "Same moment"), (NOW + dt.timedelta(days=1), "New")):
        new = _restored(s, "twice.q@example.test", created, first_name=name)
        assert erasure_flow.reapply(database).reapplied == 0
        s.expire_all()
        assert s.get(Account, new).first_name == name
        s.delete(s.get(Account, new))
        s.commit()
    lines, bad = journal.erasures()
    assert [x.account_id for x in lines] == [gone_id] and bad == []


def test_reapply_of_a_customers_part_touches_only_that_part(database, session, cast,
                                                             witness_dir):
    s, c = session, cast
    with clock.frozen_at(NOW):
        erasure_flow.erase(database, account_id=c.me_id, request_id=None, customer_id=c.a.id)
    # Nothing restored: the account itself (not erased, B's part still open) is not residue
    # of A's part.
    assert erasure_flow.reapply(database).reapplied == 0
    restored = Membership(id=uuid.uuid4(), customer_id=c.a.id, account_id=c.me_id,
                          role="member")
    s.add(restored)
    s.commit()
    restored_id = restored.id
    result = erasure_flow.reapply(database)
    assert (result.checked, result.reapplied, result.residue) == (1, 1, {})
    s.expire_all()
    assert s.get(Membership, restored_id) is None
    assert _active(s, c.me_b) == [True]
    assert s.get(Account, c.me_id).is_active is True
    # Only an invitation to the person's address comes back: found by the address.
    invite = Membership(id=uuid.uuid4(), customer_id=c.a.id, role="member",
                        invited_email="Zelma.Q@example.test")
    s.add(invite)
    s.commit()
    invite_id = invite.id
    assert erasure_flow.reapply(database).reapplied == 1
    s.expire_all()
    assert s.get(Membership, invite_id) is None


def test_reapply_passes_each_line_and_sums_what_is_left(database, session, cast, monkeypatch,
                                                        caplog):
    c = cast
    rid = uuid.uuid4()
    lines = [journal.ErasureLine(1, c.me_id, None, rid, c.a.id, "2030-06-01T12:00:00+00:00"),
             journal.ErasureLine(2, c.other_id, None, None, None, "not a time")]
    bad = [journal.BadLine(journal.ERASURES, 3, "not JSON")]
    monkeypatch.setattr(journal, "erasures", lambda: (lines, bad))
    checked: list[Any] = []
    erased: list[Any] = []

    def residue(s: Any, *a: Any, **k: Any) -> dict[str, int]:
        checked.append((a, k))
        return {"devices": 1}

    def erase(db: Any, **k: Any) -> Outcome:
        erased.append(k)
        return Outcome({"deleted": 0, "anonymised": 0, "withheld": 0}, [], {"devices": 2}, 3)

    monkeypatch.setattr(erasure_flow, "residue", residue)
    monkeypatch.setattr(erasure_flow, "erase", erase)
    with caplog.at_level("INFO", logger="privacy.erasure_flow"):
        result = erasure_flow.reapply(database)
    assert (result.checked, result.reapplied, result.bad_lines, result.residue) == (
        2, 2, bad, {"devices": 4})
    assert checked == [
        ((c.me_id, "zelma.q@example.test"), {"customer_id": c.a.id, "platform": False}),
        ((c.other_id, "olle.o@example.test"), {"customer_id": None, "platform": True})]
    assert erased == [
        {"account_id": c.me_id, "request_id": rid, "customer_id": c.a.id,
         "email": "zelma.q@example.test", "journal_line": False},
        {"account_id": c.other_id, "request_id": None, "customer_id": None,
         "email": "olle.o@example.test", "journal_line": False}]
    assert [r.getMessage() for r in caplog.records if r.name == "privacy.erasure_flow"] == [
        "erasure re-applied journal_line=1 rounds=3", "erasure re-applied journal_line=2 rounds=3"]
