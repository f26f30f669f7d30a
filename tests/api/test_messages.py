"""Refusals speak to people: a refused door says why in words and what to do (with the
distance like check-in), and a CSRF refusal names the header to send."""

from __future__ import annotations

import pytest
from geopy.distance import geodesic

from entryfy.ops import door_refusals
from entryfy.ops.doors import REASONS, Decision
from tests import doorkit
from tests.factories import bearer, login

API = "/api/v1"


def test_every_refusal_reason_has_words_with_what_to_do():
    for reason in REASONS:
        text = door_refusals.detail(Decision.refuse(reason))
        assert reason not in text and "DoorRefused" not in text
        assert text.endswith(".") and len(text.split(". ")) >= 2, reason


def test_a_door_refused_for_distance_says_how_far_and_how_near(client, world, session):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app"])
    p = geodesic(meters=1200).destination((a.site.latitude, a.site.longitude), 0)
    r = client.post(f"{API}/doors/{door.id}/open", headers=bearer(client, a.worker),
                    json={"latitude": p.latitude, "longitude": p.longitude, "accuracy_m": 5})
    assert r.status_code == 403
    body = r.get_json()
    assert (body["reason"], body["distance_m"], body["radius_m"]) == (
        "outside_geofence", 1200, a.site.radius_m)
    assert body["detail"] == (f"You are 1200 m from the door; it opens from the phone within "
                              f"{a.site.radius_m} m. Move closer and try again.")


def test_a_door_refused_for_no_access_says_whom_to_ask(client, world, session):
    a = world.a
    door = doorkit.door(session, a.site)
    r = client.post(f"{API}/doors/{door.id}/open", headers=bearer(client, a.worker),
                    json=doorkit.INSIDE)
    body = r.get_json()
    assert (r.status_code, body["reason"]) == (403, "no_access")
    assert body["detail"] == door_refusals.DETAILS["no_access"]
    assert "distance_m" not in body


@pytest.mark.parametrize("sent", [None, "wrong"])
def test_csrf_refusal_names_the_header(client, world, sent):
    login(client, world.a.worker)
    headers = {} if sent is None else {"X-CSRF-Token": sent}
    r = client.post(f"{API}/auth/logout", headers=headers)
    assert r.status_code == 403
    body = r.get_json()
    assert body["type"].endswith("csrf-failed")
    assert "X-CSRF-Token" in body["detail"] and "csrf_token" in body["detail"]


def test_check_in_outside_the_fence_says_how_far_in_words(client, world, session):
    from entryfy.ops import identity

    identity.set_identity_number(session, world.a.worker, "19850101-9874")
    session.commit()
    site = world.a.site
    p = geodesic(meters=900).destination((site.latitude, site.longitude), 90)
    h = bearer(client, world.a.worker)
    r = client.post(f"{API}/entries", headers={**h, "Idempotency-Key": "k-outside-1"},
                    json={"site_id": str(site.id), "latitude": p.latitude,
                          "longitude": p.longitude})
    body = r.get_json()
    assert (r.status_code, body["distance_m"], body["radius_m"]) == (422, 900, site.radius_m)
    assert body["detail"] == (f"You are outside the site's area: 900 m from the site, which "
                              f"takes check-ins within {site.radius_m} m. Move closer and try "
                              "again.")
