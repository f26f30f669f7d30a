"""The personnel ledger (JSON and CSV, streamed), identity numbers and their audit trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
import zoneinfo

import pytest
from sqlalchemy import select

from entryfy import clock
from models import AuditEvent
from tests.attendance import entry, give_identity_number, personnummer
from tests.factories import bearer

T0 = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


def local(t: dt.datetime) -> str:
    """How the ledger writes a time: the site's zone (the world's sites are in Stockholm)."""
    return t.astimezone(STOCKHOLM).isoformat()
RANGE = "from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z"


@pytest.fixture
def ah(client, world):
    return bearer(client, world.a.admin, device_id="admin-device-1")


@pytest.fixture
def shifts(client, session, world, ah):
    """A plain shift, a corrected one (closed by the admin), and one outside the range."""
    a = world.a
    number = give_identity_number(session, a.worker, personnummer("19850161", "234"))
    plain = entry(session, a.site, a.worker, checked_in_at=T0,
                  checked_out_at=T0 + dt.timedelta(hours=8), employer_name="Sub AB",
                  employer_org_nr="559012-3450")
    fixed = entry(session, a.site, a.worker, checked_in_at=T0 + dt.timedelta(days=1),
                  employer_name="Sub AB", employer_org_nr="559012-3450")
    entry(session, a.site, a.worker, checked_in_at=T0 - dt.timedelta(days=10),
          checked_out_at=T0 - dt.timedelta(days=10, hours=-8))
    entry(session, world.b.site, world.b.worker, checked_in_at=T0)
    with clock.frozen_at(T0 + dt.timedelta(days=2)):
        r = client.post(f"/api/v1/customers/{a.customer.id}/entries/{fixed.id}/corrections",
                        headers=ah, json={"checked_out_at": (T0 + dt.timedelta(days=1, hours=9)
                                                             ).isoformat(),
                                          "reason": "Forgot to check out"})
    assert r.status_code == 201
    return number, plain, fixed


def url(t, q=RANGE) -> str:
    return f"/api/v1/customers/{t.customer.id}/sites/{t.site.id}/ledger?{q}"


def test_json_ledger(client, session, world, ah, shifts):
    number, plain, fixed = shifts
    r = client.get(url(world.a), headers=ah)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert body["ledger_id"] == world.a.site.ledger_id and body["site_id"] == str(world.a.site.id)
    rows = body["items"]
    assert [x["entry_id"] for x in rows] == [str(plain.id), str(fixed.id)]
    first, second = rows
    assert first["identity_number"] == number  # in clear, here only
    assert first["name"] == f"{world.a.worker.first_name} {world.a.worker.last_name}"
    assert (first["employer_name"], first["employer_org_nr"]) == ("Sub AB", "559012-3450")
    assert first["corrected"] is False and first["original_checked_in_at"] is None
    assert first["ledger_id"] == world.a.site.ledger_id
    assert second["corrected"] is True
    assert second["checked_out_at"] == local(T0 + dt.timedelta(days=1, hours=9))
    assert second["checked_out_at"] == "2026-11-03T16:30:00+01:00"
    assert second["original_checked_in_at"] == local(T0 + dt.timedelta(days=1))
    assert second["original_checked_out_at"] is None


def test_csv_ledger(client, world, ah, shifts):
    number, plain, fixed = shifts
    r = client.get(url(world.a, RANGE + "&format=csv"), headers=ah)
    assert r.status_code == 200
    assert r.mimetype == "text/csv" and r.mimetype_params.get("charset") == "utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [x["entry_id"] for x in rows] == [str(plain.id), str(fixed.id)]
    assert rows[0]["identity_number"] == number and rows[0]["corrected"] == "no"
    assert rows[1]["corrected"] == "yes"
    assert rows[1]["original_checked_in_at"] == local(T0 + dt.timedelta(days=1))
    assert rows[1]["original_checked_out_at"] == ""


def test_csv_cells_never_become_formulas(client, session, world, ah):
    world.a.worker.first_name = "=HYPERLINK(\"http://evil\")"
    session.commit()
    entry(session, world.a.site, world.a.worker, checked_in_at=T0, employer_name="+46 AB")
    text = client.get(url(world.a, RANGE + "&format=csv"), headers=ah).get_data(as_text=True)
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["name"].startswith("'=") and row["employer_name"] == "'+46 AB"


def test_every_unmasked_read_is_audited(client, session, world, ah, shifts):
    before = set(session.scalars(select(AuditEvent.id)))
    client.get(url(world.a), headers=ah)
    client.get(url(world.a, RANGE + "&format=csv"), headers=ah)
    new = [e for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))
           if e.id not in before]
    reads = [e for e in new if e.action == "identity_number.read"]
    assert len(reads) == 2  # one person in the ledger, read twice
    for e in reads:
        assert e.customer_id == world.a.customer.id and e.actor_id == world.a.admin.id
        assert e.subject_id == world.a.worker.id and e.object_type == "ledger"
        assert e.object_id == str(world.a.site.id)
    assert sum(e.action == "entries.read" for e in new) == 2


def test_the_person_sees_only_the_masked_number(client, world, shifts):
    number, *_ = shifts
    h = bearer(client, world.a.worker)
    me = client.get("/api/v1/me", headers=h).get_json()
    assert me["identity_number"] == number[:8] + "-****"
    r = client.get("/api/v1/me/entries", headers=h)
    assert r.status_code == 200  # a 404 would hold no number either
    assert r.get_json()["items"], "the person's own entries are listed"
    assert number not in r.get_data(as_text=True)


def test_admin_entry_views_show_no_identity_number(client, world, ah, shifts):
    number, plain, _ = shifts
    for path in (f"/api/v1/customers/{world.a.customer.id}/entries",
                 f"/api/v1/customers/{world.a.customer.id}/entries/{plain.id}"):
        r = client.get(path, headers=ah)
        assert r.status_code == 200, path  # a 404 would hold no number either
        assert str(plain.id) in r.get_data(as_text=True)
        assert number not in r.get_data(as_text=True)


def test_empty_period(client, world, ah):
    r = client.get(url(world.a, "from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z"), headers=ah)
    assert r.status_code == 200 and r.get_json()["items"] == []
    r = client.get(url(world.a, "from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z&format=csv"),
                   headers=ah)
    assert r.get_data(as_text=True).strip() == ",".join([
        "entry_id", "ledger_id", "name", "identity_number", "employer_name", "employer_org_nr",
        "checked_in_at", "checked_out_at", "corrected", "original_checked_in_at",
        "original_checked_out_at", "registered_at", "registered_by", "source", "auto_checkout"])


@pytest.mark.parametrize("q", [
    "",
    "from=2026-11-01T00:00:00Z",
    "from=2026-11-08T00:00:00Z&to=2026-11-01T00:00:00Z",
    "from=2026-11-01T00:00:00&to=2026-11-08T00:00:00Z",  # a time without an offset
    "from=2026-13-01&to=2026-11-08",
    "from=2026-11-08&to=2026-11-07",
    RANGE + "&dialect=excel",
    RANGE + "&format=xlsx",
    RANGE + "&extra=1",
])
def test_bad_query(client, world, ah, q):
    r = client.get(url(world.a, q), headers=ah)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_only_this_customers_admins(client, world, ah):
    worker = bearer(client, world.a.worker)
    assert client.get(url(world.a), headers=worker).status_code == 403
    other_site = f"/api/v1/customers/{world.a.customer.id}/sites/{world.b.site.id}/ledger?{RANGE}"
    missing = f"/api/v1/customers/{world.a.customer.id}/sites/{uuid.uuid4()}/ledger?{RANGE}"
    a, b = client.get(other_site, headers=ah), client.get(missing, headers=ah)
    assert a.status_code == b.status_code == 404 and a.get_json() == b.get_json()
    assert client.get(url(world.b), headers=ah).status_code == 404


# -------------------------------------------------------------- identity number via /me

def test_set_identity_number_via_patch_me(client, session, world):
    h = bearer(client, world.a.worker)
    r = client.patch("/api/v1/me", json={"identity_number": "811218-9876"}, headers=h)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["identity_number"] == "19811218-****"
    session.refresh(world.a.worker)
    assert "9876" not in world.a.worker.identity_number_enc
    r = client.patch("/api/v1/me", json={"identity_number": None}, headers=h)
    assert r.get_json()["identity_number"] is None


@pytest.mark.parametrize("raw", ["811218-9877", "19850230-1234", "hello", "1" * 21, 198112189876])
def test_invalid_identity_number_is_400_and_changes_nothing(client, world, raw):
    h = bearer(client, world.a.worker)
    r = client.patch("/api/v1/me", json={"identity_number": raw, "first_name": "Changed"},
                     headers=h)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "identity_number" in r.get_json()["errors"]
    me = client.get("/api/v1/me", headers=h).get_json()
    assert me["identity_number"] is None and me["first_name"] != "Changed"


def test_a_large_ledger_streams_in_batches(client, session, world, ah):
    """More rows than one batch of the server-side cursor: all of them, in order, streamed."""
    from sqlalchemy import insert

    from models import Entry

    a = world.a
    give_identity_number(session, a.worker)
    start = dt.datetime(2025, 1, 1, 6, tzinfo=dt.UTC)
    rows = [{"id": uuid.uuid4(), "customer_id": a.customer.id, "site_id": a.site.id,
             "account_id": None if i % 2 else a.worker.id, "source": "door",
             "restricted": False, "created_at": start,
             "checked_in_at": start + dt.timedelta(hours=i),
             "checked_out_at": start + dt.timedelta(hours=i, minutes=30)} for i in range(2500)]
    session.execute(insert(Entry), rows)
    session.commit()
    r = client.get(url(a, "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&format=csv"),
                   headers=ah)
    assert r.status_code == 200 and r.is_streamed
    got = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [g["entry_id"] for g in got] == [str(x["id"]) for x in rows]
    r = client.get(url(a, "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"), headers=ah)
    assert len(r.get_json()["items"]) == 2500


# ------------------------------------------------------------------ site time zone, Excel

def test_dates_are_whole_days_in_the_site_time_zone(client, session, world, ah):
    """from=2026-11-02&to=2026-11-02 is 2 November in Stockholm: 1 Nov 23:00Z .. 2 Nov 23:00Z."""
    a = world.a
    just_in = entry(session, a.site, a.worker, checked_in_at=dt.datetime(
        2026, 11, 1, 23, 0, tzinfo=dt.UTC), checked_out_at=dt.datetime(
        2026, 11, 2, 7, 0, tzinfo=dt.UTC))         # 00:00 on the 2nd in Stockholm
    entry(session, a.site, a.worker, checked_in_at=dt.datetime(
        2026, 11, 1, 22, 59, 59, tzinfo=dt.UTC), checked_out_at=dt.datetime(
        2026, 11, 1, 22, 59, 59, 500000, tzinfo=dt.UTC))  # 23:59:59 on the 1st: outside
    entry(session, a.site, a.worker, checked_in_at=dt.datetime(
        2026, 11, 2, 23, 0, tzinfo=dt.UTC))        # 00:00 on the 3rd: outside
    body = client.get(url(a, "from=2026-11-02&to=2026-11-02"), headers=ah).get_json()
    assert [x["entry_id"] for x in body["items"]] == [str(just_in.id)]
    assert body["from"] == "2026-11-02T00:00:00+01:00" and body["to"] == "2026-11-03T00:00:00+01:00"
    assert body["timezone"] == "Europe/Stockholm"
    assert body["items"][0]["checked_in_at"] == "2026-11-02T00:00:00+01:00"


def test_times_are_whole_seconds(client, session, world, ah):
    entry(session, world.a.site, world.a.worker,
          checked_in_at=dt.datetime(2026, 11, 2, 6, 30, 15, 987654, tzinfo=dt.UTC))
    row = client.get(url(world.a), headers=ah).get_json()["items"][0]
    assert row["checked_in_at"] == "2026-11-02T07:30:15+01:00"


def test_swedish_excel_csv(client, session, world, ah, shifts):
    """dialect=excel-sv: a BOM, `;`, local times Excel reads, ja/nej; file named by ledger id
    and period."""
    _number, plain, fixed = shifts
    r = client.get(url(world.a, "from=2026-11-01&to=2026-11-07&format=csv&dialect=excel-sv"),
                   headers=ah)
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("entry_id;ledger_id;name;")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert [x["entry_id"] for x in rows] == [str(plain.id), str(fixed.id)]
    assert rows[0]["checked_in_at"] == "2026-11-02 07:30:00"
    assert rows[0]["corrected"] == "nej" and rows[1]["corrected"] == "ja"
    ledger_id = world.a.site.ledger_id
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="personalliggare-{ledger_id}-20261101-20261107.csv"')


def test_accept_language_swedish_picks_excel(client, world, ah, shifts):
    sv = client.get(url(world.a, RANGE + "&format=csv"),
                    headers={**ah, "Accept-Language": "sv-SE,sv;q=0.9,en;q=0.5"})
    assert sv.get_data().startswith(b"\xef\xbb\xbfentry_id;")
    en = client.get(url(world.a, RANGE + "&format=csv"), headers={**ah, "Accept-Language": "en"})
    assert en.get_data().startswith(b"entry_id,")
    forced = client.get(url(world.a, RANGE + "&format=csv&dialect=rfc4180"),
                        headers={**ah, "Accept-Language": "sv"})
    assert forced.get_data().startswith(b"entry_id,")


def test_file_name_of_a_site_without_ledger_id(client, session, world, ah):
    world.a.site.ledger_id = None
    session.commit()
    r = client.get(url(world.a, RANGE + "&format=csv"), headers=ah)
    assert r.headers["Content-Disposition"] == (
        f'attachment; filename="personalliggare-{world.a.site.id}-20261101-20261108.csv"')
