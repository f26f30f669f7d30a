"""The server and a simulated controller deciding from its signed list must agree: a table of
cases through lockdown, unlock-all, keycard + PIN, anti-passback, access schedules across
midnight and both daylight-saving changes (Europe/Stockholm: 2026-03-29 02:00 -> 03:00,
2026-10-25 03:00 -> 02:00), and door unlock schedules with holidays and first-person-in."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest

from entryfy import clock
from entryfy.ops import doors as ops
from entryfy.ops.doors import lockdowns
from entryfy.ops.doors.decision import granted_passage
from models import Lockdown
from tests import doorkit
from tests.controller_sim import SimController

STHLM = zoneinfo.ZoneInfo("Europe/Stockholm")
CARD = "04A22B1C"


def local(y: int, mo: int, d: int, h: int, mi: int = 0, fold: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=STHLM, fold=fold).astimezone(dt.UTC)


@pytest.fixture
def rig(session, world):  # type: ignore[no-untyped-def]
    a = world.a
    c, _ = ops.create_controller(session, customer_id=a.customer.id, name="Gate reader")
    door = doorkit.door(session, a.site, name="Gate", site_entrance=False, controller_id=c.id)
    acc = doorkit.access(session, [door], [a.worker_membership], ["keycard"])
    ops.add_keycard(session, a.worker_membership, CARD)
    pin = doorkit.pin_for(session, a.worker_membership, a.site)
    session.commit()
    sim = SimController(str(c.id), ops.signing_public_key())
    return a, c, door, acc, pin, sim


def _sync(session, sim, c, at):  # type: ignore[no-untyped-def]
    # The controller fetched its list an hour before the moment judged.
    with clock.frozen_at(at - dt.timedelta(hours=1)):
        sim.accept(lambda nonce: ops.credential_list(session, c, nonce=nonce))
        session.commit()


def _server(session, a, door, at, *, pin=None, direction=None):  # type: ignore[no-untyped-def]
    m = a.worker_membership
    d = ops.decide(session, membership=m, door=door, channel="keycard", at=at, pin=pin,
                   presented_hash=ops.credential_hash(m.customer_id, "keycard", CARD),
                   direction=direction)
    if d.granted:
        granted_passage(session, door, m, direction, at, d.anti_passback)
        session.flush()
    return d


def _both(session, rig, at, **kw):  # type: ignore[no-untyped-def]
    a, _c, door, _acc, _pin, sim = rig
    server = _server(session, a, door, at, **kw)
    offline = sim.decide(str(door.id), "keycard", CARD, at, **kw)
    return (server.granted, server.reason or server.warning), (
        offline.granted, offline.reason or offline.warning)


NIGHT = [{"days": ["sat"], "start": "22:00", "end": "06:00"}]
DAY = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "07:00",
        "end": "17:00"}]

# (schedule, moment, expected (granted, reason)).
SCHEDULE_CASES = [
    (NIGHT, local(2026, 6, 13, 21, 59), (False, "outside_schedule")),
    (NIGHT, local(2026, 6, 13, 22, 0), (True, None)),
    (NIGHT, local(2026, 6, 14, 0, 0), (True, None)),   # Sunday midnight: still Saturday's
    (NIGHT, local(2026, 6, 14, 5, 59), (True, None)),
    (NIGHT, local(2026, 6, 14, 6, 0), (False, "outside_schedule")),
    # Spring forward: the Saturday night window spans a 7-hour night, to 06:00 local.
    (NIGHT, local(2026, 3, 29, 1, 59), (True, None)),
    (NIGHT, local(2026, 3, 29, 3, 0), (True, None)),
    (NIGHT, local(2026, 3, 29, 5, 59), (True, None)),
    (NIGHT, local(2026, 3, 29, 6, 0), (False, "outside_schedule")),
    # Fall back: 02:30 happens twice; both are inside, 06:00 local closes it.
    (NIGHT, local(2026, 10, 25, 2, 30), (True, None)),
    (NIGHT, local(2026, 10, 25, 2, 30, fold=1), (True, None)),
    (NIGHT, local(2026, 10, 25, 6, 0), (False, "outside_schedule")),
    (DAY, local(2026, 3, 29, 6, 59), (False, "outside_schedule")),
    (DAY, local(2026, 3, 29, 7, 0), (True, None)),
    (DAY, local(2026, 10, 25, 7, 0), (True, None)),
    (DAY, local(2026, 10, 25, 17, 0), (False, "outside_schedule")),
]


@pytest.mark.parametrize(("schedule", "at", "expected"), SCHEDULE_CASES)
def test_schedules_across_midnight_and_dst_agree(session, rig, schedule, at, expected):
    _a, c, _door, acc, _pin, sim = rig
    acc.schedule = schedule
    session.commit()
    _sync(session, sim, c, at)
    server, offline = _both(session, rig, at)
    assert server == offline == expected


def test_lockdown_and_unlock_all_agree(session, rig):
    a, c, door, acc, _pin, sim = rig
    at = local(2026, 6, 15, 12)
    with clock.frozen_at(at - dt.timedelta(hours=2)):
        ld = lockdowns.start_lockdown(session, customer_id=a.customer.id, site_id=a.site.id,
                                      mode="lockdown")
        session.commit()
    _sync(session, sim, c, at)
    assert sim.door(str(door.id))["lockdown"] == {"id": str(ld.id), "mode": "lockdown",
                                                  "exempt_roles": []}
    assert _both(session, rig, at) == ((False, "lockdown"), (False, "lockdown"))
    assert sim.unlocked(str(door.id), at) is False
    # Exempt roles pass a lockdown (the worker is a "member").
    ld.exempt_roles = ["member"]
    session.commit()
    _sync(session, sim, c, at)
    assert _both(session, rig, at) == ((True, None), (True, None))
    with clock.frozen_at(at - dt.timedelta(hours=2)):
        lockdowns.end_lockdown(session, ld)
        ld2 = lockdowns.start_lockdown(session, customer_id=a.customer.id, mode="unlock_all")
        session.commit()
    # An evacuation overrides the access's schedule: the door is open for everyone.
    acc.schedule = [{"days": ["sat"], "start": "10:00", "end": "11:00"}]
    session.commit()
    _sync(session, sim, c, at)
    assert _both(session, rig, at) == ((True, None), (True, None))
    assert sim.unlocked(str(door.id), at) is True
    assert session.get(Lockdown, ld2.id).site_id is None


def test_keycard_with_pin_agrees(session, rig):
    _a, c, _door, acc, pin, sim = rig
    acc.methods = ["keycard_pin"]
    session.commit()
    at = local(2026, 6, 15, 12)
    _sync(session, sim, c, at)
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    assert _both(session, rig, at) == ((False, "pin_required"), (False, "pin_required"))
    assert _both(session, rig, at, pin=wrong) == ((False, "wrong_pin"), (False, "wrong_pin"))
    assert _both(session, rig, at, pin=pin) == ((True, None), (True, None))


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_anti_passback_agrees_and_resets_at_local_midnight(session, rig, mode):
    _a, c, _door, acc, _pin, sim = rig
    acc.anti_passback = mode
    session.commit()
    evening = local(2026, 3, 28, 23, 0)  # the night the clocks spring forward
    _sync(session, sim, c, evening)
    refused = (False, "anti_passback") if mode == "hard" else (True, "anti_passback")
    assert _both(session, rig, evening, direction="in") == ((True, None), (True, None))
    later = evening + dt.timedelta(minutes=30)
    assert _both(session, rig, later, direction="in") == (refused, refused)
    out = later + dt.timedelta(minutes=1)
    assert _both(session, rig, out, direction="out") == ((True, None), (True, None))
    back = out + dt.timedelta(minutes=1)
    assert _both(session, rig, back, direction="in") == ((True, None), (True, None))
    # Not out again, but past the site's local midnight: the nightly reset lets them in.
    after_midnight = local(2026, 3, 29, 0, 1)
    assert _both(session, rig, after_midnight, direction="in") == ((True, None), (True, None))


def test_anti_passback_spares_exempt_roles(session, rig):
    _a, c, _door, acc, _pin, sim = rig
    acc.anti_passback, acc.anti_passback_exempt_roles = "hard", ["member"]
    session.commit()
    at = local(2026, 6, 15, 12)
    _sync(session, sim, c, at)
    for i in range(2):
        assert _both(session, rig, at + dt.timedelta(minutes=i), direction="in") == (
            (True, None), (True, None))


def test_unlock_schedule_with_holidays_and_first_person_in(session, rig):
    _a, c, door, _acc, _pin, sim = rig
    ops.update_door(session, door, {
        "unlock_schedule": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00",
                             "end": "17:00"}],
        "holidays": ["2026-12-24"], "first_person_in": True})
    session.commit()
    from entryfy.ops.doors.unlock_schedules import unlocked_now

    monday = local(2026, 12, 21, 9)
    _sync(session, sim, c, monday)
    # Inside the window, but no one has come in yet: locked, on both sides.
    assert unlocked_now(door, monday) is False and sim.unlocked(str(door.id), monday) is False
    assert _both(session, rig, monday) == ((True, None), (True, None))
    later = monday + dt.timedelta(minutes=5)
    assert unlocked_now(door, later) is True and sim.unlocked(str(door.id), later) is True
    # Closing time, a holiday, and the next morning before anyone came: locked.
    for at in (local(2026, 12, 21, 17), local(2026, 12, 24, 10), local(2026, 12, 22, 9)):
        assert unlocked_now(door, at) is False and sim.unlocked(str(door.id), at) is False


def test_a_list_past_its_trust_period_refuses_offline(session, rig):
    a, c, door, _acc, _pin, sim = rig
    a.customer.door_list_trust_days = 2
    session.commit()
    at = local(2026, 6, 15, 12)
    _sync(session, sim, c, at)
    assert sim.payload["offline"] == {"trust_days": 2}
    inside = at + dt.timedelta(days=1, hours=22)
    assert sim.decide(str(door.id), "keycard", CARD, inside).granted
    expired = at - dt.timedelta(hours=1) + dt.timedelta(days=2)
    d = sim.decide(str(door.id), "keycard", CARD, expired)
    assert (d.granted, d.reason) == (False, "list_expired")
    assert session.get(type(c), uuid.UUID(sim.controller_id)).last_list_at is not None
