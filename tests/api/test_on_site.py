"""Who is on site now (JSON, CSV, PDF), the foreman's registrations, late and offline
check-ins, and the plain check-in's statement count kept as it was."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from models import AuditEvent, Entry
from tests import sqlspy
from tests.attendance import at_site, entry, give_identity_number, key
from tests.factories import bearer

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


def problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    if slug:
        assert body["type"].endswith("/" + slug), body
    return body


def url(t, suffix: str = "") -> str:
    return f"/api/v1/customers/{t.customer.id}/sites/{t.site.id}/on-site{suffix}"


@pytest.fixture
def crew(session, make, world):
    """Three people checked in at A's site (one by kiosk), one checked out, one at B."""
    a = world.a
    people = []
    for i, (first, employer) in enumerate([("Anna", "Sub AB"), ("Bo", "El AB"),
                                           ("=Cmd", "Rör AB")]):
        acc = make.account(first_name=first, last_name=f"Last{i}")
        m = make.membership(a.customer, acc, "member", employer_name=employer)
        people.append(entry(session, a.site, acc, checked_in_at=T0 + dt.timedelta(minutes=i),
                            membership_id=m.id, employer_name=employer,
                            source="kiosk" if i == 1 else "app"))
    gone = make.account(first_name="Gone")
    entry(session, a.site, gone, checked_in_at=T0, checked_out_at=T0 + dt.timedelta(hours=1))
    entry(session, world.b.site, world.b.worker, checked_in_at=T0)
    return people


@pytest.mark.parametrize("role", ["admin", "operator", "foreman"])
def test_admins_operators_and_foremen_see_who_is_on_site(client, make, world, crew, role,
                                                         session):
    a = world.a
    person = make.account()
    make.membership(a.customer, person, role)
    with clock.frozen_at(T0 + dt.timedelta(hours=2)):
        r = client.get(url(a), headers=bearer(client, person))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["count"] == 3
    assert [i["person_name"] for i in body["items"]] == ["Anna Last0", "Bo Last1",
                                                         "=Cmd Last2"]
    assert [i["employer_name"] for i in body["items"]] == ["Sub AB", "El AB", "Rör AB"]
    assert [i["entry_id"] for i in body["items"]] == [str(e.id) for e in crew]
    assert body["items"][0]["checked_in_at"] == "2026-11-02T07:00:00+00:00"
    assert r.headers["Cache-Control"] == "no-store"
    read = session.scalars(select(AuditEvent).where(AuditEvent.object_type == "on_site")).all()
    assert [(e.action, e.actor_id, e.actor_role) for e in read] == [
        ("entries.read", person.id, role)]


def test_both_databases_write_the_list_alike(client, make, session, world):
    """On PostgreSQL the database writes the JSON; names and times come out as Python
    writes them on SQLite: microseconds only when there are some, a missing name part
    left out, an empty site an empty list."""
    a = world.a
    h = bearer(client, a.admin)
    empty = client.get(url(a), headers=h).get_json()
    assert (empty["count"], empty["items"]) == (0, [])
    only_first = make.account(first_name="Solo", last_name="")
    entry(session, a.site, only_first, checked_in_at=T0.replace(microsecond=120),
          employer_name=None)
    entry(session, a.site, a.worker, checked_in_at=T0 + dt.timedelta(seconds=1),
          employer_name='Bygg "Citat" AB')
    body = client.get(url(a), headers=h).get_json()
    assert body["items"][0]["person_name"] == "Solo"
    assert [(i["checked_in_at"], i["employer_name"]) for i in body["items"]] == [
        ("2026-11-02T07:00:00.000120+00:00", None),
        ("2026-11-02T07:00:01+00:00", 'Bygg "Citat" AB')]
    assert body["site_name"] == a.site.name and body["site_id"] == str(a.site.id)


@pytest.mark.parametrize("role", ["member", "guest"])
def test_members_may_not_see_the_list(client, make, world, crew, role):
    person = make.account()
    make.membership(world.a.customer, person, role)
    r = client.get(url(world.a), headers=bearer(client, person))
    problem(r, 403, "role-required")


def test_another_customers_site_is_not_found(client, world, crew):
    h = bearer(client, world.a.admin)
    r = client.get(f"/api/v1/customers/{world.a.customer.id}/sites/{world.b.site.id}/on-site",
                   headers=h)
    problem(r, 404)
    r = client.get(url(world.b), headers=h)
    problem(r, 404)


def test_csv_and_pdf(client, world, crew):
    h = bearer(client, world.a.admin)
    with clock.frozen_at(T0 + dt.timedelta(hours=2)):
        r = client.get(url(world.a, "?format=csv"), headers=h)
        assert r.status_code == 200 and r.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
        assert rows[0] == ["entry_id", "person_name", "employer_name", "checked_in_at"]
        assert [row[1] for row in rows[1:]] == ["Anna Last0", "Bo Last1", "'=Cmd Last2"]
        r = client.get(url(world.a, "?format=pdf"), headers=h)
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    data = r.get_data()
    assert data.startswith(b"%PDF-") and len(data) > 800
    r = client.get(url(world.a, "?format=xml"), headers=h)
    problem(r, 400)


def test_the_pdf_prints_names_outside_latin1(client, make, session, world):
    acc = make.account(first_name="Łukasz", last_name="Żółć")
    entry(session, world.a.site, acc, checked_in_at=T0, employer_name="Ørsted 北京")
    r = client.get(url(world.a, "?format=pdf"), headers=bearer(client, world.a.admin))
    assert r.status_code == 200 and r.get_data().startswith(b"%PDF-")


def test_the_list_reads_the_open_entries_index(session, backend, world):
    """The query plan uses uq_entries_open (a partial index over open entries only)."""
    from sqlalchemy import text

    from entryfy.ops import onsite
    from models import Account

    stmt = (select(Entry.id, Account.first_name).join(Account, Account.id == Entry.account_id)
            .where(Entry.customer_id == world.a.customer.id, onsite.open_at_site(world.a.site.id)))
    sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    if backend.name == "postgresql":
        # A tiny test table is cheaper to scan: tell the planner scans cost too much, so it
        # shows which index it would take.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(r[0] for r in session.execute(text("EXPLAIN " + sql)))
    else:
        plan = "\n".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "uq_entries_open" in plan, plan


# --------------------------------------------------------------------- the foreman

@pytest.fixture
def foreman(session, make, world):
    acc = make.account(first_name="Fore", last_name="Man")
    make.membership(world.a.customer, acc, "foreman")
    return acc


@pytest.fixture
def colleague(session, world):
    give_identity_number(session, world.a.worker)
    # Made long before the (frozen) test time: a claim is checked against it.
    world.a.worker_membership.created_at = T0 - dt.timedelta(days=30)
    session.commit()
    return world.a.worker


def test_a_foreman_registers_a_colleague(client, session, world, foreman, colleague):
    a = world.a
    fh = bearer(client, foreman)
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**fh, **key()},
                        json=at_site(a.site, member_id=str(a.worker_membership.id)))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["registered_by"], body["registered_at"], body["checked_in_at"]) == (
        str(foreman.id), "2026-11-02T07:00:00+00:00", "2026-11-02T07:00:00+00:00")
    e = session.get(Entry, uuid.UUID(body["id"]))
    assert (e.account_id, e.membership_id, e.registered_by_id, e.employer_name) == (
        colleague.id, a.worker_membership.id, foreman.id, "Sub AB")
    # The colleague sees it in their own list and their register extract.
    wh = bearer(client, colleague, device_id="colleague-phone")
    mine = client.get("/api/v1/me/entries", headers=wh).get_json()["items"]
    assert [(i["id"], i["registered_by"]) for i in mine] == [(body["id"], str(foreman.id))]
    export = client.get("/api/v1/me/export", headers=wh)
    assert export.status_code == 200
    assert body["id"] in export.get_data(as_text=True)
    assert str(foreman.id) in export.get_data(as_text=True)
    # Audited as a change to the colleague's data by the foreman.
    ev = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "entry.registered_for")).all()
    assert [(x.actor_id, x.actor_role, x.subject_id) for x in ev] == [
        (foreman.id, "foreman", colleague.id)]
    # The colleague can check out of it themself.
    r = client.post(f"/api/v1/entries/{body['id']}/checkout", headers=wh, json={})
    assert r.status_code == 200 and r.get_json()["checked_out_at"] is not None


def test_a_foreman_cannot_reach_another_customers_site_or_member(client, world, foreman,
                                                                 colleague, session):
    fh = bearer(client, foreman)
    r = client.post("/api/v1/entries", headers={**fh, **key()},
                    json=at_site(world.b.site, member_id=str(world.b.worker_membership.id)))
    problem(r, 404)
    r = client.post("/api/v1/entries", headers={**fh, **key()},
                    json=at_site(world.a.site, member_id=str(world.b.worker_membership.id)))
    problem(r, 404)
    r = client.post("/api/v1/entries", headers={**fh, **key()},
                    json=at_site(world.a.site, member_id=str(uuid.uuid4())))
    problem(r, 404)
    assert session.scalar(select(Entry.id)) is None


def test_a_member_may_not_register_a_colleague(client, make, world, colleague):
    other = make.account()
    make.membership(world.a.customer, other, "member")
    r = client.post("/api/v1/entries", headers={**bearer(client, other), **key()},
                    json=at_site(world.a.site, member_id=str(world.a.worker_membership.id)))
    problem(r, 403, "role-required")


def test_an_inactive_colleague_is_refused(client, session, world, foreman, colleague):
    world.a.worker_membership.active = False
    session.commit()
    r = client.post("/api/v1/entries", headers={**bearer(client, foreman), **key()},
                    json=at_site(world.a.site, member_id=str(world.a.worker_membership.id)))
    problem(r, 422, "member-not-active")


def test_the_same_key_again_is_the_same_entry(client, world, foreman, colleague):
    fh = {**bearer(client, foreman), **key()}
    body = at_site(world.a.site, member_id=str(world.a.worker_membership.id))
    first = client.post("/api/v1/entries", headers=fh, json=body)
    again = client.post("/api/v1/entries", headers=fh, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]


# ------------------------------------------------------------- late and offline

@pytest.fixture
def wh(client, colleague):
    return bearer(client, colleague)


def test_an_offline_check_in_keeps_the_claimed_and_the_registered_time(client, session, world,
                                                                      wh):
    claimed = T0 - dt.timedelta(hours=3)
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site, occurred_at=claimed.isoformat()))
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["checked_in_at"], body["registered_at"], body["registered_by"]) == (
        "2026-11-02T04:00:00+00:00", "2026-11-02T07:00:00+00:00", None)
    # The ledger shows both.
    admin = bearer(client, world.a.admin, device_id="admin-phone")
    with clock.frozen_at(T0):
        led = client.get(f"/api/v1/customers/{world.a.customer.id}/sites/{world.a.site.id}"
                         "/ledger?from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z",
                         headers=admin).get_json()
    # In the site's time zone (Stockholm, CET in November), as the ledger shows every time.
    assert [(i["checked_in_at"], i["registered_at"], i["source"]) for i in led["items"]] == [
        ("2026-11-02T05:00:00+01:00", "2026-11-02T08:00:00+01:00", "app")]


@pytest.mark.parametrize("claimed, slug", [
    (T0 + dt.timedelta(minutes=5), "occurred-in-future"),
    (T0 - dt.timedelta(hours=24, minutes=1), "occurred-too-old"),
])
def test_claims_that_cannot_stand_are_refused(client, session, world, wh, claimed, slug):
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site, occurred_at=claimed.isoformat()))
    problem(r, 422, slug)
    assert session.scalar(select(Entry.id)) is None


def test_a_claim_before_the_membership_is_refused(client, session, world, wh):
    world.a.worker_membership.valid_from = T0 - dt.timedelta(hours=1)
    session.commit()
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site,
                                     occurred_at=(T0 - dt.timedelta(hours=2)).isoformat()))
    problem(r, 422, "occurred-before-membership")


def test_the_window_is_a_site_setting(client, session, world, wh):
    h = bearer(client, world.a.admin, device_id="admin-phone")
    r = client.patch(f"/api/v1/customers/{world.a.customer.id}/sites/{world.a.site.id}",
                     headers=h, json={"late_registration_hours": 48})
    assert r.status_code == 200 and r.get_json()["late_registration_hours"] == 48
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site,
                                     occurred_at=(T0 - dt.timedelta(hours=30)).isoformat()))
    assert r.status_code == 201, r.get_json()
    r = client.patch(f"/api/v1/customers/{world.a.customer.id}/sites/{world.a.site.id}",
                     headers=h, json={"late_registration_hours": 1000})
    problem(r, 400)


def test_a_claim_inside_another_shift_is_refused(client, session, world, wh, colleague):
    entry(session, world.a.site, colleague, checked_in_at=T0 - dt.timedelta(hours=6),
          checked_out_at=T0 - dt.timedelta(hours=2))
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site,
                                     occurred_at=(T0 - dt.timedelta(hours=3)).isoformat()))
        problem(r, 422, "overlapping-shift")
        open_one = client.post("/api/v1/entries", headers={**wh, **key()},
                               json=at_site(world.a.site))
        assert open_one.status_code == 201
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site,
                                     occurred_at=(T0 - dt.timedelta(hours=1)).isoformat()))
    assert r.status_code == 422 or r.status_code == 409
    assert r.status_code == 409 or r.get_json()["type"].endswith("overlapping-shift")


def test_an_offline_claim_while_checked_in_is_already_checked_in(client, session, world, wh,
                                                                 colleague):
    with clock.frozen_at(T0 - dt.timedelta(hours=2)):
        first = client.post("/api/v1/entries", headers={**wh, **key()},
                            json=at_site(world.a.site))
    with clock.frozen_at(T0):
        r = client.post("/api/v1/entries", headers={**wh, **key()},
                        json=at_site(world.a.site,
                                     occurred_at=(T0 - dt.timedelta(hours=1)).isoformat()))
    body = problem(r, 409, "already-checked-in")
    assert body["entry_id"] == first.get_json()["id"]


# -------------------------------------------------------- the hot path stays as it was

def test_the_plain_check_in_issues_as_many_statements_as_before(client, backend, make, world,
                                                               wh, app, monkeypatch):
    """The fields added for foremen and late registrations cost the plain check-in nothing:
    the same statements as before (the hot ones that run on the DBAPI cursor on PostgreSQL
    included, tests.sqlspy): the token, the scoped lookup (on PostgreSQL one statement with
    the sign-in), the insert."""
    from entryfy.web import database

    other_site = make.site(world.a.customer)
    # A first check-in: the token's last use is written once, then not for a while.
    first = client.post("/api/v1/entries", headers={**wh, **key()}, json=at_site(other_site))
    assert first.status_code == 201
    with app.app_context():
        engine = database().engine
    with sqlspy.statements(monkeypatch, engine, words=4) as seen:
        r = client.post("/api/v1/entries", headers={**wh, **key()}, json=at_site(world.a.site))
    assert r.status_code == 201, r.get_json()
    # The tests' sessions join an outer connection, so each of their transactions writes its
    # (empty) context first; a request's fresh pooled transaction does not.
    seen = [s for s in seen if not s.startswith("SELECT set_config(")]
    assert seen == ([
        "SELECT signed_in.id, signed_in.account_id, signed_in.last_used_at,",
        "SELECT scope.scoped_ids, target.id, target.customer_id,",
        "INSERT INTO entries (site_id,",
    ] if backend.name == "postgresql" else [
        "SELECT access_tokens.id, access_tokens.account_id, access_tokens.last_used_at,",
        "SELECT memberships.customer_id FROM memberships",
        "SELECT sites.id, sites.customer_id, sites.latitude,",
        "INSERT INTO entries (site_id,",
    ]), seen


def test_an_admin_makes_someone_foreman(client, session, world):
    a = world.a
    h = bearer(client, a.admin, device_id="admin-phone")
    r = client.patch(f"/api/v1/customers/{a.customer.id}/members/{a.worker_membership.id}",
                     headers=h, json={"role": "foreman"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["role"] == "foreman"
    r = client.get(url(a), headers=bearer(client, a.worker))
    assert r.status_code == 200 and r.get_json()["count"] == 0
    r = client.patch(f"/api/v1/customers/{a.customer.id}/members/{a.worker_membership.id}",
                     headers=h, json={"role": "boss"})
    problem(r, 400)


# ------------------------------------------------------------- the list at any size

def test_the_csv_is_streamed_and_lists_what_the_json_lists(client, make, session, world):
    """The CSV comes from a cursor in pieces (flat memory), its cells written by the database
    exactly as the JSON's: names with a missing part, microseconds only when there are some,
    more rows than one piece of the stream."""
    from entryfy.ops import onsite

    a = world.a
    solo = make.account(first_name="", last_name="Ensam")
    entry(session, a.site, solo, checked_in_at=T0.replace(microsecond=5), employer_name=None)
    for i in range(3):
        acc = make.account(first_name=f"P{i}", last_name="Q")
        entry(session, a.site, acc, checked_in_at=T0 + dt.timedelta(seconds=i + 1),
              employer_name=f"Sub {i}")
    h = bearer(client, a.admin)
    body = client.get(url(a), headers=h).get_json()
    orig_batch = onsite.BATCH
    onsite.BATCH = 2
    try:
        r = client.get(url(a, "?format=csv"), headers=h)
        assert r.status_code == 200 and r.is_streamed
        pieces = list(r.response)
    finally:
        onsite.BATCH = orig_batch
    assert len(pieces) == 3  # the header, then 4 rows read from the cursor 2 at a time
    rows = list(csv.reader(io.StringIO("".join(
        p.decode() if isinstance(p, bytes) else p for p in pieces))))
    assert rows[0] == ["entry_id", "person_name", "employer_name", "checked_in_at"]
    assert rows[1:] == [[i["entry_id"], i["person_name"] or "", i["employer_name"] or "",
                         i["checked_in_at"]] for i in body["items"]]
    assert rows[1][1:] == ["Ensam", "", "2026-11-02T07:00:00.000005+00:00"]
    assert [row[1] for row in rows[2:]] == ["P0 Q", "P1 Q", "P2 Q"]
    # One audit record per list read, whatever its size (none per person).
    reads = session.scalars(select(AuditEvent).where(AuditEvent.object_type == "on_site")).all()
    assert len(reads) == 2


AWKWARD = [
    # (first name, last name, employer): what a spreadsheet must not run, what CSV must quote.
    ("=SUM(A1)", "Cell", "+46 Bygg AB"),
    ("Anna", 'Says "hej"', "Bygg, Rör & El AB"),
    ("Two\nLines", "Person", "@Rör AB"),
    ("-Minus", "", "\tTabbed AB"),
    ("", "", "Carriage\rReturn AB"),
    ("Åsa", "Öberg-Ängel", None),
    ("Ⅻ 北京", "Ünïcode", ""),
]


def test_the_databases_write_what_pythons_csv_and_json_would(client, make, session, world):
    """The database writes the on-site CSV lines and the JSON (ops.onsite); they must come out
    byte for byte as Python's csv module (with printing.cell's formula guard) and as the same
    values json.loads reads back, for the text people type: formulas, quotes, commas, line
    breaks, tabs, empty and missing names, letters outside ASCII."""
    a = world.a
    expected = []
    for i, (first, last, employer) in enumerate(AWKWARD):
        # Made last, in first: the order must be the check-in times', not the rows'.
        at = T0 + dt.timedelta(seconds=len(AWKWARD) - i)
        acc = make.account(first_name=first, last_name=last)
        e = entry(session, a.site, acc, checked_in_at=at, employer_name=employer)
        name = " ".join(p for p in (first, last) if p) or None
        expected.insert(0, (str(e.id), name, employer, at.isoformat()))
    h = bearer(client, a.admin)
    items = client.get(url(a), headers=h).get_json()["items"]
    assert [(i["entry_id"], i["person_name"], i["employer_name"], i["checked_in_at"])
            for i in items] == expected
    body = client.get(url(a, "?format=csv"), headers=h).get_data(as_text=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["entry_id", "person_name", "employer_name", "checked_in_at"])
    for row in expected:
        w.writerow(["'" + v if isinstance(v, str) and v[:1] in set("=+-@\t\r") else v
                    for v in row])
    assert body == buf.getvalue()
    assert list(csv.reader(io.StringIO(body)))[-1][1:3] == ["'=SUM(A1) Cell", "'+46 Bygg AB"]


def test_the_database_function_holds_the_wall(backend, session, world, crew):
    """entryfy_on_site (PostgreSQL) reads names past the accounts policy once per call, so it
    checks the signed scope itself: nothing without a scope, with a forged signature, or in
    another customer's scope; the customer's own scope and the system scope see the list."""
    if backend.name != "postgresql":
        pytest.skip("a PostgreSQL function")
    from sqlalchemy import text

    from tests.models.test_rls import _as, _conn

    a, b = world.a, world.b
    conn = _conn(session)
    sql = text("SELECT first_name FROM entryfy_on_site(CAST(:c AS uuid), CAST(:s AS uuid))")
    args = {"c": str(a.customer.id), "s": str(a.site.id)}

    def names() -> list[str]:
        return sorted(conn.execute(sql, args).scalars())

    _as(conn)
    assert names() == []
    _as(conn, ids=str(a.customer.id), sig="0" * 64)
    assert names() == []
    _as(conn, ids=str(b.customer.id))
    assert names() == []
    _as(conn, acct=str(a.admin.id))
    assert names() == []
    _as(conn, ids=str(a.customer.id))
    assert names() == ["=Cmd", "Anna", "Bo"]
    _as(conn, scope="system")
    assert names() == ["=Cmd", "Anna", "Bo"]


def test_a_streamed_body_ends_its_session(client, world, crew, monkeypatch):
    """The app context's teardown runs when the view returns, before a streamed body is
    read; the body's reads start a transaction of their own, which must end with the body
    (entryfy.web.streamed), not whenever the garbage collector finds the session."""
    from sqlalchemy.orm import Session

    closed: list[Session] = []
    real = Session.close

    def spy(self):  # type: ignore[no-untyped-def]
        closed.append(self)
        return real(self)

    monkeypatch.setattr(Session, "close", spy)
    r = client.get(url(world.a, "?format=csv"), headers=bearer(client, world.a.admin))
    pieces = iter(r.response)
    next(pieces)
    at_first_piece = list(closed)
    rest = list(pieces)
    assert rest is not None
    assert len(closed) == len(at_first_piece) + 1
    assert closed[-1] in at_first_piece  # the request's own session, closed again at the end
