"""The person's devices: listed without their ids, signed out by revoking their tokens."""

from __future__ import annotations

import uuid

from tests.factories import bearer


def test_list_and_revoke_a_device(client, world):
    phone = bearer(client, world.a.worker, device_id="phone-aaaa-1111")
    tablet = bearer(client, world.a.worker, device_id="tablet-bbbb-2222")
    devices = client.get("/api/v1/me/devices", headers=phone).get_json()
    assert len(devices) == 2 and all(d["active"] for d in devices)
    assert "phone-aaaa-1111" not in str(devices)  # only a keyed hash is kept
    here = [d for d in devices if d["current"]]
    assert len(here) == 1
    other = next(d for d in devices if not d["current"])
    r = client.delete(f"/api/v1/me/devices/{other['id']}", headers=phone)
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=tablet).status_code == 401
    assert client.get("/api/v1/me", headers=phone).status_code == 200
    after = {d["id"]: d["active"] for d in
             client.get("/api/v1/me/devices", headers=phone).get_json()}
    assert after == {here[0]["id"]: True, other["id"]: False}
    # Again: nothing left to revoke, still fine.
    assert client.delete(f"/api/v1/me/devices/{other['id']}", headers=phone).status_code == 204


def test_revoking_the_current_device_signs_it_out(client, world):
    phone = bearer(client, world.a.worker, device_id="phone-aaaa-1111")
    device = client.get("/api/v1/me/devices", headers=phone).get_json()[0]
    assert client.delete(f"/api/v1/me/devices/{device['id']}", headers=phone).status_code == 204
    assert client.get("/api/v1/me", headers=phone).status_code == 401


def test_someone_elses_device_is_404(client, world):
    theirs = bearer(client, world.a.admin, device_id="admin-phone-0001")
    mine = bearer(client, world.a.worker, device_id="phone-aaaa-1111")
    their_device = client.get("/api/v1/me/devices", headers=theirs).get_json()[0]["id"]
    a = client.delete(f"/api/v1/me/devices/{their_device}", headers=mine)
    b = client.delete(f"/api/v1/me/devices/{uuid.uuid4()}", headers=mine)
    assert a.status_code == b.status_code == 404 and a.get_json() == b.get_json()
    assert client.get("/api/v1/me", headers=theirs).status_code == 200


def test_not_signed_in(client):
    assert client.get("/api/v1/me/devices").status_code == 401
