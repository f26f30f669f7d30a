"""Sites: admins manage them, members read them, everyone sees their own across customers."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from entryfy import clock
from models import Entry, Site
from tests.api.test_customers import reread
from tests.factories import bearer

VALID = {"name": "Kv. Björken", "address": "Storgatan 1, Umeå", "latitude": 63.8258,
         "longitude": 20.2630, "radius_m": 250, "geofence": "record", "ledger_id": "BYG-2026-7",
         "timezone": "Europe/Stockholm", "store_coarse_position": True}
SITE_KEYS = {"id", "customer_id", "name", "address", "latitude", "longitude", "radius_m",
             "geofence", "ledger_id", "timezone", "store_coarse_position", "created_at",
             "late_registration_hours", "auto_checkout_time"}


def url(customer, site=None) -> str:
    base = f"/api/v1/customers/{customer.id}/sites"
    return f"{base}/{site.id if hasattr(site, 'id') else site}" if site else base


def _sites(session, customer) -> int:
    reread(session)
    return session.scalar(select(func.count()).select_from(Site)
                          .where(Site.customer_id == customer.id))


def test_admin_creates_site(client, world, session):
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin), json=VALID)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == SITE_KEYS
    assert {k: body[k] for k in VALID} == VALID
    assert body["customer_id"] == str(world.a.customer.id)
    reread(session)
    assert session.get(Site, uuid.UUID(body["id"])).customer_id == world.a.customer.id


def test_defaults(client, world):
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin), json={
        "name": "Minimal", "latitude": 59.3, "longitude": 18.0, "radius_m": 100})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["geofence"], body["timezone"], body["store_coarse_position"],
            body["ledger_id"], body["address"]) == ("enforce", "Europe/Stockholm", False,
                                                    None, None)


@pytest.mark.parametrize("radius", [10, 5000])
def test_radius_bounds_inclusive(client, world, radius):
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin),
                    json={**VALID, "radius_m": radius})
    assert r.status_code == 201


@pytest.mark.parametrize("field,value", [
    ("radius_m", 9), ("radius_m", 5001), ("radius_m", 0), ("radius_m", -5),
    ("radius_m", 12.5), ("radius_m", "100"), ("radius_m", None), ("radius_m", 10**20),
    ("latitude", 90.5), ("latitude", -91), ("latitude", "north"), ("longitude", 180.01),
    ("longitude", -181), ("geofence", "maybe"), ("geofence", None),
    ("timezone", "Mars/Olympus_Mons"), ("timezone", "../../etc/passwd"), ("timezone", ""),
    ("timezone", "europe/stockholm"), ("timezone", None), ("name", ""), ("name", "x" * 201),
    ("address", "x" * 301), ("ledger_id", "x" * 51), ("store_coarse_position", "yes please"),
    ("customer_id", "00000000-0000-0000-0000-000000000000"), ("id", str(uuid.uuid4())),
])
def test_invalid_site_is_400_and_nothing_written(client, world, session, field, value):
    before = _sites(session, world.a.customer)
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin),
                    json={**VALID, field: value})
    assert r.status_code == 400, (field, value, r.get_json())
    assert r.mimetype == "application/problem+json"
    assert field in r.get_json()["errors"]
    assert _sites(session, world.a.customer) == before


@pytest.mark.parametrize("missing", ["name", "latitude", "longitude", "radius_m"])
def test_required_fields(client, world, missing):
    body = {k: v for k, v in VALID.items() if k != missing}
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin), json=body)
    assert r.status_code == 400
    assert missing in r.get_json()["errors"]


def test_nan_and_bad_json_are_400(client, world):
    h = bearer(client, world.a.admin)
    raw = ('{"name": "N", "latitude": NaN, "longitude": 18.0, "radius_m": 100}')
    r = client.post(url(world.a.customer), headers=h, data=raw, content_type="application/json")
    assert r.status_code == 400
    r = client.post(url(world.a.customer), headers=h, data="[1, 2]",
                    content_type="application/json")
    assert r.status_code == 400
    r = client.post(url(world.a.customer), headers=h, data="{", content_type="application/json")
    assert r.status_code == 400


def test_other_timezones_are_accepted(client, world):
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin),
                    json={**VALID, "timezone": "America/New_York"})
    assert r.status_code == 201 and r.get_json()["timezone"] == "America/New_York"


def test_read_one_and_list(client, world, make):
    a = world.a
    h = bearer(client, a.admin)
    got = client.get(url(a.customer, a.site), headers=h)
    assert got.status_code == 200 and got.get_json()["id"] == str(a.site.id)
    listed = client.get(url(a.customer), headers=h).get_json()
    assert [s["id"] for s in listed["items"]] == [str(a.site.id)]
    assert listed["next_cursor"] is None


def test_members_and_operators_list_but_only_admins_manage(client, world, make):
    a = world.a
    operator = make.account()
    make.membership(a.customer, operator, "operator")
    for person in (a.worker, operator):
        h = bearer(client, person)
        r = client.get(url(a.customer), headers=h)
        assert r.status_code == 200
        assert [s["id"] for s in r.get_json()["items"]] == [str(a.site.id)]
        assert client.get(url(a.customer, a.site), headers=h).status_code == 403
        assert client.post(url(a.customer), headers=h, json=VALID).status_code == 403
        assert client.patch(url(a.customer, a.site), headers=h,
                            json={"radius_m": 300}).status_code == 403
        assert client.delete(url(a.customer, a.site), headers=h).status_code == 403


def test_guests_and_outsiders(client, world, make):
    a, b = world.a, world.b
    guest = make.account()
    make.membership(a.customer, guest, "guest")
    assert client.get(url(a.customer), headers=bearer(client, guest)).status_code == 403
    hb = bearer(client, b.admin)
    for method, path, body in (("get", url(a.customer), None),
                               ("post", url(a.customer), VALID),
                               ("get", url(a.customer, a.site), None),
                               ("patch", url(a.customer, a.site), {"name": "Mine now"}),
                               ("delete", url(a.customer, a.site), None)):
        assert getattr(client, method)(path, headers=hb, json=body).status_code == 404
    assert client.get(url(a.customer)).status_code == 401


def test_another_customers_site_under_own_customer_is_404(client, world, session):
    a, b = world.a, world.b
    h = bearer(client, a.admin)
    assert client.get(url(a.customer, b.site), headers=h).status_code == 404
    assert client.patch(url(a.customer, b.site), headers=h,
                        json={"name": "Hijacked"}).status_code == 404
    assert client.delete(url(a.customer, b.site), headers=h).status_code == 404
    assert client.get(url(a.customer, uuid.uuid4()), headers=h).status_code == 404
    reread(session)
    assert session.get(Site, b.site.id).name == b.site.name


def test_patch(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    r = client.patch(url(a.customer, a.site), headers=h, json={
        "radius_m": 75, "geofence": "record", "ledger_id": None, "timezone": "Europe/Helsinki",
        "address": "Ny väg 2"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["radius_m"], body["geofence"], body["ledger_id"], body["timezone"]) == (
        75, "record", None, "Europe/Helsinki")
    assert body["name"] == a.site.name  # untouched
    for bad in ({"radius_m": 5001}, {"name": None}, {"latitude": None}, {"timezone": "Nowhere"},
                {"customer_id": str(world.b.customer.id)}):
        r = client.patch(url(a.customer, a.site), headers=h, json=bad)
        assert r.status_code == 400, bad
    reread(session)
    site = session.get(Site, a.site.id)
    assert (site.radius_m, site.customer_id, site.timezone) == (75, a.customer.id,
                                                                "Europe/Helsinki")


def test_delete(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    site_id = a.site.id
    assert client.delete(url(a.customer, site_id), headers=h).status_code == 204
    assert client.get(url(a.customer, site_id), headers=h).status_code == 404
    assert client.delete(url(a.customer, site_id), headers=h).status_code == 404
    reread(session)
    assert session.get(Site, site_id) is None


def test_site_with_entries_cannot_be_deleted(client, world, session):
    a = world.a
    session.add(Entry(customer_id=a.customer.id, site_id=a.site.id, account_id=a.worker.id,
                      checked_in_at=clock.now()))
    session.commit()
    r = client.delete(url(a.customer, a.site), headers=bearer(client, a.admin))
    assert r.status_code == 422
    assert r.get_json()["type"].endswith("site-has-entries")
    reread(session)
    assert session.get(Site, a.site.id) is not None


def test_pagination(client, world, make):
    a = world.a
    for _ in range(4):
        make.site(a.customer)
    h = bearer(client, a.admin)
    seen, cursor = [], None
    while True:
        q = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(url(a.customer), headers=h, query_string=q).get_json()
        seen += [s["id"] for s in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen[0] == str(a.site.id)  # oldest first
    for bad in ({"cursor": "!!!"}, {"cursor": "WyJ4Il0"}, {"limit": 500}, {"page": 2}):
        r = client.get(url(a.customer), headers=h, query_string=bad)
        assert r.status_code == 400, bad
        assert r.mimetype == "application/problem+json"


# ------------------------------------------------------------------ /me/sites

def test_my_sites_across_customers(client, world, make):
    a, b = world.a, world.b
    c_old = make.customer()
    make.site(c_old)
    c_inactive = make.customer()
    make.site(c_inactive)
    c_guest = make.customer()
    make.site(c_guest)
    c_invited = make.customer()
    make.site(c_invited)
    make.membership(b.customer, a.worker, "member")
    make.membership(c_old, a.worker, "member", valid_to=clock.now().replace(year=2020))
    make.membership(c_inactive, a.worker, "member", active=False)
    make.membership(c_guest, a.worker, "guest")
    make.membership(c_invited, None, invited_email=a.worker.email.upper())
    extra = make.site(a.customer)
    h = bearer(client, a.worker)
    r = client.get("/api/v1/me/sites", headers=h)
    assert r.status_code == 200
    ids = {s["id"] for s in r.get_json()["items"]}
    assert ids == {str(a.site.id), str(extra.id), str(b.site.id)}
    # Paginated like every list.
    page = client.get("/api/v1/me/sites", headers=h, query_string={"limit": 2}).get_json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = client.get("/api/v1/me/sites", headers=h,
                      query_string={"limit": 2, "cursor": page["next_cursor"]}).get_json()
    assert {s["id"] for s in page["items"] + rest["items"]} == ids


def test_my_sites_without_memberships_and_signed_out(client, make):
    loner = make.account()
    h = bearer(client, loner)
    r = client.get("/api/v1/me/sites", headers=h)
    assert r.status_code == 200 and r.get_json() == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/me/sites").status_code == 401
    r = client.get("/api/v1/me/sites", headers=h, query_string={"cursor": "nonsense"})
    assert r.status_code == 400
