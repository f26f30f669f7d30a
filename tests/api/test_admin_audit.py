"""Admin changes leave an audit event, written by the operation (not the view): who may open
what (accesses and their members), credentials issued and revoked (controller keys, PINs,
keycards, guests' PIN and QR), doors, sites and controllers, and reprinted door codes. Each
test asserts the action, the actor (the admin's account and role) and the object."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from models import AuditEvent, DoorCredential
from tests import doorkit
from tests.factories import bearer

API = "/api/v1"


class Trail:
    """The customer's audit events after a mark, as (action, actor, role, type, object,
    subject)."""

    def __init__(self, session, customer_id):
        self.s, self.cid, self.seq = session, customer_id, 0
        self.mark()

    def mark(self) -> None:
        self.seq = max([e.seq for e in self._all()], default=0)

    def _all(self) -> list[AuditEvent]:
        self.s.expire_all()
        return list(self.s.scalars(select(AuditEvent).where(
            AuditEvent.customer_id == self.cid).order_by(AuditEvent.seq)))

    def new(self) -> list[tuple]:
        out = [(e.action, e.actor_id, e.actor_role, e.object_type, e.object_id, e.subject_id)
               for e in self._all() if e.seq > self.seq]
        self.mark()
        return out


@pytest.fixture
def admin(client, world, session):
    a = world.a
    return a, bearer(client, a.admin, device_id="device-admin-audit"), Trail(session,
                                                                            a.customer.id)


def _ok(r, code=200):
    assert r.status_code == code, r.get_json()
    return r.get_json()


def test_sites_doors_and_code_reprints_are_audited(client, admin):
    a, h, trail = admin
    me = a.admin.id
    base = f"{API}/customers/{a.customer.id}"
    site = _ok(client.post(f"{base}/sites", headers=h, json={
        "name": "Depot", "latitude": 59.3, "longitude": 18.0, "radius_m": 150}), 201)
    assert trail.new() == [("site.create", me, "admin", "site", site["id"], None)]
    _ok(client.patch(f"{base}/sites/{site['id']}", headers=h, json={"name": "Depot 2"}))
    assert trail.new() == [("site.update", me, "admin", "site", site["id"], None)]
    door = _ok(client.post(f"{base}/sites/{site['id']}/doors", headers=h,
                           json={"name": "Back door"}), 201)
    assert trail.new() == [("door.create", me, "admin", "door", door["id"], None)]
    _ok(client.patch(f"{base}/doors/{door['id']}", headers=h, json={"name": "Rear door"}))
    assert trail.new() == [("door.update", me, "admin", "door", door["id"], None)]
    _ok(client.patch(f"{base}/doors/{door['id']}", headers=h, json={"new_codes": True}))
    assert trail.new() == [("door.codes_reprinted", me, "admin", "door", door["id"], None)]
    assert client.delete(f"{base}/doors/{door['id']}", headers=h).status_code == 204
    assert trail.new() == [("door.delete", me, "admin", "door", door["id"], None)]
    assert client.delete(f"{base}/sites/{site['id']}", headers=h).status_code == 204
    assert trail.new() == [("site.delete", me, "admin", "site", site["id"], None)]


def test_a_refused_change_leaves_no_event(client, admin, world):
    a, h, trail = admin
    r = client.patch(f"{API}/customers/{a.customer.id}/doors/{uuid.uuid4()}", headers=h,
                     json={"name": "x"})
    assert r.status_code == 404
    hb = bearer(client, world.b.admin, device_id="device-b-admin-audit")
    r = client.post(f"{API}/customers/{a.customer.id}/sites", headers=hb, json={
        "name": "Planted", "latitude": 59.3, "longitude": 18.0, "radius_m": 150})
    assert r.status_code in (403, 404)
    assert trail.new() == []


def test_controllers_and_their_keys_are_audited(client, admin):
    a, h, trail = admin
    me = a.admin.id
    base = f"{API}/customers/{a.customer.id}/controllers"
    c = _ok(client.post(base, headers=h, json={"name": "Gate"}), 201)
    assert trail.new() == [("controller.create", me, "admin", "controller", c["id"], None)]
    _ok(client.patch(f"{base}/{c['id']}", headers=h, json={"name": "Gate 2"}))
    assert trail.new() == [("controller.update", me, "admin", "controller", c["id"], None)]
    assert client.delete(f"{base}/{c['id']}", headers=h).status_code == 204
    assert trail.new() == [("controller.delete", me, "admin", "controller", c["id"], None)]


def test_who_may_open_what_is_audited(client, admin, session, make):
    a, h, trail = admin
    me = a.admin.id
    door = doorkit.door(session, a.site)
    other = make.membership(a.customer, make.account())
    session.commit()
    trail.mark()
    base = f"{API}/customers/{a.customer.id}/accesses"
    acc = _ok(client.post(base, headers=h, json={
        "name": "Staff", "door_ids": [str(door.id)],
        "member_ids": [str(a.worker_membership.id)], "methods": ["app"]}), 201)
    assert trail.new() == [
        ("access.create", me, "admin", "access", acc["id"], None),
        ("access.member_added", me, "admin", "access", acc["id"], a.worker.id),
    ]
    _ok(client.patch(f"{base}/{acc['id']}", headers=h, json={
        "member_ids": [str(other.id)]}))
    assert trail.new() == [
        ("access.update", me, "admin", "access", acc["id"], None),
        ("access.member_added", me, "admin", "access", acc["id"], other.account_id),
        ("access.member_removed", me, "admin", "access", acc["id"], a.worker.id),
    ]
    _ok(client.patch(f"{base}/{acc['id']}", headers=h, json={"methods": ["app", "qr"]}))
    assert trail.new() == [("access.update", me, "admin", "access", acc["id"], None)]
    assert client.delete(f"{base}/{acc['id']}", headers=h).status_code == 204
    assert trail.new() == [("access.delete", me, "admin", "access", acc["id"], None)]


def test_member_credentials_issued_and_revoked_are_audited(client, admin, session):
    a, h, trail = admin
    me, worker = a.admin.id, a.worker.id
    base = f"{API}/customers/{a.customer.id}/credentials"
    card = _ok(client.post(base, headers=h, json={
        "member_id": str(a.worker_membership.id), "kind": "keycard", "value": "04A22B1C"}), 201)
    assert trail.new() == [("credential.keycard.issue", me, "admin", "door_credential",
                            card["id"], worker)]
    pin = _ok(client.post(base, headers=h, json={
        "member_id": str(a.worker_membership.id), "kind": "pin",
        "site_id": str(a.site.id)}), 201)
    assert trail.new() == [("credential.pin.issue", me, "admin", "door_credential",
                            pin["id"], worker)]
    # A new PIN for the same site replaces the old one: revoked, then issued.
    pin2 = _ok(client.post(base, headers=h, json={
        "member_id": str(a.worker_membership.id), "kind": "pin",
        "site_id": str(a.site.id)}), 201)
    assert trail.new() == [
        ("credential.pin.revoke", me, "admin", "door_credential", pin["id"], worker),
        ("credential.pin.issue", me, "admin", "door_credential", pin2["id"], worker),
    ]
    assert client.delete(f"{base}/{card['id']}", headers=h).status_code == 204
    assert trail.new() == [("credential.keycard.revoke", me, "admin", "door_credential",
                            card["id"], worker)]
    assert session.get(DoorCredential, uuid.UUID(card["id"])) is None


def test_guest_codes_issued_and_renewed_are_audited(client, admin, session, make):
    a, h, trail = admin
    me = a.admin.id
    door = doorkit.door(session, a.site)
    session.commit()
    trail.mark()
    start = clock.now() + dt.timedelta(days=1)
    body = {"email": "visitor@example.test", "valid_from": start.isoformat(),
            "valid_to": (start + dt.timedelta(hours=8)).isoformat(), "door_ids": [str(door.id)]}
    g = _ok(client.post(f"{API}/customers/{a.customer.id}/guests", headers=h, json=body), 201)
    events = trail.new()
    acc_id = str(g["access_ids"][0])
    creds = {c.kind: str(c.id) for c in session.scalars(select(DoorCredential).where(
        DoorCredential.membership_id == uuid.UUID(str(g["id"]))))}
    assert events == [
        ("access.create", me, "admin", "access", acc_id, None),
        ("access.member_added", me, "admin", "access", acc_id, None),
        ("credential.pin.issue", me, "admin", "door_credential", creds["pin"], None),
        ("credential.qr.issue", me, "admin", "door_credential", creds["qr"], None),
        ("guest.invite", me, "admin", "membership", str(g["id"]), None),
    ]
    # Renewal: the old access and both old codes are revoked before the new ones.
    g2 = _ok(client.post(f"{API}/customers/{a.customer.id}/guests", headers=h, json=body), 201)
    actions = [(e[0], e[4]) for e in trail.new()]
    assert actions[:3] == [("access.delete", acc_id),
                           ("credential.pin.revoke", creds["pin"]),
                           ("credential.qr.revoke", creds["qr"])]
    assert [x for x, _ in actions[3:]] == ["access.create", "access.member_added",
                                           "credential.pin.issue", "credential.qr.issue",
                                           "guest.invite"]
    assert str(g2["id"]) == str(g["id"])


def test_no_view_writes_these_audit_events():
    """The trail for admin changes is the operations' job: no view writes one."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "api"
    for name in ("doors.py", "controller.py", "sites.py"):
        assert "audit.record" not in (root / name).read_text(), name
