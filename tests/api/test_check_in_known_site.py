"""The check-in at a site this process has seen (PostgreSQL): the verdict is computed from the
site's geofence as last read, then one statement looks up, checks and inserts, and inserts
only while the site still has exactly that geofence. Every rule holds as on the first
check-in: membership, identity number, idempotency, one open entry, and a site that moved is
judged where it is now."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from entryfy.ops import entries as entry_ops
from models import Entry, Site
from tests import sqlspy
from tests.attendance import at_site, give_identity_number, key
from tests.factories import bearer

HERE = {"latitude": 59.33, "longitude": 18.06}  # the test sites' centre (tests.factories)
FAR = {"latitude": 59.40, "longitude": 18.06}  # about 7.8 km north of it


@pytest.fixture(autouse=True)
def _postgresql_only(backend):  # type: ignore[no-untyped-def]
    if backend.name != "postgresql":
        pytest.skip("the one-statement check-in runs on PostgreSQL (SQLite: lookup, insert)")


@pytest.fixture
def hot(monkeypatch):  # type: ignore[no-untyped-def]
    """The first words of every hot statement run (the check-in's run on the DBAPI cursor)."""
    with sqlspy.statements(monkeypatch, words=2) as seen:
        yield seen


def member(session, make, customer):  # type: ignore[no-untyped-def]
    acc = make.account()
    make.membership(customer, acc, "member", employer_name="Bygg AB")
    give_identity_number(session, acc)
    return acc


@pytest.fixture
def site(make, world):  # type: ignore[no-untyped-def]
    return make.site(world.a.customer)


@pytest.fixture
def known(client, session, make, world, site):  # type: ignore[no-untyped-def]
    """The site after a first check-in (someone else's): its geofence is known."""
    first = member(session, make, world.a.customer)
    r = client.post("/api/v1/entries", headers={**bearer(client, first), **key()},
                    json=at_site(site))
    assert r.status_code == 201, r.get_json()
    assert site.id in entry_ops._FENCES
    return site


def check_in(client, headers, site, **position):  # type: ignore[no-untyped-def]
    body = {**at_site(site), **position}
    return client.post("/api/v1/entries", headers=headers, json=body)


def test_the_first_check_in_looks_up_then_inserts_the_next_is_one_statement(
        client, session, make, world, site, hot):
    a, b = member(session, make, world.a.customer), member(session, make, world.a.customer)
    ha, hb = bearer(client, a), bearer(client, b)
    hot.clear()
    assert check_in(client, {**ha, **key()}, site).status_code == 201
    assert hot == ["SELECT signed_in.id,", "SELECT scope.scoped_ids,", "INSERT INTO"], hot
    hot.clear()
    r = check_in(client, {**hb, **key()}, site, accuracy_m=10)
    assert r.status_code == 201, r.get_json()
    assert hot == ["SELECT signed_in.id,", "WITH found"], hot
    body = r.get_json()
    stored = session.get(Entry, uuid.UUID(body["id"]))
    assert stored is not None and stored.account_id == b.id and stored.site_id == site.id
    assert stored.customer_id == world.a.customer.id and stored.employer_name == "Bygg AB"
    assert stored.inside_geofence is True and stored.distance_m == 0
    assert stored.checked_out_at is None and stored.source == "app"
    assert body["inside_geofence"] is True and body["distance_m"] == 0


def test_a_site_moved_away_is_judged_where_it_is_now(client, session, make, world, known):
    session.execute(update(Site).where(Site.id == known.id).values(latitude=59.40))
    session.commit()
    p = member(session, make, world.a.customer)
    hp = bearer(client, p)
    r = check_in(client, {**hp, **key()}, known, **HERE)  # where the site used to be
    assert r.status_code == 422
    body = r.get_json()
    assert body["type"].endswith("/outside-geofence") and body["distance_m"] > 7000
    assert session.scalar(select(Entry.id).where(Entry.account_id == p.id)) is None
    # Its new place is known now: a check-in there is one statement again, and inside.
    r = check_in(client, {**hp, **key()}, known, **FAR)
    assert r.status_code == 201, r.get_json()
    assert entry_ops._FENCES[known.id].latitude == 59.40


def test_a_site_moved_to_the_person_takes_the_check_in(client, session, make, world, known):
    """The guess said outside: the rules judge the site as read now, not the guess."""
    session.execute(update(Site).where(Site.id == known.id).values(latitude=59.40))
    session.commit()
    p = member(session, make, world.a.customer)
    r = check_in(client, {**bearer(client, p), **key()}, known, **FAR)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["inside_geofence"] is True


def test_a_site_that_stopped_enforcing_records_the_verdict(client, session, make, world,
                                                           known):
    session.execute(update(Site).where(Site.id == known.id).values(geofence="record"))
    session.commit()
    p = member(session, make, world.a.customer)
    r = check_in(client, {**bearer(client, p), **key()}, known, **FAR)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["inside_geofence"] is False and r.get_json()["distance_m"] > 7000


def test_a_wider_radius_is_seen_at_once(client, session, make, world, known):
    session.execute(update(Site).where(Site.id == known.id).values(radius_m=5000))
    session.commit()
    p = member(session, make, world.a.customer)
    near = {"latitude": 59.36, "longitude": 18.06}  # about 3.3 km away
    r = check_in(client, {**bearer(client, p), **key()}, known, **near)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["inside_geofence"] is True


def test_outside_a_known_site_is_refused(client, session, make, world, known):
    p = member(session, make, world.a.customer)
    r = check_in(client, {**bearer(client, p), **key()}, known, **FAR)
    assert r.status_code == 422 and r.get_json()["type"].endswith("/outside-geofence")


def test_a_known_site_of_another_customer_is_not_found(client, session, make, world, known,
                                                       hot):
    """Knowing the site's geofence tells an outsider nothing: 404 inside or outside it."""
    outsider = member(session, make, world.b.customer)
    h = bearer(client, outsider)
    for position in ({}, FAR):
        r = check_in(client, {**h, **key()}, known, **position)
        assert r.status_code == 404, r.get_json()
    assert session.scalar(select(Entry.id).where(Entry.account_id == outsider.id)) is None


def test_a_former_member_is_not_found(client, session, make, world, known):
    p = member(session, make, world.a.customer)
    h = bearer(client, p)
    from models import Membership

    session.execute(update(Membership).where(Membership.account_id == p.id)
                    .values(active=False))
    session.commit()
    assert check_in(client, {**h, **key()}, known).status_code == 404


def test_a_ledger_site_needs_the_identity_number(client, session, make, world, known):
    acc = make.account()
    make.membership(world.a.customer, acc, "member")
    r = check_in(client, {**bearer(client, acc), **key()}, known)
    assert r.status_code == 422 and r.get_json()["type"].endswith("/identity-number-required")
    assert session.scalar(select(Entry.id).where(Entry.account_id == acc.id)) is None


def test_replay_reuse_and_already_checked_in_at_a_known_site(client, session, make, world,
                                                             known):
    p = member(session, make, world.a.customer)
    h = bearer(client, p)
    k = key()
    first = check_in(client, {**h, **k}, known)
    assert first.status_code == 201
    again = check_in(client, {**h, **k}, known)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    r = check_in(client, {**h, **key()}, known)
    assert r.status_code == 409 and r.get_json()["type"].endswith("/already-checked-in")
    assert r.get_json()["entry_id"] == first.get_json()["id"]
    other = make.site(world.a.customer)
    check_in(client, {**bearer(client, member(session, make, world.a.customer)), **key()},
             other)  # makes ``other`` known as well
    r = check_in(client, {**h, **k}, other)
    assert r.status_code == 409 and r.get_json()["type"].endswith("/idempotency-key-reused")
    assert len(list(session.scalars(select(Entry.id).where(Entry.account_id == p.id)))) == 1
