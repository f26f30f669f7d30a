"""The door decision's edges with literal values: QR scan with a PIN, validity windows of
accesses and credentials, the door's own radius and the phone's accuracy credit, the wrong-PIN
limit (5 in 15 minutes) and its window, and the no-PIN access winning in either order; the
credential hashes as known constructions and the PIN and keycard formats."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

import pytest
from geopy.distance import geodesic
from sqlalchemy import select

from entryfy import security
from entryfy.errors import Conflict, Unprocessable, ValidationFailed
from entryfy.ops import doors as ops
from entryfy.ops.doors import credentials
from models import AuditEvent, DoorCredential
from tests import doorkit

UTC = dt.UTC
AT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Stockholm
SITE = (59.33, 18.06)  # the factory's site: radius 200 m
HERE = ops.Position(59.33, 18.06, 10)


def north(metres: float, accuracy: float | None = None) -> ops.Position:
    p = geodesic(meters=metres).destination(SITE, 0)
    return ops.Position(p.latitude, p.longitude, accuracy)


@pytest.fixture
def setup(app, session, world):  # type: ignore[no-untyped-def]
    a = world.a
    door = doorkit.door(session, a.site)
    acc = doorkit.access(session, [door], [a.worker_membership], ["app"])
    return a, door, acc


def _decide(session, membership, door, channel="app", **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("at", AT)
    kw.setdefault("position", HERE)
    return ops.decide(session, membership=membership, door=door, channel=channel, **kw)


def _wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 10**6:06d}"


def test_a_qr_scan_needs_the_pin_where_the_access_says_qr_pin(session, setup):
    a, door, acc = setup
    acc.methods = ["qr_pin"]
    session.flush()
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)
    d = _decide(session, m, door, channel="scan")
    assert (d.granted, d.reason, d.method) == (False, "pin_required", "qr_pin")
    assert _decide(session, m, door, channel="scan", pin=_wrong(pin)).reason == "wrong_pin"
    d = _decide(session, m, door, channel="scan", pin=pin)
    assert (d.granted, d.method) == (True, "qr_pin")
    # The app's channel is not covered by a scan-only access.
    assert _decide(session, m, door, channel="app", pin=pin).reason == "method_not_allowed"


def test_an_access_from_its_first_moment(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    acc.valid_from = AT + dt.timedelta(seconds=1)
    session.flush()
    assert _decide(session, m, door).reason == "access_not_valid"
    acc.valid_from = AT
    session.flush()
    assert _decide(session, m, door).granted


@pytest.mark.parametrize("first,second", [("app_pin", "app"), ("app", "app_pin")])
def test_the_access_needing_no_pin_wins_in_either_order(session, world, first, second):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], [first], name="First")
    doorkit.access(session, [door], [a.worker_membership], [second], name="Second")
    d = _decide(session, a.worker_membership, door)
    assert (d.granted, d.reason, d.method) == (True, None, "app")


def test_two_pin_accesses_still_need_the_pin(session, world):
    a = world.a
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [a.worker_membership], ["app_pin"], name="One")
    doorkit.access(session, [door], [a.worker_membership], ["app_pin"], name="Two")
    d = _decide(session, a.worker_membership, door)
    assert (d.reason, d.method) == ("pin_required", "app_pin")


def test_a_keycard_outside_its_validity_window(session, setup):
    a, door, acc = setup
    acc.methods = ["keycard"]
    session.flush()
    m = a.worker_membership
    card = ops.add_keycard(session, m, "0A0B0C0D", valid_from=AT + dt.timedelta(seconds=1),
                           valid_to=AT + dt.timedelta(days=1))
    presented = ops.credential_hash(m.customer_id, "keycard", "0A0B0C0D")
    kw = {"channel": "keycard", "position": None, "presented_hash": presented}
    assert _decide(session, m, door, **kw).reason == "credential_not_valid"
    card.valid_from = AT
    session.flush()
    d = _decide(session, m, door, **kw)
    assert (d.granted, d.method) == (True, "keycard")
    card.valid_to = AT
    session.flush()
    assert _decide(session, m, door, **kw).reason == "credential_not_valid"
    # No card presented at all.
    assert _decide(session, m, door, channel="keycard", position=None
                   ).reason == "credential_not_valid"


def test_a_pin_outside_its_validity_window_is_wrong(session, setup):
    a, door, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    m = a.worker_membership
    cred, pin = ops.issue_pin(session, m, valid_to=AT)
    assert _decide(session, m, door, pin=pin).reason == "wrong_pin"
    cred.valid_to = AT + dt.timedelta(seconds=1)
    session.flush()
    assert _decide(session, m, door, pin=pin).granted


def test_another_members_keycard_does_not_open(session, setup, make):
    a, door, acc = setup
    acc.methods = ["keycard"]
    session.flush()
    colleague = make.membership(a.customer, make.account())
    ops.add_keycard(session, colleague, "ABCDEF01")
    presented = ops.credential_hash(a.customer.id, "keycard", "ABCDEF01")
    assert _decide(session, a.worker_membership, door, channel="keycard", position=None,
                   presented_hash=presented).reason == "credential_not_valid"


def test_the_doors_own_radius_and_the_accuracy_credit(session, setup):
    """A door at the site's centre with a 50 m radius of its own: 100 m away is inside the
    site's 200 m but outside the door's; accuracy earns at most 50 m of benefit."""
    a, _, _ = setup
    door = doorkit.door(session, a.site, name="Gate", latitude=SITE[0], longitude=SITE[1],
                        radius_m=50)
    doorkit.access(session, [door], [a.worker_membership], ["app"])
    m = a.worker_membership
    d = _decide(session, m, door, position=north(100))
    assert (d.granted, d.reason, d.distance_m, d.radius_m) == (
        False, "outside_geofence", 100, 50)
    assert _decide(session, m, door, position=north(80, accuracy=40)).granted  # 80 - 40 <= 50
    assert not _decide(session, m, door, position=north(80, accuracy=20)).granted
    assert not _decide(session, m, door, position=north(120, accuracy=900)).granted  # cap 50
    assert _decide(session, m, door, position=north(49)).granted
    # Without a radius of its own the door takes the site's (200 m).
    site_radius = doorkit.door(session, a.site, name="Side", latitude=SITE[0],
                               longitude=SITE[1])
    doorkit.access(session, [site_radius], [m], ["app"])
    assert _decide(session, m, site_radius, position=north(150)).granted
    d = _decide(session, m, site_radius, position=north(260))
    assert (d.reason, d.distance_m, d.radius_m) == ("outside_geofence", 260, 200)


def test_five_wrong_pins_in_fifteen_minutes_lock_the_pin_out(session, setup, make):
    a, door, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)

    def attempt(at, p):  # type: ignore[no-untyped-def]
        return ops.attempt(session, membership=m, door=door, channel="app", pin=p,
                           position=HERE, at=at)[0]

    for i in range(4):
        assert attempt(AT + dt.timedelta(seconds=i), _wrong(pin)).reason == "wrong_pin"
    # Four wrong: the right PIN still opens.
    assert _decide(session, m, door, pin=pin, at=AT + dt.timedelta(seconds=10)).granted
    assert attempt(AT + dt.timedelta(seconds=4), _wrong(pin)).reason == "wrong_pin"
    # The fifth: refused, whatever is typed, until the first wrong one is 15 minutes old.
    assert _decide(session, m, door, pin=pin, at=AT + dt.timedelta(seconds=10)
                   ).reason == "too_many_attempts"
    edge = AT + dt.timedelta(minutes=15)
    assert _decide(session, m, door, pin=pin, at=edge - dt.timedelta(seconds=1)
                   ).reason == "too_many_attempts"
    # At exactly 15 minutes the first one no longer counts: four remain.
    assert _decide(session, m, door, pin=pin, at=edge).granted
    # Another member's wrong PINs are theirs.
    colleague = make.membership(a.customer, make.account())
    doorkit.access(session, [door], [colleague], ["app_pin"], name="Colleague")
    their_pin = doorkit.pin_for(session, colleague, a.site)
    assert _decide(session, colleague, door, pin=their_pin,
                   at=AT + dt.timedelta(seconds=10)).granted


def test_a_keypad_always_asks_for_the_pin(session, setup):
    a, door, acc = setup
    acc.methods = ["pin"]
    session.flush()
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)
    d = _decide(session, m, door, channel="pin", position=None)
    assert (d.reason, d.method) == ("pin_required", "pin")
    d = _decide(session, m, door, channel="pin", position=None, pin=pin)
    assert (d.granted, d.method) == (True, "pin")


def test_wrong_calls_are_programming_errors(session, setup, world):
    a, door, _ = setup
    with pytest.raises(ValueError, match="unknown channel 'fax'"):
        _decide(session, a.worker_membership, door, channel="fax")
    with pytest.raises(ValueError, match="different customers"):
        _decide(session, world.b.worker_membership, door)
    with pytest.raises(AssertionError):
        ops.Decision.refuse("because")


def test_the_credential_hash_is_an_hmac_of_kind_and_value_under_the_customers_key():
    cid = uuid.UUID("11111111-1111-1111-1111-111111111111")
    key = bytes.fromhex(security.keys().keyed_hash("door-credential-key", str(cid)))
    assert credentials.credential_hash_key(cid) == key
    assert ops.credential_hash(cid, "pin", "123456") == hmac.new(
        key, b"pin:123456", hashlib.sha256).hexdigest()
    ctl = uuid.UUID("22222222-2222-2222-2222-222222222222")
    ctl_key = bytes.fromhex(security.keys().keyed_hash("door-controller-list-key", str(ctl)))
    assert credentials.controller_hash_key(ctl) == ctl_key
    assert credentials.controller_credential_hash(ctl, "keycard", "0A0B") == hmac.new(
        ctl_key, b"keycard:0A0B", hashlib.sha256).hexdigest()


def test_keycard_numbers_and_pins_in_their_formats(session, setup, monkeypatch):
    assert ops.normalise_keycard("04:a2-2b 1c") == "04A22B1C"
    a, _, _ = setup
    m = a.worker_membership
    for bad in ("ABC", "0" * 65, "GHIJ"):
        with pytest.raises(ValidationFailed) as err:
            ops.add_keycard(session, m, bad)
        assert err.value.extra["errors"] == {"value": ["A card number: 4 to 64 hex digits."]}
    card = ops.add_keycard(session, m, "f" * 64)
    assert (card.kind, card.membership_id, card.site_id) == ("keycard", m.id, None)
    assert credentials.credential_value(card) == "F" * 64
    with pytest.raises(Conflict) as err:
        ops.add_keycard(session, m, "F" * 64)
    assert err.value.slug == "keycard-taken"
    drawn = []
    monkeypatch.setattr(credentials.secrets, "randbelow",
                        lambda n: drawn.append(n) or 42)
    assert credentials._new_pin() == "000042"
    assert drawn == [1_000_000]


def test_a_pin_is_drawn_again_when_taken_and_gives_up_after_twenty(session, setup, make,
                                                                    monkeypatch):
    a, _, _ = setup
    m = a.worker_membership
    colleague = make.membership(a.customer, make.account())
    doorkit.access(session, [doorkit.door(session, a.site, name="Back")], [colleague],
                   ["app_pin"], name="Colleague")
    draws = iter(["111111", "111111", "222222"])
    monkeypatch.setattr(credentials, "_new_pin", lambda: next(draws))
    _, first = ops.issue_pin(session, colleague)
    _, second = ops.issue_pin(session, m)
    assert (first, second) == ("111111", "222222")
    count = []
    monkeypatch.setattr(credentials, "_new_pin", lambda: count.append(1) or "111111")
    with pytest.raises(Conflict) as err:
        ops.issue_pin(session, m, site_id=a.site.id)
    assert (err.value.slug, len(count)) == ("pin-space-exhausted", 20)


def test_a_new_pin_replaces_the_old_one_at_that_site_only(session, setup, make):
    a, _, _ = setup
    m = a.worker_membership
    other_site = make.site(a.customer, name="Depot")
    old, _ = ops.issue_pin(session, m, site_id=a.site.id)
    elsewhere, _ = ops.issue_pin(session, m, site_id=other_site.id)
    new, _ = ops.issue_pin(session, m, site_id=a.site.id,
                           valid_from=AT, valid_to=AT + dt.timedelta(days=2))
    left = set(session.scalars(select(DoorCredential.id).where(
        DoorCredential.membership_id == m.id)))
    assert left == {elsewhere.id, new.id}
    assert (new.site_id, new.valid_from, new.valid_to) == (
        a.site.id, AT, AT + dt.timedelta(days=2))
    actions = list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_id.in_([str(old.id), str(new.id)])).order_by(AuditEvent.seq)))
    assert actions == ["credential.pin.issue", "credential.pin.revoke",
                       "credential.pin.issue"]


def test_the_pin_site_must_be_named_when_not_one(session, setup, make):
    a, _, _ = setup
    m = a.worker_membership
    depot = make.site(a.customer, name="Depot")
    doorkit.access(session, [doorkit.door(session, depot, name="Depot door")], [m], ["app"],
                   name="Depot")
    with pytest.raises(Unprocessable) as err:
        ops.issue_pin(session, m)
    assert err.value.slug == "pin-site-required"
    lone = make.membership(a.customer, make.account())
    with pytest.raises(Unprocessable) as err:
        ops.issue_pin(session, lone)
    assert err.value.slug == "pin-site-required"


def test_revoking_a_credential_is_audited_with_its_person(session, setup):
    a, _, _ = setup
    m = a.worker_membership
    card = ops.add_keycard(session, m, "CAFE0001")
    card_id = card.id
    credentials.revoke_credential(session, card, by=a.admin_membership)
    assert session.get(DoorCredential, card_id) is None
    ev = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(card_id))
                         .order_by(AuditEvent.seq.desc())).first()
    assert (ev.action, ev.subject_id, ev.object_type) == (
        "credential.keycard.revoke", a.worker.id, "door_credential")
