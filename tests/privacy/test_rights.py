"""Data-subject rights end to end through the API: the register extract holds every value of a
person found through the data map, and erasure leaves no identifier of theirs in any table or
log except what a legal hold keeps, which the outcome lists."""

from __future__ import annotations

import io
import json
import logging
import uuid
import zipfile

import pytest
from sqlalchemy import String, Text, select

from entryfy import clock
from models import Account, DataRequest, DataRequestPart, Entry, Erasure, ErasureRecord
from models.base import Base
from tests.factories import PASSWORD, login
from tests.privacy import people


@pytest.fixture
def person(session, make, world):
    return people.build_everywhere(session, make, world)


def auth(p):
    return {"Authorization": f"Bearer {p.extra['token']}"}


def admin_headers(client, account):
    return {"X-CSRF-Token": login(client, account)}


# ------------------------------------------------------------------ register extract

def test_export_holds_every_value_with_purpose_basis_retention_and_source(client, person):
    r = client.get("/api/v1/me/export", headers=auth(person))
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    by_table: dict[str, list] = {}
    for s in doc["sections"]:
        by_table.setdefault(s["table"], []).append(s)
        assert s["purpose"]["legal_basis"], s["table"]
        assert s["purpose"]["recipients"], s["table"]
        assert s["purpose"]["transfers"], s["table"]
        assert s["retention"]["description"], s["table"]
        for cat in s["categories"]:
            assert cat["source"] and cat["description"]
    for table, values in person.expected.items():
        assert table in by_table, f"{table} missing from the register extract"
        dumped = json.dumps(by_table[table], ensure_ascii=False)
        for v in values:
            assert str(v) in dumped, f"{table}: {v!r} not in the extract"
    # The identity number is decrypted for the person; the password hash is not shown.
    acc = by_table["accounts"][0]["rows"][0]
    assert acc["identity_number"] == person.identity_number
    assert acc["password_hash"].startswith("(stored, not disclosed")
    assert "$argon2" not in r.get_data(as_text=True)
    # Tenant data name their customer as controller, platform data the vendor.
    ctrl = {s["controller"]["kind"] for s in by_table["entries"]}
    assert ctrl == {"customer"}
    assert by_table["devices"][0]["controller"]["kind"] == "vendor"
    # Someone else's rows never leak in: B's worker's entry is not the person's.
    assert str(person.extra["entry_other"].id) not in json.dumps(by_table["entries"])
    cats = {c["category"]: c for c in doc["categories"]}
    assert cats["attendance.time"]["purposes"][0]["legal_basis"]
    assert cats["identity.national_id"]["purposes"][0]["retention"]


def test_export_as_zip_has_json_and_one_csv_per_table(client, person):
    r = client.get("/api/v1/me/export?format=zip", headers=auth(person))
    assert r.status_code == 200
    assert r.mimetype == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(r.data))
    names = zf.namelist()
    assert "export.json" in names
    assert "accounts.csv" in names and "devices.csv" in names
    assert any(n.startswith("entries-") and n.endswith(".csv") for n in names)
    assert person.email in zf.read("accounts.csv").decode()


def test_export_refuses_bad_format_and_strangers(client, person):
    assert client.get("/api/v1/me/export?format=xml", headers=auth(person)).status_code == 400
    assert client.get("/api/v1/me/export?bogus=1", headers=auth(person)).status_code == 400
    r = client.get("/api/v1/me/export")
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json"


def test_export_is_throttled(client, person, app):
    codes = [client.get("/api/v1/me/export", headers=auth(person)).status_code
             for _ in range(6)]
    assert codes[:5] == [200] * 5
    assert codes[5] == 429


# ------------------------------------------------------------------ erasure

def _text_hits(session, needles: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(table, row id, column, which identifier) for every text value holding one."""
    hits = []
    for table in Base.metadata.sorted_tables:
        cols = [c for c in table.c if isinstance(c.type, String | Text)]
        if not cols:
            continue
        pk = list(table.primary_key.columns)
        for row in session.execute(select(*pk, *cols)):
            m = row._mapping
            rid = ":".join(str(m[c.name]) for c in pk)
            for c in cols:
                v = m[c.name]
                if not isinstance(v, str):
                    continue
                for name, needle in needles.items():
                    if needle and needle.lower() in v.lower():
                        hits.append((table.name, rid, c.name, name))
    return hits


def test_erasure_preview_lists_what_is_deleted_and_what_is_kept(client, person, session):
    r = client.get("/api/v1/me/erasure-preview", headers=auth(person))
    assert r.status_code == 200
    body = r.get_json()
    withheld = {(w["table"], w["row_id"]): w for w in body["withheld"]}
    recent = withheld[("entries", str(person.extra["entry_recent"].id))]
    assert recent["rule"] == "personnel_ledger"
    assert ("entries", str(person.extra["entry_old"].id)) not in withheld
    acc = withheld[("accounts", str(person.account.id))]
    assert set(acc["columns"]) == {"first_name", "last_name", "identity_number_enc"}
    assert body["counts"]["devices"]["deleted"] == 1
    # A preview changes nothing.
    assert session.get(Entry, person.extra["entry_recent"].id).restricted is False
    assert session.get(Account, person.account.id).email == person.email


def test_erasure_leaves_no_identifier_outside_legal_hold(client, person, session, caplog):
    caplog.set_level(logging.DEBUG)
    ids = people.customer_ids(person)
    recent_id, old_id = person.extra["entry_recent"].id, person.extra["entry_old"].id
    device_id, account_id = person.extra["device"].id, person.account.id
    correction_id = person.extra["correction_as_admin"].id
    earlier_id = person.extra["earlier_request"].id
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "erasure", "password": PASSWORD,
                          "details": "Please erase everything, Zlatana Quxberg"})
    assert r.status_code == 201, r.get_json()
    req = r.get_json()
    assert req["status"] == "waiting_for_customer"
    assert {p["customer_id"] for p in req["parts"]} == {str(v) for v in ids.values()}

    # Each customer decides on its own part.
    w = person.world
    for cust, admin in ((w.a.customer, w.a.admin), (w.b.customer, w.b.admin),
                        (person.extra["customer_c"], person.extra["admin_c"])):
        client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None
        h = admin_headers(client, admin)
        listed = client.get(f"/api/v1/customers/{cust.id}/requests", headers=h).get_json()
        assert req["id"] in [i["id"] for i in listed["items"]]
        d = client.post(f"/api/v1/customers/{cust.id}/requests/{req['id']}/decision",
                        headers=h, json={"decision": "approve"})
        assert d.status_code == 200, d.get_json()
        assert d.get_json()["status"] == "completed"
        client.post("/api/v1/auth/logout", headers=h)

    session.expire_all()
    dr = session.get(DataRequest, uuid.UUID(req["id"]))
    assert dr.status == "completed"
    assert dr.account_id is None and dr.details is None
    # The earlier, still open rectification ends with the erasure.
    earlier = session.get(DataRequest, earlier_id)
    assert earlier.status == "completed" and "superseded" in earlier.outcome
    assert {p.status for p in session.scalars(select(DataRequestPart).where(
        DataRequestPart.request_id == earlier_id))} == {"completed"}
    # The person is signed out everywhere: their tokens are gone.
    assert client.get("/api/v1/me/requests", headers=auth(person)).status_code == 401

    # Proof: one tombstone per part plus the platform's, and a record per row.
    erasures = list(session.scalars(select(Erasure).where(
        Erasure.account_id == account_id)))
    assert {e.customer_id for e in erasures} == {*ids.values(), None}
    records = list(session.scalars(select(ErasureRecord).where(
        ErasureRecord.erasure_id.in_([e.id for e in erasures]))))
    outcome = {(x.table_name, x.row_id): x for x in records}
    assert outcome[("entries", str(recent_id))].outcome == "withheld"
    assert outcome[("entries", str(recent_id))].rule == "personnel_ledger"
    assert outcome[("entries", str(old_id))].outcome == "deleted"
    assert outcome[("accounts", str(account_id))].outcome == "withheld"
    assert outcome[("devices", str(device_id))].outcome == "deleted"
    assert outcome[("entry_corrections", str(correction_id))
                   ].outcome == "withheld"  # B's ledger keeps who corrected it
    # Held ledger rows are restricted; the old one is gone.
    assert session.get(Entry, recent_id).restricted is True
    assert session.get(Entry, old_id) is None
    # The tombstone holds no address, only a keyed hash.
    assert all(e.email_hash and person.email not in e.email_hash for e in erasures)

    withheld = {(x.table_name, x.row_id): set((x.columns or "").split(","))
                for x in records if x.outcome == "withheld"}
    hits = _text_hits(session, person.identifiers)
    leaks = [h for h in hits
             if (h[0], h[1]) not in withheld or h[2] not in withheld[(h[0], h[1])]]
    assert leaks == [], leaks
    # A hold keeps who the person was for the ledger, never how to reach them or their device.
    assert {h[3] for h in hits} <= {"first_name", "last_name", "identity_ciphertext"}
    assert ("accounts", "identity_number_enc") in {(h[0], h[2]) for h in hits}
    acc = session.get(Account, account_id)
    assert acc.email.endswith("@erased.invalid") and acc.phone is None
    assert acc.password_hash is None and acc.is_active is False

    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    for name, value in person.identifiers.items():
        assert value.lower() not in logged.lower(), f"{name} in the logs"


def test_erasure_without_any_customer_deletes_the_account(client, make, session):
    acc = make.account(email="solo.person@example.test", first_name="Solo", last_name="Persson")
    acc_id = acc.id
    from tests.factories import bearer

    h = bearer(client, acc)
    r = client.post("/api/v1/me/requests", headers=h,
                    json={"type": "erasure", "password": PASSWORD})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "completed"
    session.expire_all()
    assert session.get(Account, acc_id) is None
    hits = _text_hits(session, {"email": "solo.person@example.test", "name": "Persson"})
    assert hits == []


def test_reapply_erasures_after_a_restore(client, make, session, runner):
    acc = make.account(email="restored.person@example.test", first_name="Resto",
                       last_name="Backupsson")
    acc_id = acc.id
    from tests.factories import bearer

    h = bearer(client, acc)
    assert client.post("/api/v1/me/requests", headers=h,
                       json={"type": "erasure", "password": PASSWORD}).status_code == 201
    session.expire_all()
    assert session.get(Account, acc_id) is None
    # A restore from last night's backup brings the account back.
    session.add(Account(id=acc_id, email="restored.person@example.test", first_name="Resto",
                        last_name="Backupsson", password_hash="x", is_active=True))
    session.commit()
    result = runner.invoke(args=["privacy", "reapply-erasures"])
    assert result.exit_code == 0, result.output
    assert "1 applied again" in result.output
    session.expire_all()
    assert session.get(Account, acc_id) is None
    # Idempotent.
    result = runner.invoke(args=["privacy", "reapply-erasures"])
    assert "0 applied again" in result.output


# ------------------------------------------------------------------ customers' decisions

def test_customer_denies_with_a_reason_and_the_person_sees_it(client, person, session):
    w = person.world
    req = person.extra["earlier_request"]  # a rectification routed to A and B (and C)
    h = admin_headers(client, w.a.admin)
    # A denial states its reason.
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{req.id}/decision",
                    headers=h, json={"decision": "deny"})
    assert r.status_code == 400
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{req.id}/decision",
                    headers=h, json={"decision": "maybe", "reason": "x"})
    assert r.status_code == 400
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{req.id}/decision",
                    headers=h, json={"decision": "deny",
                                     "reason": "The employer name matches the contract."})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "denied"
    # Deciding twice is a conflict, not a second decision.
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{req.id}/decision",
                    headers=h, json={"decision": "approve"})
    assert r.status_code == 409
    # Another customer's request: 404, on B's path as A's admin and for an unknown id.
    assert client.post(f"/api/v1/customers/{w.b.customer.id}/requests/{req.id}/decision",
                       headers=h, json={"decision": "approve"}).status_code == 404
    assert client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{uuid.uuid4()}/decision",
                       headers=h, json={"decision": "approve"}).status_code == 404
    assert client.get(f"/api/v1/customers/{w.b.customer.id}/requests",
                      headers=h).status_code == 404
    client.post("/api/v1/auth/logout", headers=h)

    mine = client.get("/api/v1/me/requests", headers=auth(person)).get_json()["items"]
    got = next(i for i in mine if i["id"] == str(req.id))
    part_a = next(p for p in got["parts"] if p["customer_id"] == str(w.a.customer.id))
    assert part_a["status"] == "denied"
    assert part_a["reason"] == "The employer name matches the contract."
    assert got["status"] == "waiting_for_customer"
    assert [e["action"] for e in got["history"]][:2] == ["received", "verified"]
    assert "customer_denied" in [e["action"] for e in got["history"]]


def test_a_worker_may_not_decide(client, person):
    w = person.world
    req = person.extra["earlier_request"]
    h = admin_headers(client, w.a.worker)
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{req.id}/decision",
                    headers=h, json={"decision": "approve"})
    assert r.status_code == 403


def test_rectification_completes_when_every_customer_decided(client, person, session):
    w = person.world
    req = person.extra["earlier_request"]
    for cust, admin, decision in ((w.a.customer, w.a.admin, "approve"),
                                  (w.b.customer, w.b.admin, "deny"),
                                  (person.extra["customer_c"], person.extra["admin_c"],
                                   "approve")):
        h = admin_headers(client, admin)
        r = client.post(f"/api/v1/customers/{cust.id}/requests/{req.id}/decision", headers=h,
                        json={"decision": decision, "reason": "Not ours to change"})
        assert r.status_code == 200, r.get_json()
        client.post("/api/v1/auth/logout", headers=h)
    session.expire_all()
    dr = session.get(DataRequest, req.id)
    assert dr.status == "completed" and dr.closed_at is not None
    assert "Not ours to change" in dr.outcome
    parts = session.scalars(select(DataRequestPart).where(DataRequestPart.request_id == req.id))
    assert {p.status for p in parts} == {"completed", "denied"}


def test_request_input_is_validated(client, person, session):
    h = auth(person)
    before = session.scalar(select(DataRequest.id).order_by(DataRequest.created_at.desc()))
    for body in ({"type": "erasure"}, {"type": "delete-me", "password": PASSWORD},
                 {"type": "access", "password": PASSWORD, "extra": 1},
                 {"type": "access", "password": PASSWORD, "details": "x" * 5000}):
        r = client.post("/api/v1/me/requests", headers=h, json=body)
        assert r.status_code == 400, (body, r.get_json())
        assert r.mimetype == "application/problem+json"
    r = client.post("/api/v1/me/requests", headers=h,
                    json={"type": "access", "password": "wrong password here"})
    assert r.status_code == 400
    assert r.get_json()["errors"] == {"password": ["The password is wrong."]}
    # Nothing half-written.
    assert session.scalar(select(DataRequest.id).order_by(DataRequest.created_at.desc())
                          ) == before


def test_access_request_is_answered_at_once(client, person):
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "access", "password": PASSWORD})
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "completed"
    assert set(body) >= {"id", "type", "status", "due_at"}
    assert "/api/v1/me/export" in body["outcome"]


def test_objection_withdraws_marketing_consent(client, person, session):
    from privacy import consent

    account_id = person.account.id  # an id, not an object to reload after expire_all()
    assert consent.has_consent(session, account_id, "newsletter")
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "objection", "password": PASSWORD,
                          "details": "No marketing, please."})
    assert r.status_code == 201
    session.expire_all()
    assert not consent.has_consent(session, account_id, "newsletter")


def test_restriction_approved_marks_the_customers_rows(client, person, session):
    w = person.world
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "restriction", "password": PASSWORD})
    rid = r.get_json()["id"]
    h = admin_headers(client, w.a.admin)
    r = client.post(f"/api/v1/customers/{w.a.customer.id}/requests/{rid}/decision", headers=h,
                    json={"decision": "approve"})
    assert r.status_code == 200
    assert "restricted" in r.get_json()["outcome"]
    session.expire_all()
    assert session.get(Entry, person.extra["entry_recent"].id).restricted is True


def test_clock_is_utc_in_answers(client, person):
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "access", "password": PASSWORD})
    assert r.get_json()["due_at"].endswith(("+00:00", "Z"))
    assert clock.now().tzinfo is not None


def _erase_everything(client, person):
    r = client.post("/api/v1/me/requests", headers=auth(person),
                    json={"type": "erasure", "password": PASSWORD})
    rid = r.get_json()["id"]
    w = person.world
    for cust, admin in ((w.a.customer, w.a.admin), (w.b.customer, w.b.admin),
                        (person.extra["customer_c"], person.extra["admin_c"])):
        h = admin_headers(client, admin)
        d = client.post(f"/api/v1/customers/{cust.id}/requests/{rid}/decision", headers=h,
                        json={"decision": "approve"})
        assert d.status_code == 200, d.get_json()
        client.post("/api/v1/auth/logout", headers=h)
    return rid


def test_reapply_after_restore_erases_tenant_and_platform_data_again(client, person, session,
                                                                     runner):
    from models import Device, Membership

    account_id = person.account.id
    a_id = person.world.a.customer.id
    recent_id = person.extra["entry_recent"].id
    _erase_everything(client, person)
    session.expire_all()
    # Last night's backup comes back: the address, a device, the membership in A.
    acc = session.get(Account, account_id)
    acc.email, acc.phone, acc.is_active = person.email, person.phone, True
    session.add(Device(id=uuid.uuid4(), account_id=account_id,
                       device_hash=person.identifiers["device_hash"]))
    session.add(Membership(id=uuid.uuid4(), customer_id=a_id, account_id=account_id,
                           role="member", employer_name="Quxberg Bygg AB"))
    session.commit()
    result = runner.invoke(args=["privacy", "reapply-erasures"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    acc = session.get(Account, account_id)
    assert acc.email.endswith("@erased.invalid") and acc.phone is None and not acc.is_active
    assert session.scalar(select(Device).where(Device.account_id == account_id)) is None
    assert session.scalar(select(Membership).where(Membership.account_id == account_id)) is None
    # What the legal hold keeps stays kept, restricted.
    assert session.get(Entry, recent_id).restricted is True
    again = runner.invoke(args=["privacy", "reapply-erasures"])
    assert "0 applied again" in again.output
