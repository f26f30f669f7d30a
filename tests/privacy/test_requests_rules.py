"""privacy.requests, receiving side, with every value spelled out: the retry key, the password
check, the one-time code (its hash, its mail, each refusal with its type and words), the history
each step writes, the mails the person and the customers' admins get, routing to the customers
concerned (and the ended ones the vendor handles), and the answer to a request no customer
decides on."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from models import Consent, DataRequest, Entry
from models.requests import VerificationCode
from privacy import consent
from privacy import requests as dsr
from tests.conftest import TEST_CONFIG
from tests.privacy.requests_kit import (
    AT,
    DUE,
    UTC,
    capture_mail,
    entry,
    event_times,
    history,
    parts_of,
    submit,
    utc,
)

ACCESS_OUTCOME = ("Your register extract (JSON, or a zip with CSV files) is ready at "
                  "GET /api/v1/me/export whenever you are signed in.")


# ------------------------------------------------------------------ due date

def test_the_due_date_is_in_utc_whatever_the_zone_of_receipt():
    cest = dt.timezone(dt.timedelta(hours=2))
    due = dsr.due_date(dt.datetime(2027, 1, 31, 10, 0, tzinfo=cest))
    assert due == dt.datetime(2027, 2, 28, 8, 0, tzinfo=UTC)
    assert due.utcoffset() == dt.timedelta(0)
    with pytest.raises(ValueError, match=r"^received_at must be aware$"):
        dsr.due_date(dt.datetime(2027, 1, 31, 10, 0))


def test_the_due_date_is_counted_in_utc_whatever_the_servers_zone(monkeypatch):
    """Late on 15 March in UTC is already 16 March in Stockholm: the date told to the
    person is the UTC one (as the API shows it), not the server's local date."""
    import time

    monkeypatch.setenv("TZ", "Europe/Stockholm")
    time.tzset()
    try:
        due = dsr.due_date(dt.datetime(2027, 3, 15, 23, 30, tzinfo=UTC))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert due == dt.datetime(2027, 4, 15, 23, 30, tzinfo=UTC)
    assert due.utcoffset() == dt.timedelta(0)
    assert f"{due:%Y-%m-%d}" == "2027-04-15"


# ------------------------------------------------------------------ the type and the password

def test_an_unknown_type_is_refused_with_the_list_of_types(session, world):
    with pytest.raises(ValidationFailed) as err:
        submit(session, world.a.worker, "delete-me")
    assert err.value.extra["errors"] == {"type": [
        "One of: access, rectification, erasure, restriction, objection, portability."]}
    with pytest.raises(ValidationFailed) as err:
        dsr.submit_from_outside(session, world.a.worker.email, "everything", None)
    assert err.value.extra["errors"]["type"][0].startswith("One of: access, ")
    assert session.scalar(select(DataRequest.id)) is None
    assert session.scalar(select(VerificationCode.id)) is None


def test_a_wrong_password_is_refused_and_counted_by_the_throttle(session, world):
    with pytest.raises(ValidationFailed) as err, clock.frozen_at(AT):
        dsr.submit(session, world.a.worker, "access", None, "not the password")
    assert err.value.extra == {"errors": {"password": ["The password is wrong."]}}
    assert err.value.detail == "Confirm the request with your password."
    assert err.value.slug == "current-password-wrong"
    assert err.value.status == 400
    assert session.scalar(select(DataRequest.id)) is None


# ------------------------------------------------------------------ the retry key

def test_the_same_key_again_is_the_same_request(session, world):
    first, made = submit(session, world.a.worker, "rectification", "Wrong employer", key="k-1")
    assert made is True and first.idempotency_key == "k-1"
    again, made = submit(session, world.a.worker, "rectification", "Wrong employer", key="k-1")
    assert made is False and again.id == first.id
    assert session.scalars(select(DataRequest.id).where(
        DataRequest.account_id == world.a.worker.id)).all() == [first.id]
    # Another key is another request.
    other, made = submit(session, world.a.worker, "rectification", "Wrong employer", key="k-2")
    assert made is True and other.id != first.id


def test_replayed_finds_the_key_of_this_account_only(session, world):
    person, other = world.a.worker, world.b.worker
    req, _ = submit(session, person, "access", "extract", key="k-1")
    assert dsr.replayed(session, person.id, "k-1", "access", "extract") == req.id
    assert dsr.replayed(session, person.id, "k-2", "access", "extract") is None
    assert dsr.replayed(session, other.id, "k-1", "access", "extract") is None


def test_replayed_without_a_key_finds_nothing(session, world):
    person = world.a.worker
    # Requests made without a key (None) and with an empty one (stored as it came).
    submit(session, person, "access")
    empty, made = submit(session, person, "portability", key="")
    assert made is True and empty.idempotency_key == ""
    assert dsr.replayed(session, person.id, None, "access", None) is None
    assert dsr.replayed(session, person.id, "", "portability", None) is None


def test_empty_details_and_no_details_are_the_same_request(session, world):
    person = world.a.worker
    none_req, _ = submit(session, person, "access", None, key="k-none")
    empty_req, _ = submit(session, person, "access", "", key="k-empty")
    assert dsr.replayed(session, person.id, "k-none", "access", "") == none_req.id
    assert dsr.replayed(session, person.id, "k-empty", "access", None) == empty_req.id


@pytest.mark.parametrize(("type_", "details"), [
    ("portability", "Wrong employer"),   # another type
    ("access", "Right employer"),        # other details
    ("access", None),                    # details left out
])
def test_a_key_reused_for_another_request_is_a_conflict(session, world, type_, details):
    person = world.a.worker
    submit(session, person, "access", "Wrong employer", key="k-1")
    with pytest.raises(Conflict) as err:
        dsr.replayed(session, person.id, "k-1", type_, details)
    assert err.value.slug == "idempotency-key-reused"
    assert err.value.status == 409
    assert err.value.detail == ("This Idempotency-Key was already used for a different "
                                "request; use a new key for a new request.")
    with pytest.raises(Conflict):
        submit(session, person, type_, details, key="k-1")


# ------------------------------------------------------------------ a request no customer decides

def test_an_access_request_is_answered_at_once_step_by_step(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    req, _ = submit(session, person, "access", "All of it")
    assert (req.type, req.details, req.channel, req.status) == (
        "access", "All of it", "session", "completed")
    assert (utc(req.received_at), utc(req.due_at), utc(req.verified_at), utc(req.closed_at)
            ) == (AT, DUE, AT, AT)
    assert req.extended_months == 0 and req.extension_reason is None
    assert req.outcome == ACCESS_OUTCOME
    assert parts_of(session, req.id) == []
    assert history(session, req.id) == [
        (1, "received", "subject", "received", None, None, "channel=session"),
        (2, "verified", "subject", "verified", None, None,
         "password check in a signed-in session"),
        (3, "in_progress", "system", "in_progress", None, None, None),
        (4, "completed", "system", "completed", None, None, None),
    ]
    assert event_times(session, req.id) == [AT] * 4
    assert sent == [
        (person.email, "We have received your privacy request",
         f"We have received your request for access (register extract) (reference {req.id}). "
         "We answer by 2027-04-10 at the latest."),
        (person.email, "Your privacy request has been answered",
         f"Your request for access (register extract) (reference {req.id}) is completed.\n\n"
         + ACCESS_OUTCOME),
    ]


def test_a_portability_request_is_answered_with_the_extract(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    req, _ = submit(session, world.a.worker, "portability")
    assert (req.status, req.outcome) == ("completed", ACCESS_OUTCOME)
    assert [s for _, s, _ in sent] == ["We have received your privacy request",
                                       "Your privacy request has been answered"]
    assert "request for data portability (reference" in sent[0][2]
    assert sent[1][2].startswith(
        f"Your request for data portability (reference {req.id}) is completed.\n\n")


@pytest.mark.parametrize("type_", ["rectification", "restriction", "erasure"])
def test_a_routed_type_without_any_customer_goes_straight_on(session, make, type_, monkeypatch):
    loner = make.account()
    sent = capture_mail(monkeypatch)
    req, _ = submit(session, loner, type_)
    assert parts_of(session, req.id) == []
    actions = [h[1] for h in history(session, req.id)]
    if type_ == "erasure":
        # Carried out by privacy.erasure_flow after this commits: still open.
        assert actions == ["received", "verified", "in_progress", "erasure_pending"]
        assert history(session, req.id)[-1] == (
            4, "erasure_pending", "system", "in_progress", None, None, None)
        assert (req.status, req.closed_at, req.outcome) == ("in_progress", None, None)
        assert [s for _, s, _ in sent] == ["We have received your privacy request"]
    else:
        assert actions == ["received", "verified", "in_progress", "completed"]
        assert req.status == "completed" and utc(req.closed_at) == AT
        assert req.outcome == {
            "rectification": "You can correct your own account data at PATCH /api/v1/me; "
                             "customers corrected their records where they agreed.",
            "restriction": "Your account data are needed to run your account; customers' "
                           "records were restricted where they agreed.",
        }[type_]
        assert sent[-1] == (loner.email, "Your privacy request has been answered",
                            f"Your request for {type_} (reference {req.id}) is completed."
                            "\n\n" + req.outcome)


# ------------------------------------------------------------------ objection

def _grant(session, account_id, purpose):
    nv = consent.current_notice(session, purpose) or consent.publish_notice(
        session, purpose, url=f"https://example.test/{purpose}", text=f"{purpose} notice")
    consent.decide(session, account_id, [consent.Choice(purpose, True, nv.version)], "app")


def test_an_objection_withdraws_every_consent_at_once(session, make):
    loner = make.account()
    with clock.frozen_at(AT - dt.timedelta(days=1)):
        _grant(session, loner.id, "newsletter")
        _grant(session, loner.id, "product_analytics")
    req, _ = submit(session, loner, "objection")
    note = ("Your objection is honoured: your consent to newsletter, product_analytics is "
            "withdrawn and nothing is sent to you for marketing.")
    assert history(session, req.id) == [
        (1, "received", "subject", "received", None, None, "channel=session"),
        (2, "verified", "subject", "verified", None, None,
         "password check in a signed-in session"),
        (3, "marketing_stopped", "system", "verified", None, None, note),
        (4, "in_progress", "system", "in_progress", None, None, None),
        (5, "completed", "system", "completed", None, None, None),
    ]
    assert not consent.has_consent(session, loner.id, "newsletter")
    assert not consent.has_consent(session, loner.id, "product_analytics")
    withdrawn = session.scalars(select(Consent).where(Consent.account_id == loner.id,
                                                      Consent.granted.is_(False))).all()
    assert sorted((c.purpose, c.channel) for c in withdrawn) == [
        ("newsletter", "api"), ("product_analytics", "api")]
    assert req.status == "completed"
    assert req.outcome == "Direct marketing to you stopped when your objection arrived."


def test_an_objection_without_consent_is_recorded(session, make):
    loner = make.account()
    with clock.frozen_at(AT - dt.timedelta(days=1)):
        _grant(session, loner.id, "newsletter")
        consent.decide(session, loner.id, [consent.Choice("newsletter", False)], "app")
    req, _ = submit(session, loner, "objection")
    assert history(session, req.id)[2] == (
        3, "marketing_stopped", "system", "verified", None, None,
        "Your objection is recorded: nothing is sent to you for marketing.")
    # Nothing was withdrawn again: the one withdrawal is the person's own, by app.
    assert session.scalars(select(Consent.channel).where(
        Consent.account_id == loner.id, Consent.granted.is_(False))).all() == ["app"]
    assert dsr._withdraw_marketing(session, None) == ""


# ------------------------------------------------------------------ routing to customers

def test_a_rectification_is_routed_to_each_customer_concerned(session, make, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    make.membership(world.b.customer, person)
    # An admin of A who left, and an admin of B who is not concerned by A's part.
    make.membership(world.a.customer, make.account(), "admin", active=False)
    sent.clear()
    req, _ = submit(session, person, "rectification", "Wrong employer")
    assert req.status == "waiting_for_customer" and req.closed_at is None
    parts = parts_of(session, req.id)
    assert sorted(p.customer_id for p in parts) == sorted(
        [world.a.customer.id, world.b.customer.id])
    for p in parts:
        assert (p.status, p.account_id, utc(p.due_at), p.decided_at, p.reason, p.outcome) == (
            "pending", person.id, DUE - dt.timedelta(days=7), None, None, None)
    steps = history(session, req.id)
    assert steps[:2] == [
        (1, "received", "subject", "received", None, None, "channel=session"),
        (2, "verified", "subject", "verified", None, None,
         "password check in a signed-in session")]
    # One part per customer, in the order of the customers' ids.
    assert steps[2:4] == [
        (3, "routed_to_customer", "system", "pending", parts[0].id, parts[0].customer_id, None),
        (4, "routed_to_customer", "system", "pending", parts[1].id, parts[1].customer_id, None)]
    assert steps[4:] == [
        (5, "waiting_for_customer", "system", "waiting_for_customer", None, None, None)]
    admin_mails = {to: body for to, subject, body in sent
                   if subject == "A privacy request awaits your decision"}
    assert admin_mails == {
        t.admin.email: ("A data-subject request (rectification) concerns your company's "
                        f"data. Please decide by 2027-04-03: /api/v1/customers/"
                        f"{t.customer.id}/requests")
        for t in (world.a, world.b)}
    # The person is told it arrived, and nothing more yet.
    assert [(to, s) for to, s, _ in sent if to == person.email] == [
        (person.email, "We have received your privacy request")]


def _end(session, tenant):
    tenant.customer.status = "ended"
    session.flush()


@pytest.mark.parametrize(("type_", "note"), [
    ("erasure", "erased by the vendor with the rest of the request"),
    ("rectification", "the customer's contract has ended; its records kept under legal hold "
                      "cannot be changed"),
    ("restriction", "2 records restricted to storage and legal claims"),
    ("objection", "2 records restricted to storage and legal claims"),
])
def test_an_ended_customer_is_handled_by_the_vendor(session, make, world, type_, note, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    make.membership(world.b.customer, person)
    in_b = [entry(session, world.b, person, 2), entry(session, world.b, person, 3)]
    in_a = entry(session, world.a, person)
    _end(session, world.b)
    _end(session, make.tenant())  # ended too, but holds nothing about the person
    sent.clear()
    req, _ = submit(session, person, type_)
    (part,) = parts_of(session, req.id)
    assert part.customer_id == world.a.customer.id
    handled = [h for h in history(session, req.id) if h[1] == "handled_for_ended_customer"]
    assert handled == [(handled[0][0], "handled_for_ended_customer", "vendor", "verified", None,
                        None, note)]
    routed = [h[0] for h in history(session, req.id) if h[1] == "routed_to_customer"]
    assert routed and handled[0][0] > routed[0]
    restricted = type_ in ("restriction", "objection")
    session.expire_all()
    assert [session.get(Entry, e.id).restricted for e in in_b] == [restricted, restricted]
    assert session.get(Entry, in_a.id).restricted is False  # A decides on its own
    # Nobody at B is asked.
    assert [to for to, s, _ in sent if s == "A privacy request awaits your decision"] == [
        world.a.admin.email]


def test_only_ended_customers_leave_nothing_to_wait_for(session, world):
    person = world.a.worker
    _end(session, world.a)
    req, _ = submit(session, person, "rectification")
    assert parts_of(session, req.id) == []
    assert [h[1] for h in history(session, req.id)] == [
        "received", "verified", "handled_for_ended_customer", "in_progress", "completed"]
    assert req.status == "completed"


def test_an_invitation_to_the_persons_address_concerns_its_customer(session, make, world,
                                                                    monkeypatch):
    """Rows found by the person's address, not their account (an invitation not yet taken
    up), make the customer concerned: it gets a part, or, ended, the vendor handles it."""
    person = world.a.worker
    inviting, ended = make.tenant(), make.tenant()
    for t in (inviting, ended):
        make.membership(t.customer, None, invited_email=person.email.upper())
    _end(session, ended)
    sent = capture_mail(monkeypatch)
    req, _ = submit(session, person, "rectification")
    assert sorted(p.customer_id for p in parts_of(session, req.id)) == sorted(
        [world.a.customer.id, inviting.customer.id])
    assert [h[1:] for h in history(session, req.id) if h[1] == "handled_for_ended_customer"] == [
        ("handled_for_ended_customer", "vendor", "verified", None, None,
         "the customer's contract has ended; its records kept under legal hold cannot be "
         "changed")]
    assert sorted(to for to, s, _ in sent if s == "A privacy request awaits your decision") == (
        sorted([world.a.admin.email, inviting.admin.email]))
    probe = DataRequest(id=uuid.uuid4(), account_id=person.id, type="erasure",
                        channel="session", status="in_progress", received_at=AT, due_at=DUE,
                        extended_months=0)
    session.add(probe)
    session.flush()
    assert dsr.ended_customers_concerned(session, probe) == [ended.customer.id]


# ------------------------------------------------------------------ a request from outside

def _known_code_hash(verification_id, code):
    """HMAC-SHA256 under the 'request-code' key derived from the test data key."""
    key = TEST_CONFIG["ENTRYFY_DATA_KEY"]
    root = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    derived = hmac.new(root, b"entryfy:request-code", hashlib.sha256).digest()
    return hmac.new(derived, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _outside(session, monkeypatch, email, type_="erasure", details=None, code=42):
    monkeypatch.setattr(dsr.secrets, "randbelow", lambda n: code if n == 10**6 else 999999)
    with clock.frozen_at(AT):
        return dsr.submit_from_outside(session, email, type_, details)


def test_a_request_from_outside_mails_a_code_to_the_account(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    ver = _outside(session, monkeypatch, f"  {person.email.upper()} ", details="Erase me")
    assert ver.attempts == 0 and ver.used_at is None
    assert utc(ver.expires_at) == AT + dt.timedelta(minutes=15)
    assert ver.code_hash == _known_code_hash(ver.id, "000042")
    req = session.get(DataRequest, ver.request_id)
    assert (req.account_id, req.type, req.details, req.channel, req.status) == (
        person.id, "erasure", "Erase me", "email", "received")
    assert (utc(req.received_at), utc(req.due_at), req.verified_at) == (AT, DUE, None)
    assert history(session, req.id) == [
        (1, "received", "subject", "received", None, None, "channel=email")]
    assert sent == [(
        person.email, "Your Entryfy privacy request: confirmation code",
        "Someone - hopefully you - asked Entryfy for erasure about the data of this account."
        "\n\nYour confirmation code: 000042\n\nIt works 15 minutes, for 5 tries. If it was "
        "not you, ignore this message; nothing happens without the code.")]


def test_an_inactive_account_gets_no_request_and_no_mail(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    person.is_active = False
    session.flush()
    ver = _outside(session, monkeypatch, person.email)
    assert ver.request_id is None and ver.attempts == 0
    assert ver.code_hash == _known_code_hash(ver.id, "000042")
    assert session.scalar(select(DataRequest.id)) is None
    assert sent == []


def test_check_code_refusals_say_what_and_why(session, world, monkeypatch):
    missing = uuid.uuid4()
    req, err = dsr.check_code(session, missing, "000042")
    assert req is None and type(err) is NotFound
    assert (err.status, err.slug, err.detail) == (404, "verification-not-found",
                                                  "No such verification.")

    ver = _outside(session, monkeypatch, world.a.worker.email, "access")
    with clock.frozen_at(AT + dt.timedelta(minutes=1)):
        req, err = dsr.check_code(session, ver.id, "000043")
    assert req is None and type(err) is Unprocessable
    assert (err.status, err.slug, err.detail, err.extra) == (
        422, "code-wrong", "Wrong code. 4 tries left.", {"tries_left": 4})
    session.expire_all()
    assert session.get(VerificationCode, ver.id).attempts == 1  # written, not just counted

    with clock.frozen_at(AT + dt.timedelta(minutes=15)):
        _, err = dsr.check_code(session, ver.id, "000042")
    assert type(err) is Unprocessable
    assert (err.status, err.slug, err.detail) == (
        422, "code-expired", "The code has expired; make the request again.")
    assert session.get(VerificationCode, ver.id).attempts == 1  # an expired try is not one


def test_check_code_after_five_wrong_tries(session, world, monkeypatch):
    ver = _outside(session, monkeypatch, world.a.worker.email, "access")
    with clock.frozen_at(AT + dt.timedelta(minutes=2)):
        for _ in range(5):
            dsr.check_code(session, ver.id, "000043")
        req, err = dsr.check_code(session, ver.id, "000042")
    assert req is None and type(err) is Unprocessable
    assert (err.slug, err.detail) == ("code-attempts-exhausted",
                                      "Too many wrong codes; make the request again.")
    assert ver.attempts == 5 and ver.used_at is None


def test_the_right_code_verifies_once(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    ver = _outside(session, monkeypatch, person.email, "rectification")
    sent.clear()
    at = AT + dt.timedelta(minutes=3)
    with clock.frozen_at(at):
        req, err = dsr.check_code(session, ver.id, "000042")
    assert err is None and req.id == ver.request_id
    assert ver.attempts == 1 and utc(ver.used_at) == at
    assert (req.status, utc(req.verified_at)) == ("waiting_for_customer", at)
    assert history(session, req.id)[1] == (
        2, "verified", "subject", "verified", None, None,
        "one-time code sent to the account's e-mail address")
    assert sent[0] == (person.email, "We have received your privacy request",
                       f"We have received your request for rectification (reference "
                       f"{req.id}). We answer by 2027-04-10 at the latest.")
    with clock.frozen_at(at):
        again, err = dsr.check_code(session, ver.id, "000042")
    assert again is None and type(err) is Conflict
    assert (err.status, err.slug, err.detail) == (409, "code-used", "This code has been used.")
    assert ver.attempts == 1


def test_a_code_for_an_unknown_address_is_wrong_even_when_right(session, monkeypatch):
    sent = capture_mail(monkeypatch)
    ver = _outside(session, monkeypatch, "nobody@example.test")
    assert sent == []
    with clock.frozen_at(AT + dt.timedelta(minutes=1)):
        req, err = dsr.check_code(session, ver.id, "000042")
    assert req is None and (err.slug, err.extra) == ("code-wrong", {"tries_left": 4})
    assert ver.used_at is None and ver.attempts == 1


# ------------------------------------------------------------------ whom the person is told

def test_an_erased_address_is_not_mailed(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    person.email = f"{uuid.uuid4().hex}@erased.invalid"
    session.flush()
    req, _ = submit(session, person, "access")
    assert req.status == "completed" and sent == []


def test_an_address_merely_ending_like_the_erased_domain_is_mailed(session, world, monkeypatch):
    sent = capture_mail(monkeypatch)
    person = world.a.worker
    person.email = "someone@not-erased.invalid"
    session.flush()
    submit(session, person, "access")
    assert [to for to, _, _ in sent] == ["someone@not-erased.invalid"] * 2
