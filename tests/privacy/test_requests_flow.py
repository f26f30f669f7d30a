"""Due dates, extensions, identity verification of requests from outside, and customer
offboarding with its export and deletion certificate."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import uuid
import zipfile

import pytest
from sqlalchemy import select

from entryfy import clock, mail
from entryfy.ops import accounts as account_ops
from models import Customer, DataRequest, DataRequestEvent, Entry, Membership
from models.requests import VerificationCode
from privacy import requests as dsr
from tests.factories import PASSWORD, bearer, login

UTC = dt.UTC


# ------------------------------------------------------------------ due dates (no database)

@pytest.mark.parametrize(("received", "months", "due"), [
    ("2027-01-31T10:00", 0, "2027-02-28T10:00"),   # month end: no 31 February
    ("2028-01-31T10:00", 0, "2028-02-29T10:00"),   # leap year
    ("2027-01-30T23:59", 0, "2027-02-28T23:59"),
    ("2027-03-31T08:00", 0, "2027-04-30T08:00"),
    ("2027-12-15T12:00", 0, "2028-01-15T12:00"),   # over the year end
    ("2027-01-31T10:00", 2, "2027-04-30T10:00"),   # extended: counted from receipt
    ("2027-11-30T10:00", 2, "2028-02-29T10:00"),   # extension ending in a leap February
    ("2027-05-15T00:00", 1, "2027-07-15T00:00"),
])
def test_due_date_is_one_calendar_month_plus_extension(received, months, due):
    r = dt.datetime.fromisoformat(received).replace(tzinfo=UTC)
    assert dsr.due_date(r, months) == dt.datetime.fromisoformat(due).replace(tzinfo=UTC)


def test_due_date_refuses_naive_times():
    with pytest.raises(ValueError):
        dsr.due_date(dt.datetime(2027, 1, 31))


# ------------------------------------------------------------------ extension

def _staff_headers(session, make, role="platform_admin"):
    staff = make.account(staff_role=role)
    device, _ = account_ops.register_device(session, staff, device_id=f"staff-{uuid.uuid4()}")
    issued = account_ops.issue_device_token(session, staff, device,
                                            lifetime=dt.timedelta(days=90))
    session.commit()
    return {"Authorization": f"Bearer {issued.secret}"}


def _last_mail_to(address):
    msgs = [m for m in mail.mailer().messages() if m["To"] == address]
    return msgs[-1] if msgs else None


def test_one_extension_with_the_reason_mailed(client, session, make, world):
    with clock.frozen_at(dt.datetime(2027, 1, 31, 9, 0, tzinfo=UTC)):
        h = bearer(client, world.a.worker)
        r = client.post("/api/v1/me/requests", headers=h, json={
            "type": "rectification", "password": PASSWORD, "details": "Wrong employer"})
        assert r.status_code == 201, r.get_json()
        body = r.get_json()
        assert body["due_at"].startswith("2027-02-28T09:00")
        rid = body["id"]
        staff = _staff_headers(session, make)
        # Input is checked: months 1-2, a reason.
        assert client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=staff,
                           json={"months": 3, "reason": "x"}).status_code == 400
        assert client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=staff,
                           json={"months": 2}).status_code == 400
        # Only the vendor's platform admins extend.
        assert client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=h,
                           json={"months": 2, "reason": "x"}).status_code == 403
        assert client.post(f"/api/v1/privacy/requests/{uuid.uuid4()}/extension",
                           headers=staff, json={"months": 1, "reason": "x"}).status_code == 404
        r = client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=staff,
                        json={"months": 2, "reason": "Three customers must check their "
                                                     "ledgers."})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["due_at"].startswith("2027-04-30T09:00")
        assert r.get_json()["parts"][0]["due_at"].startswith("2027-04-23T09:00")
        told = [m.get_content() for m in mail.mailer().messages()
                if m["To"] == world.a.worker.email and "takes longer" in m["Subject"]]
        assert len(told) == 1
        assert "Three customers must check their ledgers." in told[0]
        assert "2027-04-30" in told[0]
        # Once only.
        r = client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=staff,
                        json={"months": 1, "reason": "More"})
        assert r.status_code == 422
        assert r.get_json()["type"].endswith("/already-extended")
        hist = [e["action"] for e in client.get("/api/v1/me/requests", headers=h)
                .get_json()["items"][0]["history"]]
        assert hist[:2] == ["received", "verified"] and "extended" in hist


# ------------------------------------------------------------------ verification from outside

def _code_from_mail(address):
    """The code mailed to ``address`` (each test sends one per address)."""
    codes = [re.search(r"code: (\d{6})", m.get_content()).group(1)
             for m in mail.mailer().messages()
             if m["To"] == address and "confirmation code" in m["Subject"]]
    assert len(codes) == 1
    return codes[0]


def test_outside_request_verified_by_a_code_from_the_mailbox(client, session, world):
    email = world.a.worker.email
    r = client.post("/api/v1/privacy/requests",
                    json={"email": email.upper(), "type": "erasure", "details": "Erase me"})
    assert r.status_code == 202, r.get_json()
    vid = r.get_json()["verification_id"]
    code = _code_from_mail(email)
    # The code is stored only as a keyed hash.
    ver = session.get(VerificationCode, uuid.UUID(vid))
    assert code not in ver.code_hash and len(ver.code_hash) == 64
    wrong = "000000" if code != "000000" else "111111"
    r = client.post("/api/v1/privacy/requests/verify",
                    json={"verification_id": vid, "code": wrong})
    assert r.status_code == 422
    assert r.get_json()["tries_left"] == 4
    r = client.post("/api/v1/privacy/requests/verify", json={"verification_id": vid,
                                                               "code": code})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["type"] == "erasure"
    assert body["status"] == "waiting_for_customer"  # A's part awaits its admin
    session.expire_all()
    req = session.get(DataRequest, uuid.UUID(body["id"]))
    assert req.channel == "email" and req.verified_at is not None
    # Single use.
    r = client.post("/api/v1/privacy/requests/verify", json={"verification_id": vid,
                                                               "code": code})
    assert r.status_code == 409


def test_too_many_wrong_codes_lock_the_verification(client, session, world):
    email = world.b.worker.email
    vid = client.post("/api/v1/privacy/requests", json={"email": email, "type": "access"}
                      ).get_json()["verification_id"]
    code = _code_from_mail(email)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = client.post("/api/v1/privacy/requests/verify",
                        json={"verification_id": vid, "code": wrong})
        assert r.get_json()["tries_left"] == left
    # Even the right code is refused now: every wrong try was counted (committed).
    r = client.post("/api/v1/privacy/requests/verify", json={"verification_id": vid,
                                                               "code": code})
    assert r.status_code == 422
    assert r.get_json()["type"].endswith("/code-attempts-exhausted")
    session.expire_all()
    assert session.get(VerificationCode, uuid.UUID(vid)).attempts == 5


def test_an_expired_code_is_refused(client, session, world):
    email = world.a.admin.email
    t0 = dt.datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    with clock.frozen_at(t0):
        vid = client.post("/api/v1/privacy/requests", json={"email": email, "type": "access"}
                          ).get_json()["verification_id"]
        code = _code_from_mail(email)
    with clock.frozen_at(t0 + dt.timedelta(minutes=15, seconds=1)):
        r = client.post("/api/v1/privacy/requests/verify",
                        json={"verification_id": vid, "code": code})
    assert r.status_code == 422
    assert r.get_json()["type"].endswith("/code-expired")


def test_an_unknown_address_is_answered_alike(client, session):
    before = len(mail.mailer().messages())
    r = client.post("/api/v1/privacy/requests",
                    json={"email": "nobody-here@example.test", "type": "erasure"})
    assert r.status_code == 202
    assert set(r.get_json()) == {"verification_id", "expires_at", "detail"}
    assert len(mail.mailer().messages()) == before  # nothing sent anywhere
    vid = r.get_json()["verification_id"]
    r = client.post("/api/v1/privacy/requests/verify",
                    json={"verification_id": vid, "code": "123456"})
    assert r.status_code == 422
    assert r.get_json()["tries_left"] == 4
    assert session.scalar(select(DataRequest).where(DataRequest.channel == "email")) is None


def test_outside_request_input_is_validated(client):
    for body in ({"email": "not-an-email", "type": "access"},
                 {"email": "a@example.test", "type": "everything"},
                 {"email": "a@example.test", "type": "access", "password": "x"}):
        r = client.post("/api/v1/privacy/requests", json=body)
        assert r.status_code == 400, body
    for body in ({"verification_id": "nope", "code": "123456"},
                 {"verification_id": str(uuid.uuid4()), "code": "12ab56"}):
        assert client.post("/api/v1/privacy/requests/verify", json=body).status_code == 400
    r = client.post("/api/v1/privacy/requests/verify",
                    json={"verification_id": str(uuid.uuid4()), "code": "123456"})
    assert r.status_code == 404


# ------------------------------------------------------------------ offboarding

def _jsonl(data: bytes):
    return [json.loads(line) for line in data.decode().splitlines() if line]


def test_offboarding_export_purge_and_certificate(client, session, make, world, runner):
    a = world.a
    now = clock.now()
    recent = Entry(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                   account_id=a.worker.id, checked_in_at=now - dt.timedelta(hours=2))
    old_at = now.replace(year=now.year - 4)
    old = Entry(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                account_id=a.worker.id, checked_in_at=old_at, created_at=old_at,
                checked_out_at=old_at + dt.timedelta(hours=8))
    b_entry = Entry(id=uuid.uuid4(), customer_id=world.b.customer.id, site_id=world.b.site.id,
                    account_id=world.b.worker.id, checked_in_at=now)
    session.add_all([recent, old, b_entry])
    session.commit()
    recent_id, old_id, b_entry_id = recent.id, old.id, b_entry.id
    staff = _staff_headers(session, make)

    # Only platform admins offboard; a customer admin or support cannot.
    h_admin = {"X-CSRF-Token": login(client, a.admin)}
    assert client.post(f"/api/v1/customers/{a.customer.id}/offboarding", headers=h_admin,
                       json={}).status_code == 403
    client.post("/api/v1/auth/logout", headers=h_admin)
    support = _staff_headers(session, make, role="support")
    assert client.post(f"/api/v1/customers/{a.customer.id}/offboarding", headers=support,
                       json={}).status_code == 403
    assert client.post(f"/api/v1/customers/{uuid.uuid4()}/offboarding", headers=staff,
                       json={}).status_code == 404
    assert client.post(f"/api/v1/customers/{a.customer.id}/offboarding", headers=staff,
                       json={"grace_days": -1}).status_code == 400
    r = client.post(f"/api/v1/customers/{a.customer.id}/offboarding", headers=staff,
                    json={"grace_days": 30})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "grace_period"
    assert client.post(f"/api/v1/customers/{a.customer.id}/offboarding", headers=staff,
                       json={}).status_code == 409
    assert "download" in _last_mail_to(a.admin.email)["Subject"]

    # During the grace period its admins download everything, streamed.
    h_admin = {"X-CSRF-Token": login(client, a.admin)}
    r = client.get(f"/api/v1/customers/{a.customer.id}/export", headers=h_admin)
    assert r.status_code == 200
    assert r.is_streamed
    data = r.get_data()
    lines = _jsonl(data)
    tables = {ln["table"] for ln in lines if "table" in ln}
    assert {"customer", "people", "memberships", "sites", "entries"} <= tables
    entry_ids = {ln["row"]["id"] for ln in lines if ln.get("table") == "entries"}
    assert {str(recent_id), str(old_id)} <= entry_ids
    assert str(b_entry_id) not in data.decode()  # never another customer's rows
    people_rows = [ln["row"] for ln in lines if ln.get("table") == "people"]
    assert a.worker.email in {p["email"] for p in people_rows}
    manifest = lines[-1]["manifest"]
    assert manifest["tables"]["entries"] == 2
    export_sha = hashlib.sha256(data).hexdigest()

    # The zip: one file per table, a manifest with the checksum of each.
    r = client.get(f"/api/v1/customers/{a.customer.id}/export?format=zip", headers=h_admin)
    assert r.status_code == 200
    zip_bytes = r.get_data()
    zf = zipfile.ZipFile(io.BytesIO(zip_bytes))
    man = json.loads(zf.read("manifest.json"))
    for name, sha in man["sha256"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == sha
    assert man["tables"]["entries"] == 2
    assert client.get(f"/api/v1/customers/{a.customer.id}/export?format=csv",
                      headers=h_admin).status_code == 400
    # Another customer's export: 404.
    assert client.get(f"/api/v1/customers/{world.b.customer.id}/export",
                      headers=h_admin).status_code == 404
    client.post("/api/v1/auth/logout", headers=h_admin)

    # Not before the grace period ends.
    result = runner.invoke(args=["customer", "purge", "--customer-id", str(a.customer.id)])
    assert result.exit_code == 1, (result.output, result.exception)
    assert "grace period" in result.output
    with clock.frozen_at(now + dt.timedelta(days=31)):
        result = runner.invoke(args=["customer", "purge"])
        assert result.exit_code == 0, (result.output, result.exception)
        r = client.get(f"/api/v1/customers/{a.customer.id}/offboarding", headers=staff)
    assert r.status_code == 200
    off = r.get_json()
    assert off["status"] == "purged"
    cert = off["certificate"]
    assert off["certificate_sha256"] == hashlib.sha256(
        json.dumps(cert, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert cert["export"]["sha256"] == hashlib.sha256(zip_bytes).hexdigest() or \
        cert["export"]["sha256"] == export_sha
    # Every export made for the customer is listed, in order, with its format.
    assert [(e["sha256"], e["format"]) for e in cert["exports"]] == [
        (export_sha, "jsonl"), (hashlib.sha256(zip_bytes).hexdigest(), "zip")]
    assert off["exports"] == cert["exports"]
    assert cert["tables"]["entries"] == {"deleted": 1, "kept": 1,
                                         "kept_because": "legal hold: personnel_ledger"}
    assert cert["tables"]["sites"]["kept"] == 1  # the kept entries' site
    assert cert["tables"]["memberships"]["deleted"] == 2
    session.expire_all()
    assert session.get(Entry, old_id) is None
    kept = session.get(Entry, recent_id)
    assert kept is not None and kept.restricted is True
    assert session.get(Entry, b_entry_id) is not None  # B untouched
    assert session.scalar(select(Membership).where(
        Membership.customer_id == a.customer.id)) is None
    assert session.get(Customer, a.customer.id).status == "ended"
    # The admins are gone with the memberships: the customer answers 404 now.
    h_admin = {"X-CSRF-Token": login(client, a.admin)}
    assert client.get(f"/api/v1/customers/{a.customer.id}/export",
                      headers=h_admin).status_code == 404


def test_request_history_records_every_step(client, session, world):
    h = bearer(client, world.a.worker)
    rid = client.post("/api/v1/me/requests", headers=h, json={
        "type": "erasure", "password": PASSWORD}).get_json()["id"]
    events = list(session.scalars(select(DataRequestEvent).where(
        DataRequestEvent.request_id == uuid.UUID(rid)).order_by(DataRequestEvent.seq)))
    assert [e.action for e in events][:3] == ["received", "verified", "routed_to_customer"]
    assert events[-1].action == "waiting_for_customer"
    assert all(e.note is None or world.a.worker.email not in e.note for e in events)


def test_the_vendor_denies_with_a_reason_told_to_the_person(client, session, make, world):
    h = bearer(client, world.b.worker)
    rid = client.post("/api/v1/me/requests", headers=h, json={
        "type": "objection", "password": PASSWORD}).get_json()["id"]
    staff = _staff_headers(session, make)
    assert client.post(f"/api/v1/privacy/requests/{rid}/denial", headers=staff,
                       json={}).status_code == 400
    assert client.post(f"/api/v1/privacy/requests/{rid}/denial", headers=h,
                       json={"reason": "no"}).status_code == 403
    r = client.post(f"/api/v1/privacy/requests/{rid}/denial", headers=staff,
                    json={"reason": "The same objection was answered last week."})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "denied"
    assert {p["status"] for p in r.get_json()["parts"]} == {"denied"}
    told = [m.get_content() for m in mail.mailer().messages()
            if m["To"] == world.b.worker.email and "denied" in m["Subject"]]
    assert len(told) == 1 and "answered last week" in told[0] and "IMY" in told[0]
    # A closed request cannot be denied or extended again.
    assert client.post(f"/api/v1/privacy/requests/{rid}/denial", headers=staff,
                       json={"reason": "again"}).status_code == 409
    assert client.post(f"/api/v1/privacy/requests/{rid}/extension", headers=staff,
                       json={"months": 1, "reason": "x"}).status_code == 409


@pytest.mark.postgres_only
def test_two_customers_deciding_at_once_finish_the_request(app, committed, backend, session,
                                                           make):
    """The last two parts decided at the same moment: one of the two sees the other and
    finishes the request (decisions on one request are serialised by a row lock)."""
    import threading

    from models import DataRequestPart
    from models.tenancy import scope_to

    if backend.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    a, b = make.tenant(), make.tenant()
    person = make.account()
    make.membership(a.customer, person)
    make.membership(b.customer, person)
    req = dsr.submit(session, person, "restriction", None, PASSWORD)
    session.commit()
    req_id = req.id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def decide(customer_id, admin_id):
        s = committed.session()
        try:
            scope_to(s, customer_id)
            part = s.scalar(select(DataRequestPart).where(
                DataRequestPart.customer_id == customer_id,
                DataRequestPart.request_id == req_id))
            barrier.wait(timeout=10)
            dsr.decide(s, part, decision="approve", reason=None, actor_id=admin_id)
            s.commit()
        except BaseException as e:  # reported below
            errors.append(e)
            s.rollback()
        finally:
            s.close()

    threads = [threading.Thread(target=decide, args=(t.customer.id, t.admin.id))
               for t in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    session.expire_all()
    assert session.get(DataRequest, req_id).status == "completed"


def test_erasure_after_the_customer_ended_needs_no_decision(client, session, make, world):
    """The customer's contract ended and only its legal-hold rows remain: nobody is left to
    decide, so the vendor erases (withholding what the hold keeps) without a part."""
    from privacy import offboarding

    a = world.a
    entry = Entry(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                  account_id=a.worker.id, checked_in_at=clock.now() - dt.timedelta(hours=3))
    session.add(entry)
    session.commit()
    entry_id, worker_id = entry.id, a.worker.id
    h = bearer(client, a.worker)
    offboarding.start(session, a.customer.id, actor_id=a.admin.id, grace_days=0)
    offboarding.purge(session, a.customer.id)
    session.commit()
    r = client.post("/api/v1/me/requests", headers=h,
                    json={"type": "erasure", "password": PASSWORD})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "completed" and body["parts"] == []
    assert "handled_for_ended_customer" in [e["action"] for e in body["history"]]
    session.expire_all()
    assert session.get(Entry, entry_id).restricted is True
    from models import Account

    acc = session.get(Account, worker_id)
    assert acc.email.endswith("@erased.invalid") and acc.is_active is False
