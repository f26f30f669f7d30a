"""Door controllers: their own key, the signed versioned credential list (tampered, replayed
and rolled-back lists fail verification), unlock commands only for the controller of that
door, passages posted once however often retried, online state for admins."""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
import uuid

import pytest
from sqlalchemy import func, select

from entryfy import clock, security
from entryfy.ops import doors as ops
from models import Access, AccessEvent, Controller, Entry
from tests import doorkit
from tests.doorkit import INSIDE
from tests.factories import bearer

API = "/api/v1"


def ctl_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Controller {key}"}


def nonce() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture
def rig(client, world, session):  # type: ignore[no-untyped-def]
    """A's admin enrols a controller over HTTP; a door hangs on it; the worker has a keycard."""
    a = world.a
    h = bearer(client, a.admin, device_id="device-admin-001")
    r = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                    json={"name": "Gate reader"})
    assert r.status_code == 201, r.get_json()
    enrolled = r.get_json()
    door = doorkit.door(session, a.site, name="Gate", site_entrance=True,
                        controller_id=uuid.UUID(enrolled["id"]))
    doorkit.access(session, [door], [a.worker_membership], ["app", "keycard"])
    ops.add_keycard(session, a.worker_membership, "04A22B1C")
    session.commit()
    return a, door, enrolled, h


def fetch(client, key, n=None):  # type: ignore[no-untyped-def]
    n = n or nonce()
    r = client.get(f"{API}/controller/credentials?nonce={n}", headers=ctl_headers(key))
    assert r.status_code == 200, r.get_json()
    return r.get_json(), n


def test_key_is_shown_once_and_stored_hashed(client, session, rig):
    a, _, enrolled, h = rig
    key = enrolled["key"]
    row = session.get(Controller, uuid.UUID(enrolled["id"]))
    assert row.key_hash == security.sha256_hex(key) and key not in row.key_hash
    again = client.get(f"{API}/customers/{a.customer.id}/controllers/{enrolled['id']}",
                       headers=h).get_json()
    assert "key" not in again and again["online"] is False
    listed = client.get(f"{API}/customers/{a.customer.id}/controllers", headers=h).get_json()
    assert [c["id"] for c in listed["items"]] == [enrolled["id"]]


@pytest.mark.parametrize("header", [
    None, "Bearer abc", "Controller ", "Controller efc_wrong", "Controller " + "x" * 500,
])
def test_controller_endpoints_need_a_controller_key(client, rig, header):
    headers = {"Authorization": header} if header else {}
    for method, path in (("get", f"/controller/credentials?nonce={nonce()}"),
                         ("get", "/controller/commands"), ("post", "/controller/events")):
        r = getattr(client, method)(API + path, headers=headers,
                                    json={"events": []} if method == "post" else None)
        assert r.status_code == 401, (path, r.get_json())
        assert r.mimetype == "application/problem+json"


def test_a_persons_sign_in_is_not_a_controller_key(client, world, rig):
    r = client.get(f"{API}/controller/commands", headers=bearer(client, world.a.worker))
    assert r.status_code == 401


def test_signed_list_verifies_and_holds_only_hashes(client, rig):
    _a, door, enrolled, _ = rig
    doc, n = fetch(client, enrolled["key"])
    payload = ops.verify_credential_list(doc, enrolled["signing_public_key"],
                                         controller_id=enrolled["id"], nonce=n)
    assert payload["doors"] == [{"id": str(door.id), "name": "Gate",
                                 "timezone": "Europe/Stockholm"}]
    (cred,) = payload["credentials"]
    assert cred["kind"] == "keycard"
    assert "04A22B1C" not in doc["payload"]
    # The controller hashes what its reader reads with the key in the list and compares.
    import hashlib
    import hmac

    key = bytes.fromhex(payload["hash"]["key"])
    assert hmac.new(key, b"keycard:04A22B1C", hashlib.sha256).hexdigest() == cred["hash"]
    (acc,) = payload["accesses"]
    assert acc["methods"] == ["keycard"] and cred["access_ids"] == [acc["id"]]


def test_tampered_list_fails_verification(client, rig):
    _, _, enrolled, _ = rig
    doc, n = fetch(client, enrolled["key"])
    pub = enrolled["signing_public_key"]
    payload = json.loads(doc["payload"])
    payload["credentials"].append({"kind": "keycard", "hash": "0" * 64, "valid_from": None,
                                   "valid_to": None, "access_ids": []})
    forged = {**doc, "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"))}
    with pytest.raises(ops.ListRefused):
        ops.verify_credential_list(forged, pub, controller_id=enrolled["id"], nonce=n)
    bad_sig = copy.deepcopy(doc)
    bad_sig["signature"] = doc["signature"][:-4] + ("AAAA" if doc["signature"][-4:] != "AAAA"
                                                    else "BBBB")
    with pytest.raises(ops.ListRefused):
        ops.verify_credential_list(bad_sig, pub, controller_id=enrolled["id"], nonce=n)
    with pytest.raises(ops.ListRefused):  # signed by some other key
        ops.verify_credential_list(doc, "A" * 43, controller_id=enrolled["id"], nonce=n)


def test_old_list_replayed_fails_verification(client, session, rig):
    a, _door, enrolled, _ = rig
    old_doc, old_nonce = fetch(client, enrolled["key"])
    # The worker is deactivated: the list changes, the version moves on.
    a.worker_membership.active = False
    session.merge(a.worker_membership)
    session.commit()
    new_doc, new_nonce = fetch(client, enrolled["key"])
    assert new_doc["version"] == old_doc["version"] + 1
    assert json.loads(new_doc["payload"])["credentials"] == []
    pub = enrolled["signing_public_key"]
    # An attacker replaying the earlier (validly signed) answer to the new request:
    with pytest.raises(ops.ListRefused, match="stale"):
        ops.verify_credential_list(old_doc, pub, controller_id=enrolled["id"],
                                   nonce=new_nonce)
    # A list older than the one held is refused even with a matching nonce.
    with pytest.raises(ops.ListRefused, match="older"):
        ops.verify_credential_list(old_doc, pub, controller_id=enrolled["id"],
                                   nonce=old_nonce, known_version=new_doc["version"])
    assert ops.verify_credential_list(new_doc, pub, controller_id=enrolled["id"],
                                      nonce=new_nonce, known_version=old_doc["version"])


def test_list_for_another_controller_fails(client, world, rig):
    a, _, enrolled, h = rig
    other = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                        json={"name": "Other"}).get_json()
    doc, n = fetch(client, other["key"])
    with pytest.raises(ops.ListRefused, match="another controller"):
        ops.verify_credential_list(doc, enrolled["signing_public_key"],
                                   controller_id=enrolled["id"], nonce=n)
    assert json.loads(doc["payload"])["credentials"] == []  # no doors, no credentials


def test_version_moves_only_when_content_changes(client, session, rig):
    a, _door, enrolled, _ = rig
    v1 = fetch(client, enrolled["key"])[0]["version"]
    assert fetch(client, enrolled["key"])[0]["version"] == v1
    ops.issue_pin(session, a.worker_membership)  # a PIN, but the access has no "pin" method
    session.commit()
    assert fetch(client, enrolled["key"])[0]["version"] == v1
    acc = session.scalars(select(Access)).one()
    acc.methods = ["keycard", "pin"]
    session.commit()
    doc = fetch(client, enrolled["key"])[0]
    assert doc["version"] == v1 + 1
    assert sorted(c["kind"] for c in json.loads(doc["payload"])["credentials"]) == [
        "keycard", "pin"]


@pytest.mark.parametrize("q", ["", "?nonce=short", "?nonce=" + "a" * 200, "?nonce=bad%20one"])
def test_list_needs_a_fresh_nonce(client, rig, q):
    _, _, enrolled, _ = rig
    r = client.get(f"{API}/controller/credentials{q}", headers=ctl_headers(enrolled["key"]))
    assert r.status_code == 400


def test_unlock_commands_only_for_the_controller_of_that_door(client, world, session, rig):
    a, door, enrolled, h = rig
    other = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                        json={"name": "Other reader"}).get_json()
    hb = bearer(client, world.b.admin, device_id="device-b-admin-01")
    b_ctl = client.post(f"{API}/customers/{world.b.customer.id}/controllers", headers=hb,
                        json={"name": "B reader"}).get_json()
    worker = bearer(client, a.worker)
    r = client.post(f"{API}/doors/{door.id}/open", headers=worker, json=INSIDE)
    assert r.status_code == 200
    for key in (other["key"], b_ctl["key"]):
        assert client.get(f"{API}/controller/commands",
                          headers=ctl_headers(key)).get_json()["items"] == []
    got = client.get(f"{API}/controller/commands",
                     headers=ctl_headers(enrolled["key"])).get_json()["items"]
    assert [(c["door_id"], c["event_id"]) for c in got] == [(str(door.id),
                                                             r.get_json()["event_id"])]
    # Delivered once.
    assert client.get(f"{API}/controller/commands",
                      headers=ctl_headers(enrolled["key"])).get_json()["items"] == []


def test_refused_and_expired_commands_are_not_delivered(client, rig):
    a, door, enrolled, _ = rig
    worker = bearer(client, a.worker)
    t0 = dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)
    with clock.frozen_at(t0):
        assert client.post(f"{API}/doors/{door.id}/open", headers=worker,
                           json={**INSIDE, "latitude": 59.5}).status_code == 403
        assert client.post(f"{API}/doors/{door.id}/open", headers=worker,
                           json=INSIDE).status_code == 200
    with clock.frozen_at(t0 + ops.UNLOCK_COMMAND_TTL + dt.timedelta(seconds=1)):
        r = client.get(f"{API}/controller/commands", headers=ctl_headers(enrolled["key"]))
    assert r.get_json()["items"] == []


def _passage(door, **kw):  # type: ignore[no-untyped-def]
    return {"event_id": str(kw.pop("event_id", uuid.uuid4())), "door_id": str(door.id),
            "occurred_at": kw.pop("occurred_at", clock.now().isoformat()),
            "method": "keycard", "outcome": "granted", **kw}


def test_retried_passages_record_once(client, session, rig):
    a, door, enrolled, _ = rig
    h = ctl_headers(enrolled["key"])
    # The controller reports the hash from its own list (its own key).
    card = ops.controller_credential_hash(uuid.UUID(enrolled["id"]), "keycard", "04A22B1C")
    assert card != ops.credential_hash(a.customer.id, "keycard", "04A22B1C")
    e1 = _passage(door, credential_hash=card, direction="in")
    e2 = _passage(door, outcome="denied", reason="outside_schedule")
    r = client.post(f"{API}/controller/events", headers=h, json={"events": [e1, e2]})
    assert r.status_code == 200 and r.get_json() == {"recorded": 2, "duplicates": 0}
    r = client.post(f"{API}/controller/events", headers=h, json={"events": [e1, e2, e1]})
    assert r.get_json() == {"recorded": 0, "duplicates": 3}
    rows = session.scalars(select(AccessEvent).where(AccessEvent.source == "controller")).all()
    assert len(rows) == 2
    granted = next(r for r in rows if r.outcome == "granted")
    assert granted.account_id == a.worker.id and granted.membership_id == a.worker_membership.id
    # The gate is a site entrance: the passage "in" opened the shift in the ledger.
    assert session.scalar(select(func.count()).select_from(Entry).where(
        Entry.account_id == a.worker.id, Entry.source == "door")) == 1


def test_same_event_id_is_kept_apart_per_controller(client, rig, session):
    a, door, enrolled, h = rig
    shared_id = uuid.uuid4()
    other = client.post(f"{API}/customers/{a.customer.id}/controllers", headers=h,
                        json={"name": "Other"}).get_json()
    door2 = doorkit.door(session, a.site, name="Side", controller_id=uuid.UUID(other["id"]))
    for key, d in ((enrolled["key"], door), (other["key"], door2)):
        r = client.post(f"{API}/controller/events", headers=ctl_headers(key),
                        json={"events": [_passage(d, event_id=shared_id)]})
        assert r.get_json()["recorded"] == 1


def test_passages_at_doors_not_its_own_record_nothing(client, world, session, rig):
    a, door, enrolled, _ = rig
    foreign = doorkit.door(session, world.b.site)
    unhung = doorkit.door(session, a.site, name="No controller")
    h = ctl_headers(enrolled["key"])
    for d in (foreign, unhung):
        r = client.post(f"{API}/controller/events", headers=h,
                        json={"events": [_passage(door), _passage(d)]})
        assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert session.scalar(select(func.count()).select_from(AccessEvent)) == 0


@pytest.mark.parametrize("mutate", [
    lambda e: e.update(method="telepathy"),
    lambda e: e.update(outcome="maybe"),
    lambda e: e.update(event_id="not-a-uuid"),
    lambda e: e.update(occurred_at="2026-06-15T08:00:00"),  # no zone
    lambda e: e.update(credential_hash="04A22B1C"),  # a clear value is not a hash
    lambda e: e.update(latitude=59.3),
    lambda e: e.pop("door_id"),
])
def test_bad_passages_are_400(client, session, rig, mutate):
    _, door, enrolled, _ = rig
    e = _passage(door)
    mutate(e)
    r = client.post(f"{API}/controller/events", headers=ctl_headers(enrolled["key"]),
                    json={"events": [e]})
    assert r.status_code == 400, r.get_json()
    assert session.scalar(select(func.count()).select_from(AccessEvent)) == 0


def test_passages_from_the_future_or_bad_json(client, rig):
    _, door, enrolled, _ = rig
    h = ctl_headers(enrolled["key"])
    future = (clock.now() + dt.timedelta(hours=1)).isoformat()
    r = client.post(f"{API}/controller/events", headers=h,
                    json={"events": [_passage(door, occurred_at=future)]})
    assert r.status_code == 422
    r = client.post(f"{API}/controller/events", headers=h, data="{",
                    content_type="application/json")
    assert r.status_code == 400
    r = client.post(f"{API}/controller/events", headers=h, json={"events": []})
    assert r.status_code == 400


def test_online_state_visible_to_admins(client, rig):
    a, _, enrolled, h = rig
    url = f"{API}/customers/{a.customer.id}/controllers/{enrolled['id']}"
    t0 = dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)
    with clock.frozen_at(t0):
        client.get(f"{API}/controller/commands", headers=ctl_headers(enrolled["key"]))
        c = client.get(url, headers=h).get_json()
    assert c["online"] is True and c["last_seen_at"].startswith("2026-06-15T08:00")
    with clock.frozen_at(t0 + dt.timedelta(minutes=10)):
        assert client.get(url, headers=h).get_json()["online"] is False


def test_controller_admin_is_walled_and_deleting_ends_the_key(client, world, rig):
    a, _, enrolled, h = rig
    hb = bearer(client, world.b.admin, device_id="device-b-admin-01")
    other_url = f"{API}/customers/{world.b.customer.id}/controllers/{enrolled['id']}"
    assert client.get(other_url, headers=hb).status_code == 404
    assert client.delete(other_url, headers=hb).status_code == 404
    worker = bearer(client, a.worker, device_id="device-worker-01")
    url = f"{API}/customers/{a.customer.id}/controllers/{enrolled['id']}"
    assert client.get(url, headers=worker).status_code == 403
    assert client.patch(url, headers=h, json={"name": "Renamed"}).get_json()["name"] == "Renamed"
    assert client.delete(url, headers=h).status_code == 204
    assert client.get(f"{API}/controller/commands",
                      headers=ctl_headers(enrolled["key"])).status_code == 401


def test_guest_codes_reach_the_controller_only_for_their_window(client, session, rig):
    a, door, enrolled, h = rig
    start = dt.datetime(2026, 6, 15, 7, 0, tzinfo=dt.UTC)
    end = start + dt.timedelta(hours=8)
    before = doorkit.mail_ids()
    with clock.frozen_at(start - dt.timedelta(days=1)):
        r = client.post(f"{API}/customers/{a.customer.id}/guests", headers=h, json={
            "email": "visitor@example.test", "valid_from": start.isoformat(),
            "valid_to": end.isoformat(), "door_ids": [str(door.id)]})
        assert r.status_code == 201, r.get_json()
        doc, _ = fetch(client, enrolled["key"])
    pin, qr = doorkit.guest_codes("visitor@example.test", exclude=before)
    creds = json.loads(doc["payload"])["credentials"]
    guest = {c["kind"]: c for c in creds if c["kind"] in ("pin", "qr")}
    ctl = uuid.UUID(enrolled["id"])
    assert guest["pin"]["hash"] == ops.controller_credential_hash(ctl, "pin", pin)
    assert guest["qr"]["hash"] == ops.controller_credential_hash(ctl, "qr", qr)
    assert guest["pin"]["valid_from"].startswith("2026-06-15T07:00")
    assert guest["pin"]["valid_to"].startswith("2026-06-15T15:00")
    with clock.frozen_at(end + dt.timedelta(minutes=1)):
        later, _ = fetch(client, enrolled["key"])
    assert later["version"] == doc["version"] + 1
    assert {c["kind"] for c in json.loads(later["payload"])["credentials"]} == {"keycard"}
