"""Doors through HTTP: admins' doors and accesses, guests, opening and scanning from the app,
the access-event logs, and the walls between customers."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from entryfy import clock
from entryfy.ops import doors as ops
from models import Access, AccessEvent, AuditEvent, Door, DoorCredential, Entry, Membership
from tests import doorkit
from tests.doorkit import INSIDE, OUTSIDE
from tests.factories import bearer

API = "/api/v1"


def _events(session, **where):
    stmt = select(AccessEvent)
    for k, v in where.items():
        stmt = stmt.where(getattr(AccessEvent, k) == v)
    return session.scalars(stmt).all()


# ------------------------------------------------------------------------------ admin: doors

def test_admin_creates_a_door_with_unguessable_distinct_codes(client, world):
    a = world.a
    h = bearer(client, a.admin)
    r = client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors", headers=h,
                    json={"name": "Main entrance", "site_entrance": True})
    assert r.status_code == 201, r.get_json()
    d = r.get_json()
    assert d["site_entrance"] is True and d["latitude"] is None
    assert d["entry_code"] != d["exit_code"] and min(len(d["entry_code"]),
                                                     len(d["exit_code"])) >= 24
    r2 = client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors", headers=h,
                     json={"name": "Back door"})
    codes = {d["entry_code"], d["exit_code"], r2.get_json()["entry_code"],
             r2.get_json()["exit_code"]}
    assert len(codes) == 4
    listed = client.get(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors",
                        headers=h).get_json()
    assert [x["name"] for x in listed["items"]] == ["Main entrance", "Back door"]
    # New signs: the old codes are gone.
    r3 = client.patch(f"{API}/customers/{a.customer.id}/doors/{d['id']}", headers=h,
                      json={"new_codes": True, "radius_m": 30, "latitude": 59.331,
                            "longitude": 18.061})
    assert r3.status_code == 200
    assert r3.get_json()["entry_code"] != d["entry_code"] and r3.get_json()["radius_m"] == 30


@pytest.mark.parametrize("body", [
    {"name": ""},
    {"name": "x", "latitude": 91, "longitude": 18},
    {"name": "x", "radius_m": 0},
    {"name": "x", "entry_code": "mine"},
    {},
])
def test_bad_door_input_is_400(client, world, body):
    a = world.a
    r = client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors",
                    headers=bearer(client, a.admin), json=body)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_half_a_position_is_refused(client, world, session):
    a = world.a
    r = client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors",
                    headers=bearer(client, a.admin), json={"name": "x", "latitude": 59.3})
    assert r.status_code == 400
    assert session.scalar(select(func.count()).select_from(Door)) == 0


def test_doors_are_for_admins_and_walled_between_customers(client, world, session):
    a, b = world.a, world.b
    door = doorkit.door(session, a.site)
    worker = bearer(client, a.worker)
    assert client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors",
                       headers=worker, json={"name": "x"}).status_code == 403
    hb = bearer(client, b.admin, device_id="device-b-admin-01")
    # B's admin: A's customer, A's site under B, A's door under B: all "not found".
    assert client.get(f"{API}/customers/{a.customer.id}/doors/{door.id}",
                      headers=hb).status_code == 404
    assert client.post(f"{API}/customers/{b.customer.id}/sites/{a.site.id}/doors",
                       headers=hb, json={"name": "x"}).status_code == 404
    for method in ("get", "patch", "delete"):
        r = getattr(client, method)(f"{API}/customers/{b.customer.id}/doors/{door.id}",
                                    headers=hb, json={"name": "y"} if method == "patch" else None)
        assert r.status_code == 404, method
    assert session.get(Door, door.id).name == "Main door"
    # A controller of another customer cannot be hung on a door.
    ctl, _ = ops.create_controller(session, customer_id=b.customer.id, name="B's")
    session.commit()
    ha = bearer(client, a.admin, device_id="device-a-admin-01")
    r = client.patch(f"{API}/customers/{a.customer.id}/doors/{door.id}", headers=ha,
                     json={"controller_id": str(ctl.id)})
    assert r.status_code == 404


def test_delete_door_keeps_its_events(client, world, session):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app"])
    assert client.post(f"{API}/doors/{door.id}/open", headers=bearer(client, a.worker),
                       json=INSIDE).status_code == 200
    h = bearer(client, a.admin, device_id="device-a-admin-01")
    assert client.delete(f"{API}/customers/{a.customer.id}/doors/{door.id}",
                         headers=h).status_code == 204
    session.expire_all()
    (ev,) = _events(session)
    assert ev.door_id is None and ev.outcome == "granted"


# ------------------------------------------------------------------------------ accesses

def test_access_crud(client, world, session):
    a = world.a
    d1, d2 = doorkit.door(session, a.site), doorkit.door(session, a.site, name="Gate")
    h = bearer(client, a.admin)
    body = {"name": "Day shift", "door_ids": [str(d1.id)],
            "member_ids": [str(a.worker_membership.id)], "methods": ["app", "keycard"],
            "schedule": [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}],
            "valid_from": "2026-01-01T00:00:00Z"}
    r = client.post(f"{API}/customers/{a.customer.id}/accesses", headers=h, json=body)
    assert r.status_code == 201, r.get_json()
    acc = r.get_json()
    assert acc["site_id"] == str(a.site.id) and acc["methods"] == ["app", "keycard"]
    assert acc["schedule"][0]["end"] == "06:00"
    url = f"{API}/customers/{a.customer.id}/accesses/{acc['id']}"
    r = client.patch(url, headers=h, json={"door_ids": [str(d1.id), str(d2.id)],
                                           "schedule": None, "methods": ["app_pin"]})
    assert r.status_code == 200, r.get_json()
    assert sorted(r.get_json()["door_ids"]) == sorted([str(d1.id), str(d2.id)])
    assert r.get_json()["schedule"] is None
    assert client.get(url, headers=h).get_json()["methods"] == ["app_pin"]
    assert len(client.get(f"{API}/customers/{a.customer.id}/accesses",
                          headers=h).get_json()["items"]) == 1
    assert client.delete(url, headers=h).status_code == 204
    assert client.get(url, headers=h).status_code == 404


@pytest.mark.parametrize("change,status", [
    ({"methods": []}, 400),
    ({"methods": ["fingerprint"]}, 400),
    ({"schedule": [{"days": ["mon"], "start": "7", "end": "8"}]}, 400),
    ({"schedule": [{"days": ["xyz"], "start": "07:00", "end": "08:00"}]}, 400),
    ({"valid_from": "2026-02-01T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"}, 400),
    ({"valid_from": "2026-02-01T00:00:00"}, 400),  # not UTC-aware
    ({"door_ids": []}, 400),
    ({"door_ids": ["not-a-uuid"]}, 400),
])
def test_bad_access_input(client, world, session, change, status):
    a = world.a
    d1 = doorkit.door(session, a.site)
    body = {"name": "x", "door_ids": [str(d1.id)], "member_ids": [], "methods": ["app"],
            **change}
    r = client.post(f"{API}/customers/{a.customer.id}/accesses", headers=bearer(client, a.admin),
                    json=body)
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"


def test_access_refuses_other_customers_doors_and_members_and_two_sites(client, world, session,
                                                                         make):
    a, b = world.a, world.b
    d1 = doorkit.door(session, a.site)
    d_other_site = doorkit.door(session, make.site(a.customer))
    d_b = doorkit.door(session, b.site)
    h = bearer(client, a.admin)
    url = f"{API}/customers/{a.customer.id}/accesses"
    base = {"name": "x", "methods": ["app"], "member_ids": []}
    assert client.post(url, headers=h, json={**base, "door_ids": [str(d_b.id)]}
                       ).status_code == 404
    assert client.post(url, headers=h, json={**base, "door_ids": [str(d1.id)],
                                             "member_ids": [str(b.worker_membership.id)]}
                       ).status_code == 404
    r = client.post(url, headers=h, json={**base, "door_ids": [str(d1.id), str(d_other_site.id)]})
    assert r.status_code == 422 and r.get_json()["type"].endswith("doors-of-several-sites")


# ------------------------------------------------------------------------------ opening

@pytest.fixture
def opened(client, world, session):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app", "qr"])
    return a, door, bearer(client, a.worker)


def test_open_granted_is_recorded(client, session, opened):
    a, door, h = opened
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=INSIDE)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["granted"] is True and body["method"] == "app"
    (ev,) = _events(session)
    assert (ev.id.hex, ev.outcome, ev.account_id, ev.membership_id) == (
        body["event_id"].replace("-", ""), "granted", a.worker.id, a.worker_membership.id)


def test_open_refused_is_403_problem_and_still_recorded(client, session, opened):
    _a, door, h = opened
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=OUTSIDE)
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["granted"] is False and body["reason"] == "outside_geofence"
    assert body["status"] == 403 and body["type"].endswith("door-refused") and body["title"]
    (ev,) = _events(session)
    assert str(ev.id) == body["event_id"] and ev.outcome == "denied"
    assert ev.reason == "outside_geofence"


def test_no_raw_position_is_kept(client, session, opened):
    _, door, h = opened
    client.post(f"{API}/doors/{door.id}/open", headers=h,
                json={"latitude": 59.330123, "longitude": 18.060456})
    columns = AccessEvent.__table__.columns.keys()
    assert not {"latitude", "longitude", "position"} & set(columns)


def test_deactivated_member_is_refused(client, session, opened):
    a, door, h = opened
    m = session.get(Membership, a.worker_membership.id)
    m.active = False
    session.commit()
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=INSIDE)
    assert r.status_code == 403 and r.get_json()["reason"] == "membership_inactive"


def test_a_door_of_another_customer_is_404_and_records_nothing(client, world, session, opened):
    _, _, h = opened
    b_door = doorkit.door(session, world.b.site)
    r = client.post(f"{API}/doors/{b_door.id}/open", headers=h, json=INSIDE)
    missing = client.post(f"{API}/doors/{uuid.uuid4()}/open", headers=h, json=INSIDE)
    assert r.status_code == missing.status_code == 404
    assert r.get_json() == missing.get_json()
    assert _events(session) == []
    # Scanning its printed code too.
    r = client.post(f"{API}/doors/scan", headers=h, json={**INSIDE, "code": b_door.entry_code})
    assert r.status_code == 404


def test_open_needs_sign_in(client, opened):
    _, door, _ = opened
    assert client.post(f"{API}/doors/{door.id}/open", json=INSIDE).status_code == 401


@pytest.mark.parametrize("body", [
    {"latitude": 59.33},
    {"latitude": 100, "longitude": 18},
    {"latitude": "north", "longitude": 18},
    {"latitude": 59.33, "longitude": 18.06, "pin": "12ab"},
    {"latitude": 59.33, "longitude": 18.06, "raw_gps": [1, 2]},
])
def test_bad_open_input_is_400_and_records_nothing(client, session, opened, body):
    _, door, h = opened
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=body)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert _events(session) == []


def test_bad_json(client, opened):
    _, door, h = opened
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, data="{nope",
                    content_type="application/json")
    assert r.status_code == 400 and r.get_json()["type"].endswith("malformed-json")
    r = client.post(f"{API}/doors/scan", headers=h, json=["code"])
    assert r.status_code == 400


def test_app_pin_through_http(client, session, opened):
    a, door, h = opened
    doorkit.access(session, [door], [a.worker_membership], ["app_pin"], name="Night")
    # The plain "app" access still applies; make the door PIN-only.
    for acc in session.scalars(select(Access)).all():
        acc.methods = ["app_pin"]
    session.commit()
    pin = doorkit.pin_for(session, a.worker_membership)
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=INSIDE)
    assert r.get_json()["reason"] == "pin_required"
    r = client.post(f"{API}/doors/{door.id}/open", headers=h, json={**INSIDE, "pin": pin})
    assert r.status_code == 200 and r.get_json()["method"] == "app_pin"
    assert pin not in r.get_data(as_text=True)


def test_scan_gives_direction_and_registers_the_ledger_at_a_site_entrance(client, world,
                                                                          session):
    a = world.a  # the factory site has a ledger id
    gate = doorkit.door(session, a.site, name="Gate", site_entrance=True)
    doorkit.access(session, [gate], [a.worker_membership], ["qr"])
    h = bearer(client, a.worker)
    t0 = dt.datetime(2026, 6, 15, 5, 0, tzinfo=dt.UTC)
    with clock.frozen_at(t0):
        r = client.post(f"{API}/doors/scan", headers=h, json={**INSIDE, "code": gate.entry_code})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["direction"] == "in" and r.get_json()["method"] == "qr"
    (entry,) = session.scalars(select(Entry)).all()
    assert entry.checked_in_at == t0 and entry.source == "door" and entry.checked_out_at is None
    with clock.frozen_at(t0 + dt.timedelta(hours=8)):
        r = client.post(f"{API}/doors/scan", headers=h, json={**INSIDE, "code": gate.exit_code})
    assert r.get_json()["direction"] == "out"
    session.expire_all()
    (entry,) = session.scalars(select(Entry)).all()
    assert entry.checked_out_at == t0 + dt.timedelta(hours=8)
    assert [e.direction for e in _events(session)] and {
        e.direction for e in _events(session)} == {"in", "out"}


def test_refused_passage_registers_nothing_and_plain_doors_neither(client, world, session):
    a = world.a
    gate = doorkit.door(session, a.site, name="Gate", site_entrance=True)
    plain = doorkit.door(session, a.site, name="Office")
    doorkit.access(session, [gate, plain], [a.worker_membership], ["qr"])
    h = bearer(client, a.worker)
    assert client.post(f"{API}/doors/scan", headers=h,
                       json={**OUTSIDE, "code": gate.entry_code}).status_code == 403
    assert client.post(f"{API}/doors/scan", headers=h,
                       json={**INSIDE, "code": plain.entry_code}).status_code == 200
    assert session.scalars(select(Entry)).all() == []


def test_unknown_code_is_404(client, opened):
    _, _, h = opened
    r = client.post(f"{API}/doors/scan", headers=h, json={**INSIDE, "code": "x" * 24})
    assert r.status_code == 404


# ------------------------------------------------------------------------------ /me

def test_my_doors_lists_doors_and_methods_and_now(client, world, session):
    a = world.a
    d1 = doorkit.door(session, a.site, name="A door")
    d2 = doorkit.door(session, a.site, name="B door")
    doorkit.door(session, a.site, name="C door")  # no access
    doorkit.access(session, [d1], [a.worker_membership], ["app", "keycard"])
    doorkit.access(session, [d2], [a.worker_membership], ["qr"],
                   schedule=[{"days": ["sun"], "start": "01:00", "end": "02:00"}])
    with clock.frozen_at(dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)):  # Monday
        r = client.get(f"{API}/me/doors", headers=bearer(client, a.worker))
    items = r.get_json()["items"]
    assert [(i["name"], i["methods"], i["open_now"]) for i in items] == [
        ("A door", ["app", "keycard"], True), ("B door", ["qr"], False)]
    # Another person sees none of it.
    assert client.get(f"{API}/me/doors",
                      headers=bearer(client, a.admin, device_id="device-admin-001")
                      ).get_json()["items"] == []


def test_my_access_events_are_mine_only(client, world, session, opened):
    a, door, h = opened
    client.post(f"{API}/doors/{door.id}/open", headers=h, json=INSIDE)
    client.post(f"{API}/doors/{door.id}/open", headers=h, json=OUTSIDE)
    mine = client.get(f"{API}/me/access-events", headers=h).get_json()["items"]
    assert sorted(e["outcome"] for e in mine) == ["denied", "granted"]
    other = bearer(client, a.admin, device_id="device-admin-001")
    assert client.get(f"{API}/me/access-events", headers=other).get_json()["items"] == []
    denied = client.get(f"{API}/me/access-events?outcome=denied", headers=h).get_json()
    assert [e["reason"] for e in denied["items"]] == ["outside_geofence"]


def test_customer_access_events_filters_pages_and_roles(client, world, session, make, opened):
    a, door, h = opened
    t0 = dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)
    for i in range(5):
        with clock.frozen_at(t0 + dt.timedelta(minutes=i)):
            client.post(f"{API}/doors/{door.id}/open", headers=h,
                        json=INSIDE if i % 2 == 0 else OUTSIDE)
    operator = make.account()
    make.membership(a.customer, operator, "operator")
    ho = bearer(client, operator, device_id="device-operator-1")
    url = f"{API}/customers/{a.customer.id}/access-events"
    page1 = client.get(f"{url}?limit=2", headers=ho).get_json()
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = client.get(f"{url}?limit=2&cursor={page1['next_cursor']}", headers=ho).get_json()
    page3 = client.get(f"{url}?limit=2&cursor={page2['next_cursor']}", headers=ho).get_json()
    times = [e["occurred_at"] for p in (page1, page2, page3) for e in p["items"]]
    assert len(times) == 5 and times == sorted(times, reverse=True)
    assert page3["next_cursor"] is None
    denied = client.get(f"{url}?outcome=denied", headers=ho).get_json()["items"]
    assert len(denied) == 2
    frm = client.get(f"{url}?from=2026-06-15T08:03:00Z&member_id={a.worker_membership.id}"
                     f"&door_id={door.id}", headers=ho).get_json()["items"]
    assert len(frm) == 2
    assert client.get(f"{url}?outcome=maybe", headers=ho).status_code == 400
    assert client.get(url, headers=h).status_code == 403  # a worker
    hb = bearer(client, world.b.admin, device_id="device-b-admin-01")
    assert client.get(url, headers=hb).status_code == 404
    # Reading others' events is audited.
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "access_events.read")) >= 1


# ------------------------------------------------------------------------------ guests

def test_operator_invites_a_guest_who_gets_pin_and_qr_by_mail(client, world, session, make):
    a = world.a
    door = doorkit.door(session, a.site)
    operator = make.account()
    make.membership(a.customer, operator, "operator")
    h = bearer(client, operator, device_id="device-operator-1")
    before = doorkit.mail_ids()
    with clock.frozen_at(dt.datetime(2026, 6, 14, 12, 0, tzinfo=dt.UTC)):
        r = client.post(f"{API}/customers/{a.customer.id}/guests", headers=h, json={
            "email": "Guest@Example.test", "first_name": "Gus",
            "valid_from": "2026-06-15T07:00:00Z", "valid_to": "2026-06-15T15:00:00Z",
            "door_ids": [str(door.id)]})
    assert r.status_code == 201, r.get_json()
    g = r.get_json()
    assert g["role"] == "guest" and g["door_ids"] == [str(door.id)]
    assert g["email"] == "guest@example.test" and "pin" not in g
    pin, qr = doorkit.guest_codes("guest@example.test", exclude=before)
    stored = session.scalars(select(DoorCredential.value_hash).where(
        DoorCredential.membership_id == uuid.UUID(g["id"]))).all()
    assert len(stored) == 2 and not any(pin in s or qr in s for s in stored)
    # Operators have no settings: no doors, no accesses.
    assert client.post(f"{API}/customers/{a.customer.id}/sites/{a.site.id}/doors", headers=h,
                       json={"name": "x"}).status_code == 403
    assert client.get(f"{API}/customers/{a.customer.id}/accesses",
                      headers=h).status_code == 403


def test_guest_invitation_rules_over_http(client, world, session):
    a, b = world.a, world.b
    door = doorkit.door(session, a.site)
    b_door = doorkit.door(session, b.site)
    url = f"{API}/customers/{a.customer.id}/guests"
    body = {"email": "g@example.test", "valid_from": "2026-06-15T07:00:00Z",
            "valid_to": "2026-06-15T15:00:00Z", "door_ids": [str(door.id)]}
    with clock.frozen_at(dt.datetime(2026, 6, 14, 12, 0, tzinfo=dt.UTC)):
        assert client.post(url, headers=bearer(client, a.worker), json=body).status_code == 403
        h = bearer(client, a.admin, device_id="device-admin-001")
        assert client.post(url, headers=h, json={**body, "door_ids": [str(b_door.id)]}
                           ).status_code == 404
        assert client.post(url, headers=h, json={**body, "email": a.worker.email}
                           ).status_code == 409
        assert client.post(url, headers=h, json={**body, "valid_to": "2026-06-15T06:00:00Z"}
                           ).status_code == 400
        assert client.post(url, headers=h, json={**body, "email": "not-an-email"}
                           ).status_code == 400
    assert session.scalar(select(func.count()).select_from(Membership).where(
        Membership.role == "guest")) == 0


def test_member_pin_is_mailed_to_the_member_not_shown(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    before = doorkit.mail_ids()
    # A PIN opens one site's doors: with no access to tell the site, it must be named.
    r = client.post(f"{API}/customers/{a.customer.id}/credentials", headers=h,
                    json={"member_id": str(a.worker_membership.id), "kind": "pin"})
    assert r.status_code == 422 and r.get_json()["type"].endswith("/pin-site-required")
    r = client.post(f"{API}/customers/{a.customer.id}/credentials", headers=h,
                    json={"member_id": str(a.worker_membership.id), "kind": "pin",
                          "site_id": str(world.b.site.id)})
    assert r.status_code == 404  # another customer's site
    r = client.post(f"{API}/customers/{a.customer.id}/credentials", headers=h,
                    json={"member_id": str(a.worker_membership.id), "kind": "pin",
                          "site_id": str(a.site.id)})
    assert r.status_code == 201, r.get_json()
    assert set(r.get_json()) >= {"id", "member_id", "kind"} and "value" not in r.get_json()
    assert r.get_json()["site_id"] == str(a.site.id)
    body = doorkit.last_mail_to(a.worker.email, before).get_content()
    assert "PIN" in body and a.site.name in body
    r = client.post(f"{API}/customers/{a.customer.id}/credentials", headers=h,
                    json={"member_id": str(a.worker_membership.id), "kind": "keycard",
                          "value": "04:A2:2B:1C"})
    assert r.status_code == 201
    again = client.post(f"{API}/customers/{a.customer.id}/credentials", headers=h,
                        json={"member_id": str(a.worker_membership.id), "kind": "keycard",
                              "value": "04a22b1c"})
    assert again.status_code == 409
    listed = client.get(f"{API}/customers/{a.customer.id}/credentials", headers=h).get_json()
    assert sorted(c["kind"] for c in listed["items"]) == ["keycard", "pin"]
    assert all("hash" not in str(c) for c in listed["items"])
    cid = listed["items"][0]["id"]
    assert client.delete(f"{API}/customers/{a.customer.id}/credentials/{cid}",
                         headers=h).status_code == 204
    hb = bearer(client, world.b.admin, device_id="device-b-admin-01")
    assert client.post(f"{API}/customers/{world.b.customer.id}/credentials", headers=hb,
                       json={"member_id": str(a.worker_membership.id), "kind": "pin"}
                       ).status_code == 404


def test_new_device_sign_in_is_audited(client, world, session):
    bearer(client, world.a.worker, device_id="brand-new-device-42")
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "account.new_device_sign_in",
        AuditEvent.subject_id == world.a.worker.id)) == 1


@pytest.mark.parametrize("utc,granted", [
    ((2026, 3, 29, 3, 59), True),    # 05:59 CEST, the night the clocks go forward
    ((2026, 3, 29, 4, 0), False),    # 06:00 CEST: the night window has closed
    ((2026, 10, 25, 4, 59), True),   # 05:59 CET, the night the clocks go back
    ((2026, 10, 25, 5, 0), False),   # 06:00 CET
])
def test_night_schedule_over_the_clock_changes_through_http(client, world, session, utc,
                                                            granted):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app"],
                   schedule=[{"days": ["sat"], "start": "22:00", "end": "06:00"}])
    h = bearer(client, a.worker)
    with clock.frozen_at(dt.datetime(*utc, tzinfo=dt.UTC)):
        r = client.post(f"{API}/doors/{door.id}/open", headers=h, json=INSIDE)
    assert r.status_code == (200 if granted else 403)
    if not granted:
        assert r.get_json()["reason"] == "outside_schedule"
