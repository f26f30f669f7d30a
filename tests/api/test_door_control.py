"""Access control in depth over HTTP: lockdowns (per site and customer, exempt roles, 404 on
another customer's site, commands to the controllers, the list's state, audit), remote
unlock, door alerts from controllers and from the worker (webhook door_alert.created, a door
of another controller refused and audited), unlock schedule validation, anti-passback on
scans, the hardware_manager role and the offline policy."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock, jobs
from entryfy.ops import doors as ops
from entryfy.ops import webhooks as webhook_ops
from models import (
    AccessEvent,
    AuditEvent,
    DoorAlert,
    Membership,
    UnlockCommand,
    WebhookDelivery,
)
from tests import doorkit
from tests.doorkit import INSIDE
from tests.factories import bearer

API = "/api/v1"


def ctl(key: str) -> dict[str, str]:
    return {"Authorization": f"Controller {key}"}


def actions(session, customer_id, since=0):  # type: ignore[no-untyped-def]
    session.expire_all()
    return [e.action for e in session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id == customer_id, AuditEvent.seq > since)
        .order_by(AuditEvent.seq))]


@pytest.fixture
def rig(client, world, session):  # type: ignore[no-untyped-def]
    a = world.a
    h = bearer(client, a.admin, device_id="device-admin-ctl1")
    r = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                    json={"name": "Gate reader"})
    assert r.status_code == 201, r.get_json()
    enrolled = r.get_json()
    door = doorkit.door(session, a.site, name="Gate", site_entrance=True,
                        controller_id=uuid.UUID(enrolled["id"]))
    acc = doorkit.access(session, [door], [a.worker_membership], ["app", "qr", "keycard"])
    return a, door, enrolled, h, acc


# ------------------------------------------------------------------------------ lockdowns

def test_lockdown_refuses_openings_reaches_the_controller_and_ends(client, session, rig):
    a, door, enrolled, h, _ = rig
    w = bearer(client, a.worker, device_id="device-worker-ld1")
    r = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                    json={"site_id": str(a.site.id), "mode": "lockdown"})
    assert r.status_code == 201, r.get_json()
    ld = r.get_json()
    assert (ld["active"], ld["mode"], ld["site_id"], ld["exempt_roles"]) == (
        True, "lockdown", str(a.site.id), [])
    # The controller gets a lock command at once ...
    cmds = client.get(f"{API}/controller/commands", headers=ctl(enrolled["key"])).get_json()
    assert [(c["door_id"], c["action"], c["event_id"]) for c in cmds["items"]] == [
        (str(door.id), "lock", None)]
    # ... and its next list carries the state.
    n = secrets.token_urlsafe(16)
    doc = client.get(f"{API}/controller/credentials?nonce={n}",
                     headers=ctl(enrolled["key"])).get_json()
    payload = ops.verify_credential_list(doc, enrolled["signing_public_key"],
                                         controller_id=enrolled["id"], nonce=n)
    assert payload["doors"][0]["lockdown"] == {"id": ld["id"], "mode": "lockdown",
                                               "exempt_roles": []}
    r = client.post(f"{API}/doors/{door.id}/open", headers=w, json=INSIDE)
    assert r.status_code == 403 and r.get_json()["reason"] == "lockdown"
    ev = session.get(AccessEvent, uuid.UUID(r.get_json()["event_id"]))
    assert (ev.outcome, ev.reason) == ("denied", "lockdown")
    mine = client.get(f"{API}/me/doors", headers=w).get_json()["items"]
    assert [(d["door_id"], d["open_now"]) for d in mine] == [(str(door.id), False)]
    door_view = client.get(f"{API}/customers/{a.customer.id}/doors/{door.id}",
                           headers=h).get_json()
    assert door_view["unlocked_now"] is False
    # A second one on the same site: end the first before.
    again = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                        json={"mode": "unlock_all"})
    assert again.status_code == 409 and again.get_json()["type"].endswith("/lockdown-active")
    listed = client.get(f"{API}/customers/{a.customer.id}/lockdowns?active=true",
                        headers=h).get_json()
    assert [x["id"] for x in listed["items"]] == [ld["id"]]
    assert client.delete(f"{API}/customers/{a.customer.id}/lockdowns/{ld['id']}",
                         headers=h).status_code == 204
    cmds = client.get(f"{API}/controller/commands", headers=ctl(enrolled["key"])).get_json()
    assert [c["action"] for c in cmds["items"]] == ["release"]
    assert client.post(f"{API}/doors/{door.id}/open", headers=w, json=INSIDE).status_code == 200
    mine = client.get(f"{API}/me/doors", headers=w).get_json()["items"]
    assert [d["open_now"] for d in mine] == [True]
    trail = actions(session, a.customer.id)
    assert "lockdown.start.lockdown" in trail and "lockdown.end" in trail


def test_lockdown_exempts_roles_and_unlock_all_opens(client, session, make, rig):
    a, door, _, h, acc = rig
    guard_acct = make.account()
    guard = make.membership(a.customer, guard_acct, role="operator")
    ops.update_access(session, acc, {"member_ids": [a.worker_membership.id, guard.id]})
    session.commit()
    r = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                    json={"mode": "lockdown", "exempt_roles": ["operator"]})
    assert r.status_code == 201, r.get_json()
    g = bearer(client, guard_acct, device_id="device-guard-001")
    w = bearer(client, a.worker, device_id="device-worker-ld2")
    assert client.post(f"{API}/doors/{door.id}/open", headers=g, json=INSIDE).status_code == 200
    assert client.post(f"{API}/doors/{door.id}/open", headers=w,
                       json=INSIDE).get_json()["reason"] == "lockdown"
    client.delete(f"{API}/customers/{a.customer.id}/lockdowns/{r.get_json()['id']}", headers=h)
    r = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                    json={"mode": "unlock_all"})
    assert r.status_code == 201
    door_view = client.get(f"{API}/customers/{a.customer.id}/doors/{door.id}",
                           headers=h).get_json()
    assert door_view["unlocked_now"] is True
    # A site added during a customer-wide one is covered by it; ending it frees both.
    new_site = client.post(f"{API}/customers/{a.customer.id}/sites", headers=h, json={
        "name": "Annex", "latitude": 59.33, "longitude": 18.06, "radius_m": 100}).get_json()
    from models import Site

    session.expire_all()
    assert session.get(Site, uuid.UUID(new_site["id"])).lockdown_id == uuid.UUID(
        r.get_json()["id"])
    client.delete(f"{API}/customers/{a.customer.id}/lockdowns/{r.get_json()['id']}", headers=h)
    session.expire_all()
    assert session.get(Site, uuid.UUID(new_site["id"])).lockdown_id is None


@pytest.mark.parametrize("body", [
    {"mode": "open_sesame"}, {"mode": "lockdown", "exempt_roles": ["guest"]},
    {"mode": "lockdown", "exempt_roles": ["king"]}, {"mode": "lockdown", "extra": 1},
])
def test_bad_lockdowns_are_400(client, rig, body):
    a, _, _, h, _ = rig
    r = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h, json=body)
    assert r.status_code == 400 and r.mimetype == "application/problem+json"


def test_lockdown_of_another_customers_site_is_404_and_members_get_403(client, world, rig):
    a, _, _, h, _ = rig
    r = client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                    json={"site_id": str(world.b.site.id), "mode": "lockdown"})
    assert r.status_code == 404
    r = client.post(f"{API}/customers/{world.b.customer.id}/lockdowns", headers=h,
                    json={"mode": "lockdown"})
    assert r.status_code == 404
    w = bearer(client, a.worker, device_id="device-worker-ld3")
    assert client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=w,
                       json={"mode": "lockdown"}).status_code == 403
    assert client.delete(f"{API}/customers/{a.customer.id}/lockdowns/{uuid.uuid4()}",
                         headers=h).status_code == 404


# ------------------------------------------------------------------------------ remote unlock

def test_remote_unlock_is_queued_delivered_once_and_audited(client, session, world, rig):
    a, door, enrolled, h, _ = rig
    # Ids, not objects to reload later on the shared test connection.
    cid, door_id, admin_mid = a.customer.id, door.id, a.admin_membership.id
    r = client.post(f"{API}/customers/{cid}/doors/{door_id}/unlock", headers=h)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    ev = session.get(AccessEvent, uuid.UUID(body["event_id"]))
    assert (ev.method, ev.outcome, ev.membership_id) == ("remote", "granted",
                                                         admin_mid)
    cmds = client.get(f"{API}/controller/commands", headers=ctl(enrolled["key"])).get_json()
    assert [(c["id"], c["action"]) for c in cmds["items"]] == [(body["id"], "unlock")]
    assert client.get(f"{API}/controller/commands",
                      headers=ctl(enrolled["key"])).get_json()["items"] == []
    assert "door.remote_unlock" in actions(session, cid)
    # No controller: 422; another customer's door: 404; a plain member: 403.
    plain = doorkit.door(session, a.site, name="Back door")
    r = client.post(f"{API}/customers/{cid}/doors/{plain.id}/unlock", headers=h)
    assert r.status_code == 422 and r.get_json()["type"].endswith("/door-without-controller")
    b_door = doorkit.door(session, world.b.site, name="B door")
    assert client.post(f"{API}/customers/{cid}/doors/{b_door.id}/unlock",
                       headers=h).status_code == 404
    w = bearer(client, a.worker, device_id="device-worker-ru1")
    assert client.post(f"{API}/customers/{cid}/doors/{door_id}/unlock",
                       headers=w).status_code == 403


# ------------------------------------------------------------------------------ door alerts

def test_controller_alerts_become_door_alerts_and_webhooks(client, session, rig):
    a, door, enrolled, h, _ = rig
    endpoint, _ = webhook_ops.create_endpoint(session, a.customer.id,
                                              url="https://93.184.215.14/hook",
                                              events=["door_alert.created"], actor_id=None)
    session.commit()
    now = clock.now()
    events = [{"event_id": str(uuid.uuid4()), "door_id": str(door.id), "type": t,
               "occurred_at": (now - dt.timedelta(minutes=i)).isoformat()}
              for i, t in enumerate(["forced_open", "held_open", "tamper"])]
    r = client.post(f"{API}/controller/events", headers=ctl(enrolled["key"]),
                    json={"events": events})
    assert r.get_json() == {"recorded": 3, "duplicates": 0}
    r = client.post(f"{API}/controller/events", headers=ctl(enrolled["key"]),
                    json={"events": events})
    assert r.get_json() == {"recorded": 0, "duplicates": 3}
    listed = client.get(f"{API}/customers/{a.customer.id}/door-alerts", headers=h).get_json()
    assert [(x["type"], x["door_id"]) for x in listed["items"]] == [
        ("forced_open", str(door.id)), ("held_open", str(door.id)), ("tamper", str(door.id))]
    only = client.get(f"{API}/customers/{a.customer.id}/door-alerts?type=tamper",
                      headers=h).get_json()
    assert [x["type"] for x in only["items"]] == ["tamper"]
    sent = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id)).all()
    assert sorted(d.event_type for d in sent) == ["door_alert.created"] * 3
    # A passage still needs its method and outcome.
    bad = client.post(f"{API}/controller/events", headers=ctl(enrolled["key"]), json={
        "events": [{"event_id": str(uuid.uuid4()), "door_id": str(door.id),
                    "occurred_at": now.isoformat()}]})
    assert bad.status_code == 400


def test_an_alert_for_another_controllers_door_is_refused_and_audited(client, session, rig):
    a, door, _enrolled, h, _ = rig
    other = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                        json={"name": "Other"}).get_json()
    r = client.post(f"{API}/controller/events", headers=ctl(other["key"]), json={"events": [
        {"event_id": str(uuid.uuid4()), "door_id": str(door.id), "type": "forced_open",
         "occurred_at": clock.now().isoformat()}]})
    assert r.status_code == 422 and r.get_json()["type"].endswith("/not-this-controllers-door")
    assert session.scalars(select(DoorAlert)).all() == []
    assert "controller.event_refused" in actions(session, a.customer.id)


def test_a_silent_controller_raises_an_offline_alert_once(client, session, database, rig):
    a, _, enrolled, h, _ = rig
    from models import Controller

    c = session.get(Controller, uuid.UUID(enrolled["id"]))
    c.last_seen_at = clock.now() - dt.timedelta(minutes=10)
    session.commit()
    jobs.run_due(database, "w", only=["controller_offline"])
    with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
        jobs.run_due(database, "w", only=["controller_offline"])
    listed = client.get(f"{API}/customers/{a.customer.id}/door-alerts", headers=h).get_json()
    assert [(x["type"], x["controller_id"]) for x in listed["items"]] == [
        ("controller_offline", enrolled["id"])]


# ------------------------------------------------------------------------------ doors, roles

@pytest.mark.parametrize(("patch", "slug"), [
    ({"unlock_schedule": [{"days": ["mon"], "start": "17:00", "end": "08:00"}]},
     "unlock-schedule-invalid"),
    ({"unlock_schedule": [{"days": ["mon"], "start": "08:00", "end": "12:00"},
                          {"days": ["mon", "tue"], "start": "11:00", "end": "13:00"}]},
     "unlock-schedule-invalid"),
    ({"unlock_schedule": [{"days": ["moon"], "start": "08:00", "end": "12:00"}]},
     "unlock-schedule-invalid"),
    ({"holidays": ["2099-12-24"]}, "holidays-invalid"),
    ({"holidays": ["2020-01-01"]}, "holidays-invalid"),
    ({"holidays": ["24/12/2026"]}, "holidays-invalid"),
])
def test_bad_unlock_schedules_and_holidays_are_422(client, rig, patch, slug):
    a, door, _, h, _ = rig
    r = client.patch(f"{API}/customers/{a.customer.id}/doors/{door.id}", headers=h, json=patch)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["type"].endswith("/" + slug) and r.get_json()["errors"]


def test_an_unknown_site_time_zone_is_refused(client, rig):
    a, _, _, h, _ = rig
    r = client.patch(f"{API}/customers/{a.customer.id}/sites/{a.site.id}", headers=h,
                     json={"timezone": "Europe/Atlantis"})
    assert r.status_code in (400, 422) and r.mimetype == "application/problem+json"


def test_a_good_unlock_schedule_is_kept(client, rig):
    a, door, _, h, _ = rig
    r = client.patch(f"{API}/customers/{a.customer.id}/doors/{door.id}", headers=h, json={
        "unlock_schedule": [{"days": ["fri", "mon"], "start": "08:00", "end": "12:00"},
                            {"days": ["mon"], "start": "12:00", "end": "17:00"}],
        "holidays": ["2026-12-25", "2026-12-24", "2026-12-25"], "first_person_in": True})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["unlock_schedule"][0] == {"days": ["mon", "fri"], "start": "08:00",
                                          "end": "12:00"}
    assert body["holidays"] == ["2026-12-24", "2026-12-25"] and body["first_person_in"]


def test_hardware_manager_manages_doors_and_controllers_not_people(client, session, make, rig):
    a, door, enrolled, h, _ = rig
    acct = make.account()
    mid = make.membership(a.customer, acct, role="member").id
    base = f"{API}/customers/{a.customer.id}"
    # An admin gives the role (the one vocabulary of roles has it).
    r = client.patch(f"{base}/members/{mid}", headers=h, json={"role": "hardware_manager"})
    assert r.status_code == 200 and r.get_json()["role"] == "hardware_manager"
    hm = bearer(client, acct, device_id="device-hwmgr-001")
    assert client.get(f"{base}/controllers", headers=hm).status_code == 200
    assert client.post(f"{base}/controllers", headers=hm, json={"name": "New"}).status_code == 201
    assert client.patch(f"{base}/doors/{door.id}", headers=hm,
                        json={"name": "Gate 1"}).status_code == 200
    assert client.get(f"{base}/door-alerts", headers=hm).status_code == 200
    assert client.get(f"{base}/controllers/{enrolled['id']}",
                      headers=hm).get_json()["last_sync_at"] is None
    for method, path in (("get", "/accesses"), ("get", "/members"), ("get", "/credentials"),
                         ("post", "/lockdowns"), ("get", "/access-events")):
        r = getattr(client, method)(base + path, headers=hm,
                                    json={"mode": "lockdown"} if method == "post" else None)
        assert r.status_code == 403, (path, r.status_code)
    assert session.scalar(select(Membership.role).where(
        Membership.account_id == acct.id)) == "hardware_manager"


def test_offline_policy_and_last_sync(client, session, rig):
    a, _, enrolled, h, _ = rig
    base = f"{API}/customers/{a.customer.id}/door-offline-policy"
    assert client.get(base, headers=h).get_json() == {"trust_days": 7}
    assert client.put(base, headers=h, json={"trust_days": 31}).status_code == 400
    assert client.put(base, headers=h, json={"trust_days": 0}).status_code == 400
    assert client.put(base, headers=h, json={"trust_days": 14}).get_json() == {"trust_days": 14}
    n = secrets.token_urlsafe(16)
    doc = client.get(f"{API}/controller/credentials?nonce={n}",
                     headers=ctl(enrolled["key"])).get_json()
    payload = ops.verify_credential_list(doc, enrolled["signing_public_key"],
                                         controller_id=enrolled["id"], nonce=n)
    issued = dt.datetime.fromisoformat(payload["issued_at"])
    assert dt.datetime.fromisoformat(payload["trust_until"]) - issued == dt.timedelta(days=14)
    seen = client.get(f"{API}/customers/{a.customer.id}/controllers/{enrolled['id']}",
                      headers=h).get_json()
    assert dt.datetime.fromisoformat(seen["last_sync_at"]) == issued
    w = bearer(client, a.worker, device_id="device-worker-op1")
    assert client.get(base, headers=w).status_code == 403


# ------------------------------------------------------------------------------ anti-passback

def test_hard_anti_passback_on_scans(client, session, rig):
    a, door, _, h, acc = rig
    r = client.patch(f"{API}/customers/{a.customer.id}/accesses/{acc.id}", headers=h,
                     json={"anti_passback": "hard"})
    assert r.status_code == 200 and r.get_json()["anti_passback"] == "hard"
    w = bearer(client, a.worker, device_id="device-worker-ap1")

    def scan(code):  # type: ignore[no-untyped-def]
        return client.post(f"{API}/doors/scan", headers=w, json={**INSIDE, "code": code})

    assert scan(door.entry_code).status_code == 200
    again = scan(door.entry_code)
    assert again.status_code == 403 and again.get_json()["reason"] == "anti_passback"
    assert scan(door.exit_code).status_code == 200
    assert scan(door.entry_code).status_code == 200
    bad = client.patch(f"{API}/customers/{a.customer.id}/accesses/{acc.id}", headers=h,
                       json={"anti_passback": "strict"})
    assert bad.status_code == 400


def test_soft_anti_passback_lets_in_and_logs(client, session, rig):
    a, door, _, h, acc = rig
    client.patch(f"{API}/customers/{a.customer.id}/accesses/{acc.id}", headers=h,
                 json={"anti_passback": "soft"})
    w = bearer(client, a.worker, device_id="device-worker-ap2")
    for _ in range(2):
        r = client.post(f"{API}/doors/scan", headers=w, json={**INSIDE, "code": door.entry_code})
        assert r.status_code == 200
    ev = session.get(AccessEvent, uuid.UUID(r.get_json()["event_id"]))
    assert (ev.outcome, ev.reason) == ("granted", "anti_passback")


def test_the_nightly_job_clears_stale_passback_states(session, database, rig):
    from models import PassbackState

    a, _, _, _, _ = rig
    session.add(PassbackState(customer_id=a.customer.id, membership_id=a.worker_membership.id,
                              site_id=a.site.id, entered_at=clock.now() - dt.timedelta(days=2)))
    session.commit()
    assert jobs.run_due(database, "w", only=["anti_passback_reset"]) == {
        "anti_passback_reset": "finished"}
    session.expire_all()
    assert session.scalars(select(PassbackState)).all() == []


def test_accesses_take_the_keycard_pin_method(client, rig):
    a, _, _, h, acc = rig
    r = client.patch(f"{API}/customers/{a.customer.id}/accesses/{acc.id}", headers=h,
                     json={"methods": ["keycard_pin", "app"]})
    assert r.status_code == 200 and r.get_json()["methods"] == ["app", "keycard_pin"]


def test_unlock_command_rows_of_a_lockdown_have_no_event(session, client, rig):
    a, _, _, h, _ = rig
    client.post(f"{API}/customers/{a.customer.id}/lockdowns", headers=h,
                json={"mode": "lockdown"})
    rows = session.scalars(select(UnlockCommand)).all()
    assert [(r.action, r.event_id) for r in rows] == [("lock", None)]
