"""What a stolen door controller gives up (docs/DOORS.md, threat model).

The attack that worked before: take one controller's signed list, brute-force the 10^6 PINs
against its hashes with the key it carries, and use the PINs at every keypad of the
customer. Here it still recovers the PINs of that controller's own site (expected: they open
its own doors), and nothing it recovers opens a door at another site or controller, online
or offline. Also: the keypad lockout, the events reporting it, and the online decision and
the offline list deciding alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.ops import doors as ops
from entryfy.ops import keypad
from models import Access, AccessEvent, DoorCredential
from tests import doorkit

AT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)  # a Monday, 12:00 in Stockholm


@pytest.fixture
def estate(app, session, world, make):
    """Customer A: site 1 with controller X (door D1), site 2 with controller Y (door D2).
    The worker may use a PIN at both sites (a PIN each) and a keycard at both; a colleague
    has a PIN at site 1 only."""
    a = world.a
    site2 = make.site(a.customer, name="Harbour depot")
    x, _ = ops.create_controller(session, customer_id=a.customer.id, name="X")
    y, _ = ops.create_controller(session, customer_id=a.customer.id, name="Y")
    d1 = doorkit.door(session, a.site, name="D1", controller_id=x.id)
    d2 = doorkit.door(session, site2, name="D2", controller_id=y.id)
    colleague = make.membership(a.customer, make.account())
    doorkit.access(session, [d1], [a.worker_membership, colleague], ["pin", "keycard"])
    doorkit.access(session, [d2], [a.worker_membership], ["pin", "keycard", "app_pin"])
    ops.add_keycard(session, a.worker_membership, "04A22B1C")
    pins = {
        "worker@1": doorkit.pin_for(session, a.worker_membership, a.site),
        "worker@2": doorkit.pin_for(session, a.worker_membership, site2),
        "colleague@1": doorkit.pin_for(session, colleague, a.site),
    }
    session.commit()
    return a, x, y, d1, d2, pins


def _list(session, controller) -> dict:
    n = secrets.token_urlsafe(16)
    with clock.frozen_at(AT):
        doc = ops.credential_list(session, controller, nonce=n)
    return ops.verify_credential_list(doc, ops.signing_public_key(),
                                      controller_id=str(controller.id), nonce=n)


def _brute_force(payload: dict) -> dict[str, str]:
    """What a thief does with a list: hash every 6-digit PIN with the list's key."""
    targets = {c["hash"] for c in payload["credentials"] if c["kind"] == "pin"}
    base = hmac.new(bytes.fromhex(payload["hash"]["key"]), digestmod=hashlib.sha256)
    found = {}
    for i in range(10 ** ops.PIN_DIGITS):
        h = base.copy()
        h.update(b"pin:%06d" % i)
        digest = h.hexdigest()
        if digest in targets:
            found[digest] = f"{i:06d}"
    return found


def test_a_stolen_list_yields_only_pins_of_its_own_site(session, estate):
    a, x, y, d1, d2, pins = estate
    stolen = _list(session, x)
    recovered = set(_brute_force(stolen).values())
    # The attack still works on the list's own PINs: those of site 1, X's doors...
    assert recovered == {pins["worker@1"], pins["colleague@1"]}
    assert pins["worker@2"] not in recovered  # ...and never a PIN of another site.
    for pin in recovered:
        assert keypad.decide_offline(stolen, door_id=str(d1.id), kind="pin", value=pin,
                                     at=AT).granted
    # Nothing recovered opens D2 (site 2, controller Y): not offline at Y...
    at_y = _list(session, y)
    for pin in recovered:
        assert keypad.decide_offline(at_y, door_id=str(d2.id), kind="pin", value=pin,
                                     at=AT).reason == "wrong_pin"
        # ...nor online, at Y's keypad or from the app, even as the worker who holds it.
        for channel in ("pin", "app"):
            d = ops.decide(session, membership=a.worker_membership, door=d2, channel=channel,
                           at=AT, pin=pin, position=ops.Position(59.33, 18.06, 10))
            assert (d.granted, d.reason) == (False, "wrong_pin"), channel
    # The worker's own site-2 PIN does open D2: the refusals above are about the PIN.
    assert keypad.decide_offline(at_y, door_id=str(d2.id), kind="pin",
                                 value=pins["worker@2"], at=AT).granted
    assert ops.decide(session, membership=a.worker_membership, door=d2, channel="pin",
                      at=AT, pin=pins["worker@2"]).granted


def test_a_lists_hashes_and_key_are_its_own(session, estate):
    a, x, y, *_ = estate
    lx, ly = _list(session, x), _list(session, y)
    assert lx["hash"]["key"] != ly["hash"]["key"]
    # The same keycard is on both lists, under different hashes.
    (cx,) = [c for c in lx["credentials"] if c["kind"] == "keycard"]
    (cy,) = [c for c in ly["credentials"] if c["kind"] == "keycard"]
    assert cx["hash"] != cy["hash"]
    # Neither the server's key nor the hashes it stores ever leave it.
    stored = set(session.scalars(select(DoorCredential.value_hash)))
    text = json.dumps(lx) + json.dumps(ly)
    assert ops.credential_hash_key(a.customer.id).hex() not in text
    assert not any(h in text for h in stored)
    # Nor does a list name a PIN of another site: Y's list holds one PIN, the worker's own.
    assert [c["kind"] for c in ly["credentials"]].count("pin") == 1


def test_keypad_locks_after_wrong_pins_and_controllers_report_it(client, session, estate):
    _a, x, _y, d1, _d2, pins = estate
    payload = _list(session, x)
    assert payload["lockout"] == {"wrong_pin_limit": 5, "window_seconds": 900}
    pads = keypad.Keypads.from_list(payload)
    good = pins["worker@1"]
    wrong = next(f"{i:06d}" for i in range(10 ** 6) if f"{i:06d}" not in pins.values())
    events = []
    for i in range(5):
        t = AT + dt.timedelta(seconds=i)
        d = keypad.decide_offline(payload, door_id=str(d1.id), kind="pin", value=wrong,
                                  at=t, keypads=pads)
        assert d.reason == "wrong_pin"
        events.append((t, d))
    # Locked: even the right PIN is refused until the window has passed.
    t = AT + dt.timedelta(minutes=1)
    locked = keypad.decide_offline(payload, door_id=str(d1.id), kind="pin", value=good, at=t,
                                   keypads=pads)
    assert locked.reason == "too_many_attempts"
    events.append((t, locked))
    later = AT + dt.timedelta(minutes=16)
    assert keypad.decide_offline(payload, door_id=str(d1.id), kind="pin", value=good,
                                 at=later, keypads=pads).granted
    # The controller reports each refusal; the access log keeps them with their reason.
    with clock.frozen_at(AT + dt.timedelta(minutes=20)):
        result = ops.record_controller_events(session, x, [
            {"event_id": uuid.uuid4(), "door_id": d1.id, "occurred_at": t, "method": "pin",
             "outcome": "denied", "reason": d.reason, "direction": None,
             "credential_hash": None}
            for t, d in events])
    assert (result.recorded, result.duplicates) == (6, 0)
    reasons = sorted(session.scalars(select(AccessEvent.reason).where(
        AccessEvent.controller_id == x.id)))
    assert reasons == ["too_many_attempts"] + ["wrong_pin"] * 5


def test_a_reported_hash_is_the_controllers_own(session, estate):
    a, x, y, d1, _d2, _pins = estate
    mine = ops.controller_credential_hash(x.id, "keycard", "04A22B1C")
    theirs = ops.controller_credential_hash(y.id, "keycard", "04A22B1C")
    with clock.frozen_at(AT):
        ops.record_controller_events(session, x, [
            {"event_id": uuid.uuid4(), "door_id": d1.id, "occurred_at": AT,
             "method": "keycard", "outcome": "granted", "reason": None, "direction": None,
             "credential_hash": h} for h in (mine, theirs)])
    rows = session.scalars(select(AccessEvent.membership_id).where(
        AccessEvent.controller_id == x.id)).all()
    # X's hash names the worker; Y's hash means nothing to X.
    assert sorted(rows, key=str) == sorted([a.worker_membership.id, None], key=str)


@pytest.mark.parametrize("case", ["own", "wrong", "other_site", "night",
                                  "expired", "keycard", "unknown_card"])
def test_online_and_offline_decide_alike(session, estate, case):
    a, x, _y, d1, _d2, pins = estate
    at = AT
    kind, value = "pin", pins["worker@1"]
    if case == "wrong":
        value = f"{(int(value) + 1) % 10 ** 6:06d}"
        if value in pins.values():
            value = f"{(int(value) + 1) % 10 ** 6:06d}"
    elif case == "other_site":
        value = pins["worker@2"]
    elif case == "night":
        for acc in session.scalars(select(Access).where(Access.site_id == a.site.id)):
            acc.schedule = [{"days": ["mon"], "start": "07:00", "end": "09:00"}]
        session.commit()
    elif case == "expired":
        cred = session.scalar(select(DoorCredential).where(
            DoorCredential.membership_id == a.worker_membership.id,
            DoorCredential.kind == "pin", DoorCredential.site_id == a.site.id))
        cred.valid_to = AT - dt.timedelta(hours=1)
        session.commit()
    elif case == "keycard":
        kind, value = "keycard", "04A22B1C"
    elif case == "unknown_card":
        kind, value = "keycard", "FFFF0000"
    payload = _list(session, x)
    offline = keypad.decide_offline(payload, door_id=str(d1.id), kind=kind, value=value, at=at)
    presented = ops.credential_hash(a.customer.id, kind, value) if kind == "keycard" else None
    online = ops.decide(session, membership=a.worker_membership, door=d1, channel=kind, at=at,
                        pin=value if kind == "pin" else None, presented_hash=presented)
    assert offline.granted == online.granted, (offline, online)
    assert offline.reason == online.reason, (offline, online)
    expected = {"own": True, "keycard": True}.get(case, False)
    assert online.granted is expected
