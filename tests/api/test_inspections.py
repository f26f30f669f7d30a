"""Inspectors' accesses: issued by admins (code once, hashed at rest), read without sign-in
as JSON, CSV and PDF, per-contractor filter, every use audited, expired/revoked -> 404,
throttled; and the drill: 300 people on site, the inspector's CSV matches the on-site list."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock, security
from models import Account, AuditEvent, Entry, Inspection
from tests.attendance import entry, give_identity_number, personnummer
from tests.factories import bearer

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
PERIOD = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:00Z"}


def problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    if slug:
        assert body["type"].endswith("/" + slug), body
    return body


def base(t) -> str:
    return f"/api/v1/customers/{t.customer.id}/sites/{t.site.id}/inspections"


@pytest.fixture
def ah(client, world):
    return bearer(client, world.a.admin, device_id="admin-inspect-phone")


def issue(client, t, ah, at: dt.datetime | None = None, **kw) -> dict:
    """Issued now (the real clock), or at ``at``."""
    if at is None:
        r = client.post(base(t), headers=ah, json={**PERIOD, **kw})
    else:
        with clock.frozen_at(at):
            r = client.post(base(t), headers=ah, json={**PERIOD, **kw})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def ledger(session, make, world):
    """A's site: the worker (Sub AB) did a shift and is on site again; an electrician from
    another contractor is on site; a shift outside the period; B's entries."""
    a = world.a
    n1 = give_identity_number(session, a.worker, personnummer("19850101", "234"))
    el = make.account(first_name="Elin", last_name="Ström")
    n2 = give_identity_number(session, el, personnummer("19920202", "345"))
    make.membership(a.customer, el, "member", employer_name="El AB",
                    employer_org_nr="556677-8899")
    done = entry(session, a.site, a.worker, checked_in_at=T0 - dt.timedelta(hours=20),
                 checked_out_at=T0 - dt.timedelta(hours=12), employer_name="Sub AB",
                 employer_org_nr="559012-3450")
    here = entry(session, a.site, a.worker, checked_in_at=T0 - dt.timedelta(hours=1),
                 employer_name="Sub AB", employer_org_nr="559012-3450")
    el_here = entry(session, a.site, el, checked_in_at=T0 - dt.timedelta(minutes=30),
                    employer_name="El AB", employer_org_nr="556677-8899", source="kiosk")
    entry(session, a.site, a.worker, checked_in_at=T0 - dt.timedelta(days=5),
          checked_out_at=T0 - dt.timedelta(days=5, hours=-8))
    entry(session, world.b.site, world.b.worker, checked_in_at=T0 - dt.timedelta(hours=2))
    return {"numbers": (n1, n2), "entries": (done, here, el_here), "el": el}


def test_an_admin_issues_a_code_kept_only_as_a_hash(client, session, world, ah):
    body = issue(client, world.a, ah, at=T0, hours=4)
    assert len(body["code"]) == 11 and body["code"][5] == "-"
    assert body["expires_at"] == "2026-11-02T11:00:00+00:00"
    row = session.get(Inspection, uuid.UUID(body["id"]))
    # A keyed hash (the app's key material), not a plain digest of the code.
    plain = body["code"].replace("-", "")
    assert row.code_hash == security.keys().keyed_hash("inspection-code", plain)
    assert row.code_hash != security.sha256_hex("inspection:" + plain)
    assert row.code_hash != security.sha256_hex(plain)
    assert body["code"] not in repr(row.__dict__)
    ev = session.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.created"))
    assert [(e.actor_id, e.object_id) for e in ev] == [(world.a.admin.id, body["id"])]


@pytest.mark.parametrize("payload", [
    {"from": "2026-11-03T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
    {**PERIOD, "hours": 0}, {**PERIOD, "hours": 73}, {"from": "2026-11-01"},
    {**PERIOD, "extra": True},
])
def test_bad_requests(client, world, ah, payload):
    problem(client.post(base(world.a), headers=ah, json=payload), 400)


def test_only_admins_and_only_their_sites(client, world, ah):
    problem(client.post(base(world.a), headers=bearer(client, world.a.worker), json=PERIOD),
            403)
    problem(client.post(f"/api/v1/customers/{world.a.customer.id}/sites/{world.b.site.id}"
                        "/inspections", headers=ah, json=PERIOD), 404)


def test_the_inspector_reads_the_ledger_and_who_is_on_site(client, session, world, ah, ledger):
    code = issue(client, world.a, ah)["code"]
    with clock.frozen_at(T0 + dt.timedelta(minutes=5)):
        r = client.get(f"/api/v1/inspections/{code}/ledger")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    a = world.a
    assert (body["ledger_id"], body["builder"]) == (
        a.site.ledger_id, {"name": a.customer.name, "org_nr": a.customer.org_nr})
    assert body["contractors"] == [{"org_nr": "556677-8899", "name": "El AB"},
                                   {"org_nr": "559012-3450", "name": "Sub AB"}]
    done, here, el_here = ledger["entries"]
    n1, n2 = ledger["numbers"]
    assert [(i["entry_id"], i["identity_number"], i["employer_org_nr"], i["source"])
            for i in body["ledger"]] == [
        (str(done.id), n1, "559012-3450", "app"), (str(here.id), n1, "559012-3450", "app"),
        (str(el_here.id), n2, "556677-8899", "kiosk")]
    assert body["on_site"]["count"] == 2
    assert [(i["entry_id"], i["name"], i["identity_number"]) for i in body["on_site"]["items"]
            ] == [(str(here.id), f"{a.worker.first_name} {a.worker.last_name}", n1),
                  (str(el_here.id), "Elin Ström", n2)]
    # Audited in A's trail: the use and each identity number shown.
    ev = session.scalars(select(AuditEvent).where(AuditEvent.actor_role == "inspector")
                         .order_by(AuditEvent.seq)).all()
    assert [(e.action, e.subject_id) for e in ev] == [
        ("inspection.used", None),
        *sorted([("identity_number.read", a.worker.id),
                 ("identity_number.read", ledger["el"].id)], key=lambda x: str(x[1]))]
    assert {e.customer_id for e in ev} == {a.customer.id}
    # The code typed in lower case and without the dash works too.
    r = client.get(f"/api/v1/inspections/{code.replace('-', '').lower()}/ledger")
    assert r.status_code == 200


def test_per_contractor_filter(client, world, ah, ledger):
    code = issue(client, world.a, ah)["code"]
    r = client.get(f"/api/v1/inspections/{code}/ledger?employer_org_nr=5566778899")
    body = r.get_json()
    assert [i["employer_org_nr"] for i in body["ledger"]] == ["556677-8899"]
    assert [i["name"] for i in body["on_site"]["items"]] == ["Elin Ström"]
    problem(client.get(f"/api/v1/inspections/{code}/ledger?employer_org_nr=12"), 400)


def test_csv_and_pdf(client, world, ah, ledger):
    code = issue(client, world.a, ah)["code"]
    r = client.get(f"/api/v1/inspections/{code}/ledger?format=csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [(x["section"], x["entry_id"]) for x in rows] == [
        ("on_site", str(ledger["entries"][1].id)), ("on_site", str(ledger["entries"][2].id)),
        *[("ledger", str(e.id)) for e in ledger["entries"]]]
    assert {x["ledger_id"] for x in rows} == {world.a.site.ledger_id}
    assert {x["builder_org_nr"] for x in rows} == {world.a.customer.org_nr}
    r = client.get(f"/api/v1/inspections/{code}/ledger?format=pdf")
    assert r.status_code == 200 and r.get_data().startswith(b"%PDF-")


def test_expired_revoked_and_unknown_codes_are_not_found(client, session, world, ah, ledger):
    made = issue(client, world.a, ah, at=T0, hours=2)
    with clock.frozen_at(T0 + dt.timedelta(hours=2)):
        expired = client.get(f"/api/v1/inspections/{made['code']}/ledger")
    problem(expired, 404)
    other = issue(client, world.a, ah)
    assert client.get(f"/api/v1/inspections/{other['code']}/ledger").status_code == 200
    # B's admin cannot revoke A's inspection.
    problem(client.delete(f"{base(world.b)}/{other['id']}",
                          headers=bearer(client, world.b.admin)), 404)
    assert client.delete(f"{base(world.a)}/{other['id']}", headers=ah).status_code == 204
    gone = client.get(f"/api/v1/inspections/{other['code']}/ledger")
    unknown = client.get("/api/v1/inspections/ABCDE-FGHJK/ledger")
    assert problem(gone, 404) == problem(unknown, 404) == problem(expired, 404)
    ev = session.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.revoked"))
    assert [e.object_id for e in ev] == [other["id"]]


def test_throttled(client, app, world, ah):
    app.config["INSPECTION_LIMIT"] = "2 per minute"
    try:
        codes = [client.get("/api/v1/inspections/ABCDE-FGHJK/ledger").status_code
                 for _ in range(3)]
    finally:
        app.config.pop("INSPECTION_LIMIT")
    assert codes == [404, 404, 429]


def test_the_inspection_drill(client, session, make, world, ah):
    """300 people checked in at a site; the inspector's CSV lists exactly the people the
    on-site list shows, with the same entries, names and employers."""
    a = world.a
    people = [Account(id=uuid.uuid4(), email=f"drill{i}@example.test", first_name=f"Drill{i}",
                      last_name="Person", is_active=True) for i in range(300)]
    session.add_all(people)
    session.flush()
    employers = [("Sub AB", "559012-3450"), ("El AB", "556677-8899"), ("Rör AB", None)]
    for i, acc in enumerate(people):
        name, org = employers[i % 3]
        session.add(Entry(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                          account_id=acc.id, checked_in_at=T0 - dt.timedelta(seconds=i),
                          employer_name=name, employer_org_nr=org, source="app",
                          restricted=False))
    # Checked out already: not on site.
    session.add(Entry(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                      account_id=a.worker.id, checked_in_at=T0 - dt.timedelta(hours=3),
                      checked_out_at=T0 - dt.timedelta(hours=2), source="app",
                      restricted=False))
    session.commit()
    code = issue(client, a, ah)["code"]
    with clock.frozen_at(T0 + dt.timedelta(minutes=1)):
        # Both streamed: each read to its end before the next request.
        on_site = client.get(f"/api/v1/customers/{a.customer.id}/sites/{a.site.id}"
                             "/on-site?format=csv", headers=ah)
        listed_text = on_site.get_data(as_text=True)
        inspector = client.get(f"/api/v1/inspections/{code}/ledger?format=csv")
        seen_text = inspector.get_data(as_text=True)
    assert on_site.status_code == inspector.status_code == 200
    listed = list(csv.DictReader(io.StringIO(listed_text)))
    seen = [r for r in csv.DictReader(io.StringIO(seen_text)) if r["section"] == "on_site"]
    assert len(listed) == len(seen) == 300
    assert [(r["entry_id"], r["person_name"], r["employer_name"], r["checked_in_at"])
            for r in listed] == [
        (r["entry_id"], r["name"], r["employer_name"], r["checked_in_at"]) for r in seen]
    ledger_rows = [r for r in csv.DictReader(io.StringIO(seen_text))
                   if r["section"] == "ledger"]
    assert len(ledger_rows) == 301


# ------------------------------------------------------------- the admins' list

def test_admins_list_the_accesses_by_status_without_codes(client, session, world, ah):
    a = world.a
    expired = issue(client, a, ah, at=T0 - dt.timedelta(days=2), hours=2)
    revoked = issue(client, a, ah, at=T0 - dt.timedelta(hours=1), hours=8)
    active = issue(client, a, ah, at=T0, hours=8)
    with clock.frozen_at(T0):
        assert client.delete(f"{base(a)}/{revoked['id']}", headers=ah).status_code == 204
        r = client.get(base(a), headers=ah)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [(i["id"], i["status"]) for i in body["items"]] == [
        (active["id"], "active"), (revoked["id"], "revoked"), (expired["id"], "expired")]
    first = body["items"][0]
    assert (first["from"], first["to"], first["expires_at"], first["created_by"],
            first["revoked_at"], first["last_used_at"]) == (
        "2026-11-01T00:00:00+00:00", "2026-11-03T00:00:00+00:00", "2026-11-02T15:00:00+00:00",
        str(a.admin.id), None, None)
    assert body["items"][1]["revoked_at"] == "2026-11-02T07:00:00+00:00"
    text = r.get_data(as_text=True)
    assert all(made["code"] not in text and made["code"].replace("-", "") not in text
               for made in (expired, revoked, active))
    assert "code" not in first and "code_hash" not in first
    with clock.frozen_at(T0):
        for status, ids in (("active", [active["id"]]), ("revoked", [revoked["id"]]),
                            ("expired", [expired["id"]])):
            got = client.get(f"{base(a)}?status={status}", headers=ah).get_json()
            assert [i["id"] for i in got["items"]] == ids, status
        # Paged: one at a time, newest first, the cursor leads on.
        page1 = client.get(f"{base(a)}?limit=2", headers=ah).get_json()
        page2 = client.get(f"{base(a)}?limit=2&cursor={page1['next_cursor']}",
                           headers=ah).get_json()
    assert [i["id"] for i in page1["items"] + page2["items"]] == [
        active["id"], revoked["id"], expired["id"]]
    assert page2["next_cursor"] is None


def test_the_list_refuses_others_and_bad_filters(client, world, ah):
    a = world.a
    issue(client, a, ah)
    problem(client.get(base(a), headers=bearer(client, a.worker)), 403)
    problem(client.get(base(world.b), headers=ah), 404)
    problem(client.get(f"/api/v1/customers/{a.customer.id}/sites/{world.b.site.id}"
                       "/inspections", headers=ah), 404)
    # B's admin sees none of A's accesses.
    b_list = client.get(base(world.b), headers=bearer(client, world.b.admin)).get_json()
    assert b_list["items"] == []
    problem(client.get(f"{base(a)}?status=used", headers=ah), 400)
    problem(client.get(f"{base(a)}?cursor=not-a-cursor", headers=ah), 400)
    problem(client.get(f"{base(a)}?limit=0", headers=ah), 400)


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_the_inspectors_ledger_is_streamed(client, session, world, ah, monkeypatch, fmt):
    """JSON and CSV come from the cursor piece by piece: when the first pieces are out, the
    ledger has not been read to its end (flat memory for a long period), and the whole body
    still lists every shift, in order; the use was audited before."""
    import json

    from api import printing
    from entryfy.ops import entries as entry_ops

    a = world.a
    shifts = [entry(session, a.site, a.worker, checked_in_at=T0 - dt.timedelta(hours=20 - i),
                    checked_out_at=T0 - dt.timedelta(hours=19.5 - i)) for i in range(12)]
    session.commit()
    code = issue(client, a, ah)["code"]
    read: list[int] = []
    real = entry_ops.ledger_rows

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        for row in real(*args, **kw):
            read.append(1)
            yield row

    monkeypatch.setattr(entry_ops, "ledger_rows", counted)
    monkeypatch.setitem(printing.csv_stream.__kwdefaults__, "batch", 2)
    r = client.get(f"/api/v1/inspections/{code}/ledger?format={fmt}")
    assert r.status_code == 200 and r.is_streamed
    pieces = iter(r.response)
    head = [next(pieces), next(pieces)]
    assert 0 < len(read) < len(shifts)
    text = "".join(p.decode() if isinstance(p, bytes) else p for p in [*head, *pieces])
    assert len(read) == len(shifts)
    if fmt == "json":
        ids = [i["entry_id"] for i in json.loads(text)["ledger"]]
    else:
        ids = [x["entry_id"] for x in csv.DictReader(io.StringIO(text))
               if x["section"] == "ledger"]
    assert ids == [str(e.id) for e in shifts]
    used = session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_role == "inspector")).all()
    assert used == ["inspection.used"]  # the worker has no identity number to show
