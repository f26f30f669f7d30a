"""Check-in and check-out from the app, own entries, admin list, detail and corrections."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from geopy.distance import geodesic
from sqlalchemy import select

from entryfy import clock
from models import AuditEvent, Entry
from tests.attendance import (
    at_site,
    corrections_of,
    entries_of,
    entry,
    give_identity_number,
    key,
)
from tests.factories import bearer, login

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


@pytest.fixture
def worker(session, world):
    give_identity_number(session, world.a.worker)
    return world.a.worker


@pytest.fixture
def wh(client, worker):
    return bearer(client, worker)


def problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    if slug:
        assert body["type"].endswith("/" + slug), body
    return body


def audits(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# ------------------------------------------------------------------------ check-in

def test_check_in_then_out(client, session, world, wh):
    k = key()
    r = client.post("/api/v1/entries", json=at_site(world.a.site, accuracy_m=12.5),
                    headers={**wh, **k, "X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["site_id"] == str(world.a.site.id) and body["checked_out_at"] is None
    assert body["inside_geofence"] is True and body["distance_m"] == 0
    assert set(body) >= {"id", "site_id", "checked_in_at", "checked_out_at", "inside_geofence",
                         "distance_m"}
    row = session.get(Entry, uuid.UUID(body["id"]))
    assert row.ip_prefix == "127.0.0.0/24"  # the peer's address (no trusted proxy), truncated
    r = client.post(f"/api/v1/entries/{body['id']}/checkout", json={}, headers=wh)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["checked_out_at"] is not None


def test_checkout_without_a_body(client, world, wh):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    r = client.post(f"/api/v1/entries/{r.get_json()['id']}/checkout", headers=wh)
    assert r.status_code == 200, r.get_json()


def test_same_key_again_is_the_same_entry(client, session, world, wh):
    k = key()
    first = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **k})
    again = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **k})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    assert entries_of(session, world.a.worker) == 1


def test_second_check_in_while_open_is_409(client, world, wh):
    first = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    body = problem(r, 409, "already-checked-in")
    assert body["entry_id"] == first.get_json()["id"]


def test_outside_enforcing_geofence_is_422_with_distance(client, session, world, wh):
    site = world.a.site
    p = geodesic(meters=1500).destination((site.latitude, site.longitude), 180)
    r = client.post("/api/v1/entries", headers={**wh, **key()}, json={
        "site_id": str(site.id), "latitude": p.latitude, "longitude": p.longitude})
    body = problem(r, 422, "outside-geofence")
    assert body["distance_m"] == 1500
    assert entries_of(session, world.a.worker) == 0


def test_identity_number_required_at_a_ledger_site(client, world):
    h = bearer(client, world.a.worker)  # has no identity number
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**h, **key()})
    problem(r, 422, "identity-number-required")


def test_another_customers_site_is_404_like_a_missing_one(client, world, wh):
    other = client.post("/api/v1/entries", json=at_site(world.b.site), headers={**wh, **key()})
    missing = client.post("/api/v1/entries", headers={**wh, **key()},
                          json={**at_site(world.b.site), "site_id": str(uuid.uuid4())})
    assert problem(other, 404) == problem(missing, 404)


def test_inactive_member_cannot_check_in(client, session, world, wh):
    world.a.worker_membership.active = False
    session.commit()
    problem(client.post("/api/v1/entries", json=at_site(world.a.site),
                        headers={**wh, **key()}), 404)


def test_not_signed_in(client, world):
    problem(client.post("/api/v1/entries", json=at_site(world.a.site), headers=key()), 401)


def test_cookie_session_needs_csrf(client, world, worker):
    csrf = login(client, worker)
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers=key())
    problem(r, 403, "csrf-failed")
    r = client.post("/api/v1/entries", json=at_site(world.a.site),
                    headers={**key(), "X-CSRF-Token": csrf})
    assert r.status_code == 201


@pytest.mark.parametrize("headers", [
    {},
    {"Idempotency-Key": ""},
    {"Idempotency-Key": "x" * 101},
    {"Idempotency-Key": "two words"},
    {"Idempotency-Key": "nyckel-åäö"},
])
def test_bad_idempotency_key(client, session, world, wh, headers):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **headers})
    body = problem(r, 400, "validation-error")
    assert "Idempotency-Key" in body["errors"]
    assert entries_of(session, world.a.worker) == 0


@pytest.mark.parametrize("body,field", [
    ({"latitude": 91}, "latitude"),
    ({"longitude": -181}, "longitude"),
    ({"accuracy_m": -1}, "accuracy_m"),
    ({"site_id": "not-a-uuid"}, "site_id"),
    ({"latitude": "north"}, "latitude"),
    ({"raw_gps_trace": [1, 2]}, "raw_gps_trace"),
])
def test_bad_check_in_bodies(client, world, wh, body, field):
    r = client.post("/api/v1/entries", json={**at_site(world.a.site), **body},
                    headers={**wh, **key()})
    assert field in problem(r, 400, "validation-error")["errors"]


def test_missing_fields_and_bad_json(client, world, wh):
    r = client.post("/api/v1/entries", json={"site_id": str(world.a.site.id)},
                    headers={**wh, **key()})
    assert {"latitude", "longitude"} <= set(problem(r, 400)["errors"])
    r = client.post("/api/v1/entries", data="{nope", content_type="application/json",
                    headers={**wh, **key()})
    problem(r, 400, "malformed-json")
    r = client.post("/api/v1/entries", data='{"site_id": "x", "latitude": NaN}',
                    content_type="application/json", headers={**wh, **key()})
    assert r.status_code == 400


# ------------------------------------------------------------------------ check-out

def test_someone_elses_entry_is_404(client, world, wh):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    entry_id = r.get_json()["id"]
    other = bearer(client, world.a.admin, device_id="admin-phone-1")
    a = client.post(f"/api/v1/entries/{entry_id}/checkout", json={}, headers=other)
    b = client.post(f"/api/v1/entries/{uuid.uuid4()}/checkout", json={}, headers=other)
    assert problem(a, 404) == problem(b, 404)


def test_checkout_position_needs_both_coordinates(client, world, wh):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    r = client.post(f"/api/v1/entries/{r.get_json()['id']}/checkout",
                    json={"latitude": 59.0}, headers=wh)
    problem(r, 400, "validation-error")


def test_checkout_records_the_verdict(client, world, wh):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    far = {"latitude": world.a.site.latitude + 0.05, "longitude": world.a.site.longitude}
    r = client.post(f"/api/v1/entries/{r.get_json()['id']}/checkout", json=far, headers=wh)
    assert r.status_code == 200 and r.get_json()["checkout_inside_geofence"] is False


# ------------------------------------------------------------------------ own list

def test_own_entries_newest_first_paginated(client, session, world, worker, wh):
    made = [entry(session, world.a.site, worker, checked_in_at=T0 + dt.timedelta(days=i),
                  checked_out_at=T0 + dt.timedelta(days=i, hours=8)) for i in range(5)]
    entry(session, world.a.site, world.a.admin, checked_in_at=T0)  # someone else's
    seen, cursor = [], None
    while True:
        q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get("/api/v1/me/entries" + q, headers=wh).get_json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(e.id) for e in reversed(made)]
    problem(client.get("/api/v1/me/entries?cursor=garbage", headers=wh), 400)
    problem(client.get("/api/v1/me/entries?limit=0", headers=wh), 400)


# ------------------------------------------------------------------------ concurrency

def _race(app, n: int, headers_for) -> list[int]:
    barrier = threading.Barrier(n)
    codes: list[int] = []
    lock = threading.Lock()

    def tap(i: int) -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post("/api/v1/entries", **headers_for(i))
        with lock:
            codes.append(r.status_code)

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


@pytest.mark.postgres_only
def test_double_tap_at_once_makes_one_entry(app, committed, backend, session, make):
    if backend.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    t = make.tenant()
    give_identity_number(session, t.worker)
    h = bearer(app.test_client(), t.worker)
    k = key()
    codes = _race(app, 6, lambda i: {"json": at_site(t.site), "headers": {**h, **k}})
    assert sorted(codes).count(201) == 1 and set(codes) <= {200, 201}, codes
    assert session.scalar(select(Entry.id).where(Entry.account_id == t.worker.id)) is not None
    assert len(list(session.scalars(select(Entry).where(Entry.account_id == t.worker.id)))) == 1


@pytest.mark.postgres_only
def test_taps_with_different_keys_at_once_open_one_shift(app, committed, backend, session,
                                                         make):
    if backend.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL")
    t = make.tenant()
    give_identity_number(session, t.worker)
    h = bearer(app.test_client(), t.worker)
    codes = _race(app, 6, lambda i: {"json": at_site(t.site), "headers": {**h, **key()}})
    assert sorted(codes) == [201] + [409] * 5, codes
    assert len(list(session.scalars(select(Entry).where(Entry.account_id == t.worker.id)))) == 1


# ------------------------------------------------------------------------ admins

@pytest.fixture
def ah(client, world):
    return bearer(client, world.a.admin, device_id="admin-device-1")


def test_admin_list_filters_and_audit(client, session, make, world, worker, ah):
    site2 = make.site(world.a.customer)
    e1 = entry(session, world.a.site, worker, checked_in_at=T0,
               checked_out_at=T0 + dt.timedelta(hours=8),
               membership_id=world.a.worker_membership.id)
    e2 = entry(session, site2, worker, checked_in_at=T0 + dt.timedelta(days=1))
    e3 = entry(session, world.a.site, world.a.admin, checked_in_at=T0 + dt.timedelta(days=2))
    entry(session, world.a.site, worker, checked_in_at=T0 - dt.timedelta(days=1),
          checked_out_at=T0 - dt.timedelta(hours=16), restricted=True)
    entry(session, world.b.site, world.b.worker, checked_in_at=T0)
    base = f"/api/v1/customers/{world.a.customer.id}/entries"

    def ids(q: str = "") -> list[str]:
        r = client.get(base + q, headers=ah)
        assert r.status_code == 200, r.get_json()
        return [i["id"] for i in r.get_json()["items"]]

    assert ids() == [str(e3.id), str(e2.id), str(e1.id)]
    assert ids(f"?site_id={world.a.site.id}") == [str(e3.id), str(e1.id)]
    assert ids(f"?account_id={worker.id}") == [str(e2.id), str(e1.id)]
    assert ids(f"?member_id={world.a.worker_membership.id}") == [str(e1.id)]
    assert ids("?open_only=true") == [str(e3.id), str(e2.id)]
    assert ids("?from=2026-11-03T00:00:00Z&to=2026-11-04T00:00:00Z") == [str(e2.id)]
    page = client.get(base + "?limit=2", headers=ah).get_json()
    rest = client.get(base + f"?limit=2&cursor={page['next_cursor']}", headers=ah).get_json()
    assert [i["id"] for i in page["items"] + rest["items"]] == ids()
    item = client.get(base + f"?member_id={world.a.worker_membership.id}", headers=ah
                      ).get_json()["items"][0]
    assert item["employer_name"] is None or isinstance(item["employer_name"], str)
    assert item["corrected"] is False and "identity_number" not in item
    reads = audits(session, "entries.read")
    assert reads and all(a.customer_id == world.a.customer.id for a in reads)
    assert all(a.actor_id == world.a.admin.id for a in reads)


def test_admin_list_bad_filters(client, world, ah):
    base = f"/api/v1/customers/{world.a.customer.id}/entries"
    problem(client.get(base + "?from=yesterday", headers=ah), 400)
    problem(client.get(base + "?from=2026-11-02T00:00:00", headers=ah), 400)  # no time zone
    problem(client.get(base + "?from=2026-11-03T00:00:00Z&to=2026-11-02T00:00:00Z",
                       headers=ah), 400)
    problem(client.get(base + "?colour=red", headers=ah), 400)


def test_admins_only_and_only_their_customer(client, world, wh, ah):
    problem(client.get(f"/api/v1/customers/{world.a.customer.id}/entries", headers=wh), 403)
    problem(client.get(f"/api/v1/customers/{world.b.customer.id}/entries", headers=ah), 404)


def test_correction_and_history(client, session, world, worker, ah):
    e = entry(session, world.a.site, worker, checked_in_at=T0)
    base = f"/api/v1/customers/{world.a.customer.id}/entries/{e.id}"
    out = (T0 + dt.timedelta(hours=8)).isoformat()
    with clock.frozen_at(T0 + dt.timedelta(days=1)):
        r = client.post(base + "/corrections", headers=ah,
                        json={"checked_out_at": out, "reason": "Forgot to check out"})
    assert r.status_code == 201, r.get_json()
    c = r.get_json()
    assert c["before_checked_out_at"] is None and c["after_checked_out_at"] == out
    assert c["corrected_by_id"] == str(world.a.admin.id) and c["entry"]["checked_out_at"] == out
    with clock.frozen_at(T0 + dt.timedelta(days=1)):
        r = client.post(base + "/corrections", headers=ah, json={
            "checked_in_at": (T0 - dt.timedelta(minutes=30)).isoformat(), "reason": "Gate log"})
    assert r.status_code == 201
    detail = client.get(base, headers=ah).get_json()
    assert detail["original_checked_in_at"] == T0.isoformat()
    assert detail["original_checked_out_at"] is None
    assert detail["checked_in_at"] == (T0 - dt.timedelta(minutes=30)).isoformat()
    assert [x["reason"] for x in detail["corrections"]] == ["Forgot to check out", "Gate log"]
    assert detail["corrected"] is True
    assert len(audits(session, "entry.corrected")) == 2
    assert any(a.object_id == str(e.id) and a.subject_id == worker.id
               for a in audits(session, "entries.read"))


def test_refused_corrections(client, session, world, worker, ah):
    e = entry(session, world.a.site, worker, checked_in_at=T0,
              checked_out_at=T0 + dt.timedelta(hours=8))
    base = f"/api/v1/customers/{world.a.customer.id}/entries/{e.id}/corrections"
    with clock.frozen_at(T0 + dt.timedelta(days=1)):
        r = client.post(base, headers=ah, json={
            "checked_out_at": (T0 - dt.timedelta(hours=1)).isoformat(), "reason": "oops"})
        problem(r, 422, "checkout-before-checkin")
        problem(client.post(base, headers=ah, json={"reason": "nothing"}), 400)
        problem(client.post(base, headers=ah, json={"checked_in_at": T0.isoformat()}), 400)
        problem(client.post(base, headers=ah, json={
            "checked_in_at": "2026-11-02T06:00:00", "reason": "naive"}), 400)
        problem(client.post(base, headers=ah, json={
            "checked_in_at": T0.isoformat(), "reason": "   "}), 400)
        problem(client.post(base, headers=ah, json={
            "checked_in_at": (T0 - dt.timedelta(hours=1)).isoformat(), "reason": "x",
            "account_id": str(worker.id)}), 400)
    assert corrections_of(session, e.id) == 0


def test_other_customers_entry_is_404(client, session, world, ah):
    theirs = entry(session, world.b.site, world.b.worker, checked_in_at=T0)
    base = f"/api/v1/customers/{world.a.customer.id}/entries/{theirs.id}"
    assert problem(client.get(base, headers=ah), 404) == problem(
        client.get(f"/api/v1/customers/{world.a.customer.id}/entries/{uuid.uuid4()}",
                   headers=ah), 404)
    with clock.frozen_at(T0 + dt.timedelta(days=1)):
        problem(client.post(base + "/corrections", headers=ah, json={
            "checked_out_at": (T0 + dt.timedelta(hours=1)).isoformat(), "reason": "x"}), 404)


def test_admin_closes_an_open_entry(client, session, world, worker, wh, ah):
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    eid = r.get_json()["id"]
    later = (clock.now() + dt.timedelta(seconds=1)).replace(microsecond=0)
    with clock.frozen_at(later + dt.timedelta(minutes=1)):
        r = client.post(f"/api/v1/customers/{world.a.customer.id}/entries/{eid}/corrections",
                        headers=ah, json={"checked_out_at": later.isoformat(),
                                          "reason": "Left without checking out"})
    assert r.status_code == 201, r.get_json()
    # The shift is closed, so the person may check in again.
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**wh, **key()})
    assert r.status_code == 201
