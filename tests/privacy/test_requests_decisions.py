"""privacy.requests, deciding side, with every value spelled out: a customer's decision (each
refusal, the part's fields, the audit record, the history), restriction by customer, the answer
once every part is decided, the erasure flow's reports, closing the person's other requests, the
vendor's extension and denial, and what the person reads back."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.errors import Conflict, Unprocessable, ValidationFailed
from models import AuditEvent, DataRequest, DataRequestPart, Entry
from privacy import requests as dsr
from tests.privacy.requests_kit import (
    AT,
    DUE,
    UTC,
    capture_mail,
    entry,
    history,
    parts_of,
    submit,
    utc,
)

LATER = AT + dt.timedelta(days=1)
RECTIFICATION = ("You can correct your own account data at PATCH /api/v1/me; customers "
                 "corrected their records where they agreed.")


def two_parts(session, make, world, type_, details=None):
    """world.a.worker, a member of A and B, asks; returns the request and A's and B's parts."""
    person = world.a.worker
    make.membership(world.b.customer, person)
    req, _ = submit(session, person, type_, details)
    by_customer = {p.customer_id: p for p in parts_of(session, req.id)}
    return req, by_customer[world.a.customer.id], by_customer[world.b.customer.id]


def decide(session, part, decision, reason=None, actor=None, at=LATER):
    with clock.frozen_at(at):
        return dsr.decide(session, part, decision=decision, reason=reason,
                          actor_id=actor.id if actor else None)


def audit_of(session, part):
    return [(a.action, a.customer_id, a.actor_id, a.actor_role, a.object_type, a.subject_id)
            for a in session.scalars(select(AuditEvent).where(
                AuditEvent.object_id == str(part.id)).order_by(AuditEvent.seq))]


def _outcome_with(prefix, *notes):
    """The answer's text: the type's sentence, then the customers' notes in either order."""
    return {" ".join([prefix, *notes]), " ".join([prefix, *reversed(notes)])}


# ------------------------------------------------------------------ refusals

def test_a_decision_is_approve_or_deny_and_a_denial_has_a_reason(session, make, world):
    _req, part, _ = two_parts(session, make, world, "rectification")
    with pytest.raises(ValidationFailed) as err:
        decide(session, part, "maybe", "x")
    assert err.value.extra == {"errors": {"decision": ["approve or deny"]}}
    for reason in (None, "", "   "):
        with pytest.raises(ValidationFailed) as err:
            decide(session, part, "deny", reason)
        assert err.value.extra == {"errors": {"reason": ["A denial states its reason."]}}
    assert (part.status, part.decided_at, part.outcome) == ("pending", None, None)
    assert audit_of(session, part) == []


def test_a_part_is_decided_once(session, make, world):
    _req, part, _ = two_parts(session, make, world, "rectification")
    decide(session, part, "deny", "No")
    with pytest.raises(Conflict) as err:
        decide(session, part, "approve")
    assert (err.value.status, err.value.slug, err.value.detail) == (
        409, "already-decided", "This part has been decided.")
    assert part.status == "denied"


def test_a_request_not_waiting_takes_no_decision(session, make, world):
    req, part, _ = two_parts(session, make, world, "rectification")
    req.status = "verified"
    session.flush()
    with pytest.raises(Conflict) as err:
        decide(session, part, "approve")
    assert (err.value.status, err.value.slug, err.value.detail) == (
        409, "not-waiting", "The request is not waiting for a decision.")
    assert part.status == "pending" and part.decided_at is None


def test_a_decision_reads_the_request_and_the_part_afresh(session, make, world):
    """Another transaction may have decided or closed in the meantime: the decision reads
    both rows from the database, not from what this session loaded before."""
    from sqlalchemy import update

    req, part_a, part_b = two_parts(session, make, world, "rectification")
    session.execute(update(DataRequestPart).where(DataRequestPart.id == part_a.id)
                    .values(status="denied").execution_options(synchronize_session=False))
    assert part_a.status == "pending"  # what this session still holds
    with pytest.raises(Conflict) as err:
        decide(session, part_a, "approve")
    assert err.value.slug == "already-decided"
    session.execute(update(DataRequest).where(DataRequest.id == req.id)
                    .values(status="denied").execution_options(synchronize_session=False))
    assert req.status == "waiting_for_customer"
    with pytest.raises(Conflict) as err:
        decide(session, part_b, "approve")
    assert err.value.slug == "not-waiting"
    assert part_b.status == "pending" and part_b.decided_at is None


# ------------------------------------------------------------------ one customer decides

def test_a_denial_is_recorded_and_the_others_still_decide(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part, other = two_parts(session, make, world, "rectification")
    before = len(history(session, req.id))
    sent.clear()
    decide(session, part, "deny", "  Matches the contract.  ", world.a.admin)
    assert (part.status, utc(part.decided_at), part.reason, part.outcome) == (
        "denied", LATER, "Matches the contract.", "denied by the customer")
    assert history(session, req.id)[before:] == [
        (before + 1, "customer_denied", "customer_admin", "denied", part.id,
         world.a.customer.id, "denied by the customer")]
    assert audit_of(session, part) == [
        ("data_request.deny", world.a.customer.id, world.a.admin.id, "admin",
         "data_request_part", world.a.worker.id)]
    assert req.status == "waiting_for_customer" and req.closed_at is None
    assert other.status == "pending"
    assert sent == []


def test_an_approved_rectification_completes_then_the_request(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "rectification")
    # Another person's request still waits at B: it does not hold this one up.
    stranger, _ = submit(session, world.b.worker, "rectification")
    before = len(history(session, req.id))
    decide(session, part_a, "approve", None, world.a.admin)
    assert (part_a.status, utc(part_a.decided_at), part_a.reason, part_a.outcome) == (
        "completed", LATER, None, "the customer has rectified the data")
    assert history(session, req.id)[before:] == [
        (before + 1, "customer_approved", "customer_admin", "approved", part_a.id,
         world.a.customer.id, None),
        (before + 2, "customer_completed", "customer_admin", "completed", part_a.id,
         world.a.customer.id, "the customer has rectified the data")]
    assert audit_of(session, part_a) == [
        ("data_request.approve", world.a.customer.id, world.a.admin.id, "admin",
         "data_request_part", world.a.worker.id)]
    assert req.status == "waiting_for_customer"
    sent.clear()

    done = LATER + dt.timedelta(days=2)
    decide(session, part_b, "deny", "Not ours to change", world.b.admin, at=done)
    assert history(session, req.id)[before + 3:] == [
        (before + 4, "in_progress", "system", "in_progress", None, None, None),
        (before + 5, "completed", "system", "completed", None, None, None)]
    assert (req.status, utc(req.closed_at)) == ("completed", done)
    assert req.outcome in _outcome_with(
        RECTIFICATION, f"Customer {world.a.customer.id}: the customer has rectified the data",
        f"Customer {world.b.customer.id} denied: Not ours to change")
    assert sent == [(world.a.worker.email, "Your privacy request has been answered",
                     f"Your request for rectification (reference {req.id}) is completed.\n\n"
                     + req.outcome)]
    assert stranger.status == "waiting_for_customer"


def test_every_customer_denying_denies_the_request(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "restriction")
    decide(session, part_a, "deny", "Ledger", world.a.admin)
    sent.clear()
    decide(session, part_b, "deny", "Payroll", world.b.admin)
    assert req.status == "denied" and utc(req.closed_at) == LATER
    assert history(session, req.id)[-1][1:] == ("denied", "system", "denied", None, None, None)
    assert req.outcome in _outcome_with(
        "Your account data are needed to run your account; customers' records were "
        "restricted where they agreed.",
        f"Customer {world.a.customer.id} denied: Ledger",
        f"Customer {world.b.customer.id} denied: Payroll")
    assert sent == [(world.a.worker.email, "Your privacy request has been answered",
                     f"Your request for restriction (reference {req.id}) is denied.\n\n"
                     + req.outcome)]


def test_an_approved_restriction_restricts_that_customers_rows_only(session, make, world):
    person = world.a.worker
    mine_a = [entry(session, world.a, person, 2), entry(session, world.a, person, 3)]
    mine_b = entry(session, world.b, person, 2)
    someone_else = entry(session, world.a, world.a.admin, 2)
    _req, part_a, _part_b = two_parts(session, make, world, "restriction")
    decide(session, part_a, "approve", None, world.a.admin)
    assert part_a.outcome == "2 records restricted to storage and legal claims"
    assert part_a.status == "completed"
    session.expire_all()
    assert [session.get(Entry, e.id).restricted for e in mine_a] == [True, True]
    assert session.get(Entry, mine_b.id).restricted is False
    assert session.get(Entry, someone_else.id).restricted is False


def test_restrict_without_a_customer_restricts_the_person_everywhere(session, world):
    person = world.a.worker
    rows = [entry(session, world.a, person, 2), entry(session, world.b, person, 2),
            entry(session, world.b, person, 3)]
    someone_else = entry(session, world.b, world.b.worker, 2)
    assert dsr.restrict(session, person.id, world.b.customer.id) == 2
    assert dsr.restrict(session, person.id, None) == 3
    session.expire_all()
    assert [session.get(Entry, e.id).restricted for e in rows] == [True, True, True]
    assert session.get(Entry, someone_else.id).restricted is False


def test_an_approval_after_the_person_was_erased_has_nothing_left_to_do(session, make, world,
                                                                       monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "restriction")
    decide(session, part_b, "deny", "No", world.b.admin)
    req.account_id = None
    session.flush()
    sent.clear()
    decide(session, part_a, "approve", None, world.a.admin)
    assert (part_a.status, part_a.outcome) == ("completed", "nothing left to do")
    assert req.status == "completed"
    assert sent == []  # nobody left to tell


# ------------------------------------------------------------------ erasure

def test_an_approved_erasure_waits_for_the_erasure_flow(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    req, _ = submit(session, person, "erasure")
    (part,) = parts_of(session, req.id)
    before = len(history(session, req.id))
    sent.clear()
    decide(session, part, "approve", " fine ", world.a.admin)
    assert (part.status, part.reason, part.outcome) == (
        "approved", "fine", "approved: the erasure is under way")
    assert history(session, req.id)[before:] == [
        (before + 1, "customer_approved", "customer_admin", "approved", part.id,
         world.a.customer.id, None),
        (before + 2, "in_progress", "system", "in_progress", None, None, None),
        (before + 3, "erasure_pending", "system", "in_progress", None, None, None)]
    assert audit_of(session, part) == [
        ("data_request.approve", world.a.customer.id, world.a.admin.id, "admin",
         "data_request_part", person.id)]
    assert (req.status, req.closed_at, req.outcome) == ("in_progress", None, None)
    assert sent == []


def test_an_erasure_waits_for_every_customer(session, make, world):
    req, part_a, _part_b = two_parts(session, make, world, "erasure")
    before = len(history(session, req.id))
    decide(session, part_a, "approve")
    assert [h[1] for h in history(session, req.id)[before:]] == ["customer_approved"]
    assert req.status == "waiting_for_customer"


def test_the_erasure_flow_reports_a_part(session, make, world):
    req, part_a, part_b = two_parts(session, make, world, "erasure")
    decide(session, part_a, "approve")
    decide(session, part_b, "approve")
    n = len(history(session, req.id))
    dsr.part_erased(session, req, part_a, "erased: 1 left", complete=False)
    assert (part_a.status, part_a.outcome) == ("approved", "erased: 1 left")
    with clock.frozen_at(LATER):
        dsr.part_erased(session, req, part_b, "erased: 3 deleted", complete=True)
    assert (part_b.status, part_b.outcome) == ("completed", "erased: 3 deleted")
    assert history(session, req.id)[n:] == [
        (n + 1, "erasure_incomplete", "system", "approved", part_a.id, world.a.customer.id,
         "erased: 1 left"),
        (n + 2, "customer_completed", "system", "completed", part_b.id, world.b.customer.id,
         "erased: 3 deleted")]
    session.expire_all()
    assert session.get(DataRequestPart, part_b.id).status == "completed"


def test_the_erasure_is_answered_with_each_customers_outcome(session, make, world):
    req, part_a, part_b = two_parts(session, make, world, "erasure")
    # Another person's part at B, decided: not part of this answer.
    stranger, _ = submit(session, world.b.worker, "rectification")
    decide(session, parts_of(session, stranger.id)[0], "deny", "Someone else's")
    decide(session, part_a, "deny", "Ledger dispute")
    decide(session, part_b, "approve")
    dsr.part_erased(session, req, part_b, "erased: 3 deleted", complete=True)
    # The parts in the order they were made: the one stored first is dated later here.
    first, second = parts_of(session, req.id)
    first.created_at = dt.datetime(2027, 3, 10, 9, 1, tzinfo=UTC)
    second.created_at = dt.datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
    session.flush()
    line = {world.a.customer.id: f"Customer {world.a.customer.id} denied: Ledger dispute",
            world.b.customer.id: f"Customer {world.b.customer.id}: erased: 3 deleted"}
    n = len(history(session, req.id))
    with clock.frozen_at(LATER):
        answer = dsr.parts_answer(session, req)
        dsr.erasure_finished(session, req, [*answer, "Your account: erased."], complete=True)
    assert answer == [line[second.customer_id], line[first.customer_id]]
    assert req.outcome == " ".join([*answer, "Your account: erased."])
    assert (req.status, utc(req.closed_at)) == ("completed", LATER)
    assert history(session, req.id)[n:] == [
        (n + 1, "completed", "system", "completed", None, None, None)]


def test_an_erasure_with_residue_stays_open(session, make, world):
    req, part_a, _part_b = two_parts(session, make, world, "erasure")
    decide(session, part_a, "approve")
    dsr.part_erased(session, req, part_a, "erased: 1 left", complete=False)
    n = len(history(session, req.id))
    answer = dsr.parts_answer(session, req)
    dsr.erasure_finished(session, req, [*answer, "Your account: 2 left."], complete=False)
    # B's part has no outcome yet: only A's is told.
    assert answer == [f"Customer {world.a.customer.id}: erased: 1 left"]
    assert req.outcome == f"Customer {world.a.customer.id}: erased: 1 left Your account: 2 left."
    assert (req.status, req.closed_at) == ("waiting_for_customer", None)
    assert history(session, req.id)[n:] == [
        (n + 1, "erasure_incomplete", "system", "waiting_for_customer", None, None,
         "residue left")]


def test_ended_customers_concerned_lists_the_ended_ones_holding_rows(session, make, world):
    person = world.a.worker
    c = make.tenant()
    d = make.tenant()  # ended, but holds nothing about the person
    make.membership(world.b.customer, person)
    make.membership(c.customer, person)
    for t in (world.b, c, d):
        t.customer.status = "ended"
    session.flush()
    req = DataRequest(id=uuid.uuid4(), account_id=person.id, type="erasure", channel="session",
                      status="in_progress", received_at=AT, due_at=DUE, extended_months=0)
    session.add(req)
    session.flush()
    assert dsr.ended_customers_concerned(session, req) == sorted(
        [world.b.customer.id, c.customer.id])
    req.account_id = None
    assert dsr.ended_customers_concerned(session, req) == []


def test_an_erasure_starting_tells_the_person_and_closes_their_other_requests(
        session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    make.membership(world.b.customer, person)
    rect, _ = submit(session, person, "rectification")
    rect_a, rect_b = parts_of(session, rect.id)
    decide(session, rect_a, "deny", "No")
    done, _ = submit(session, person, "access")
    others = []
    for status in ("received", "verified", "in_progress"):
        r, _ = submit(session, person, "objection")
        r.status, r.closed_at, r.outcome = status, None, None
        others.append(r)
    stranger, _ = submit(session, world.b.worker, "rectification")
    erasure_req = DataRequest(id=uuid.uuid4(), account_id=person.id, type="erasure",
                              channel="session", status="in_progress", received_at=AT,
                              due_at=DUE, extended_months=0)
    session.add(erasure_req)
    session.flush()
    sent.clear()
    with clock.frozen_at(LATER):
        dsr.erasure_starting(session, erasure_req)
    assert sent == [(person.email, "Your privacy request has been answered",
                     f"Your request for erasure (reference {erasure_req.id}) is being carried "
                     "out now: your account and data are erased. Records a law requires us to "
                     "keep are kept, restricted, until that period ends; the answer lists each "
                     "with its rule.")]
    for r in [rect, *others]:
        assert (r.status, utc(r.closed_at), r.outcome) == (
            "completed", LATER, f"Closed: superseded by the erasure request {erasure_req.id}.")
        assert history(session, r.id)[-1][1:] == (
            "completed", "system", "completed", None, None, "superseded by erasure")
    assert (rect_a.status, rect_a.outcome) == ("denied", "denied by the customer")
    assert (rect_b.status, rect_b.outcome) == ("completed",
                                               "closed: the person's data were erased")
    # Closed, someone else's, and the erasure itself: untouched.
    assert (done.status, utc(done.closed_at)) == ("completed", AT)
    assert done.outcome.startswith("Your register extract")
    assert stranger.status == "waiting_for_customer" and stranger.closed_at is None
    assert {p.status for p in parts_of(session, stranger.id)} == {"pending"}
    assert erasure_req.status == "in_progress" and erasure_req.closed_at is None


# ------------------------------------------------------------------ the vendor

def test_an_extension_moves_the_open_parts_and_tells_the_person(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "rectification")
    stranger, _ = submit(session, world.b.worker, "rectification")
    (stranger_part,) = parts_of(session, stranger.id)
    decide(session, part_a, "deny", "No")
    n = len(history(session, req.id))
    sent.clear()
    with pytest.raises(ValidationFailed) as err:
        dsr.extend(session, req, months=1, reason=None)
    assert err.value.extra == {"errors": {"reason": ["State the reason; the person is told."]}}
    with pytest.raises(ValidationFailed) as err:
        dsr.extend(session, req, months=1, reason="")
    with clock.frozen_at(AT + dt.timedelta(days=3)):
        assert dsr.extend(session, req, months=1, reason=" Ledgers to check. ") is req
    new_due = dt.datetime(2027, 5, 10, 9, 0, tzinfo=UTC)
    assert (req.extended_months, req.extension_reason, utc(req.due_at)) == (
        1, "Ledgers to check.", new_due)
    assert utc(part_b.due_at) == new_due - dt.timedelta(days=7)
    assert utc(part_a.due_at) == DUE - dt.timedelta(days=7)  # decided: left as it was
    assert utc(stranger_part.due_at) == DUE - dt.timedelta(days=7)
    assert history(session, req.id)[n:] == [
        (n + 1, "extended", "vendor", "waiting_for_customer", None, None, "by 1 month(s)")]
    assert sent == [(world.a.worker.email, "Your privacy request takes longer",
                     f"We need more time for your request (reference {req.id}): Ledgers to "
                     "check.\n\nWe will answer by 2027-05-10.")]
    with pytest.raises(Unprocessable) as err:
        dsr.extend(session, req, months=1, reason="More")
    assert (err.value.status, err.value.slug, err.value.detail) == (
        422, "already-extended", "A request can be extended once.")


@pytest.mark.parametrize("status", ["received", "verified", "in_progress"])
def test_an_open_request_in_any_state_can_be_extended_and_denied(session, world, status):
    req, _ = submit(session, world.a.worker, "rectification")
    req.status = status
    dsr.extend(session, req, months=2, reason="Busy")
    assert req.extended_months == 2
    dsr.deny(session, req, reason="Unfounded")
    assert req.status == "denied"


@pytest.mark.parametrize("status", ["completed", "denied"])
def test_a_closed_request_is_neither_extended_nor_denied(session, world, status):
    req, _ = submit(session, world.a.worker, "rectification")
    req.status = status
    for act in (lambda: dsr.extend(session, req, months=1, reason="x"),
                lambda: dsr.deny(session, req, reason="x")):
        with pytest.raises(Conflict) as err:
            act()
        assert (err.value.status, err.value.slug, err.value.detail) == (
            409, "request-closed", "The request is closed.")
    assert req.extended_months == 0 and req.status == status


def test_the_vendor_denies_with_its_reason(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "rectification")
    stranger, _ = submit(session, world.b.worker, "rectification")
    decide(session, part_a, "approve")
    for reason in (None, "", "  "):
        with pytest.raises(ValidationFailed) as err:
            dsr.deny(session, req, reason=reason)
        assert err.value.extra == {"errors": {"reason": ["A denial states its reason."]}}
    assert req.status == "waiting_for_customer"
    n = len(history(session, req.id))
    sent.clear()
    with clock.frozen_at(LATER):
        assert dsr.deny(session, req, reason="  Manifestly unfounded. ") is req
    assert (req.status, req.outcome, utc(req.closed_at)) == (
        "denied", "Manifestly unfounded.", LATER)
    assert (part_a.status, part_a.outcome) == ("completed", "the customer has rectified the data")
    assert (part_b.status, part_b.outcome) == ("denied", "closed: the request was denied")
    assert {p.status for p in parts_of(session, stranger.id)} == {"pending"}
    assert history(session, req.id)[n:] == [
        (n + 1, "denied", "vendor", "denied", None, None, None)]
    assert sent == [(world.a.worker.email, "Your privacy request has been denied",
                     f"Your request (reference {req.id}) is denied: Manifestly unfounded.\n\n"
                     "You may complain to Integritetsskyddsmyndigheten (IMY) or go to court.")]


# ------------------------------------------------------------------ reading

def test_the_person_reads_their_requests_newest_first(session, make, world):
    person = world.a.worker
    make.membership(world.b.customer, person)
    older, _ = submit(session, person, "rectification", "Wrong employer")
    newer, _ = submit(session, person, "access", at=AT + dt.timedelta(hours=1))
    submit(session, world.b.worker, "rectification", at=AT + dt.timedelta(hours=2))
    # The parts in the order they were made: the one stored first is dated later here.
    first, second = parts_of(session, older.id)
    first.created_at = dt.datetime(2027, 3, 10, 9, 1, tzinfo=UTC)
    second.created_at = dt.datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
    session.flush()
    with clock.frozen_at(LATER):
        dsr.extend(session, older, months=2, reason="Busy")
    listed = dsr.for_account(session, person.id)
    assert [r["id"] for r in listed] == [newer.id, older.id]
    got = listed[1]
    assert {k: got[k] for k in got if k not in ("parts", "history")} == {
        "id": older.id, "type": "rectification", "status": "waiting_for_customer",
        "details": "Wrong employer", "received_at": older.received_at, "due_at": older.due_at,
        "extended_months": 2, "extension_reason": "Busy", "closed_at": None, "outcome": None}
    names = {world.a.customer.id: world.a.customer.name, world.b.customer.id:
             world.b.customer.name}
    assert got["parts"] == [
        {"id": p.id, "customer_id": p.customer_id, "customer_name": names[p.customer_id],
         "status": "pending", "due_at": p.due_at, "decided_at": None, "reason": None,
         "outcome": None} for p in (second, first)]
    assert [(h["action"], h["status"], h["role"], h["customer_id"], h["note"])
            for h in got["history"]] == [
        ("received", "received", "subject", None, "channel=session"),
        ("verified", "verified", "subject", None, "password check in a signed-in session"),
        ("routed_to_customer", "pending", "system", first.customer_id, None),
        ("routed_to_customer", "pending", "system", second.customer_id, None),
        ("waiting_for_customer", "waiting_for_customer", "system", None, None),
        ("extended", "waiting_for_customer", "vendor", None, "by 2 month(s)")]
    assert [utc(h["at"]) for h in got["history"]] == [AT] * 5 + [LATER]
    assert listed[0]["outcome"].startswith("Your register extract")


def test_the_erasure_begins_with_each_companys_answer_and_a_resumed_run_points_to_it(
        session, make, world, monkeypatch):
    """The message that begins an erasure carries each customer's answer, a denial's reason
    with it: the platform part erases the reason next. A run resumed after that part stopped
    unfinished cannot quote the reason any more and says where the person has it."""
    sent = capture_mail(monkeypatch)
    req, part_a, part_b = two_parts(session, make, world, "erasure")
    decide(session, part_a, "deny", "Ledger dispute")
    decide(session, part_b, "approve")
    dsr.part_erased(session, req, part_b, "erased: 3 deleted", complete=True)
    answer = dsr.parts_answer(session, req)
    assert sorted(answer) == sorted([
        f"Customer {world.a.customer.id} denied: Ledger dispute",
        f"Customer {world.b.customer.id}: erased: 3 deleted"])
    sent.clear()
    dsr.erasure_starting(session, req, answer)
    ((to, _subject, body),) = sent
    assert to == world.a.worker.email
    assert body.endswith("\n\nThe companies' answers:\n" + "\n".join(answer))
    part_a.reason = None  # what the platform part of the erasure does to it
    session.flush()
    assert f"Customer {world.a.customer.id} denied: {dsr.REASON_ERASED}" in dsr.parts_answer(
        session, req)
    # Nothing to tell: the message as before, without an empty heading.
    sent.clear()
    dsr.erasure_starting(session, req)
    assert "answers" not in sent[0][2]
