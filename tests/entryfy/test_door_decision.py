"""The door decision (entryfy.ops.doors.decide), without HTTP: every reason to refuse, alone
and in combination (the first one is named), schedules across midnight and the
daylight-saving changes, guests at the edges of their window, credential hashing."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from sqlalchemy import select

from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import doors as ops
from models import AccessEvent, DoorCredential, Lockdown, PassbackState, UnlockCommand
from tests import doorkit

UTC = dt.UTC
AT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Stockholm
HERE = ops.Position(59.33, 18.06, 10)
FAR = ops.Position(59.40, 18.06, 10)
STOCKHOLM = "Europe/Stockholm"


@pytest.fixture
def setup(app, session, world):
    a = world.a
    door = doorkit.door(session, a.site)
    other = doorkit.door(session, a.site, name="Store room")  # nobody has access
    acc = doorkit.access(session, [door], [a.worker_membership], ["app"])
    return a, door, other, acc


def _decide(session, membership, door, channel="app", **kw):
    kw.setdefault("at", AT)
    kw.setdefault("position", HERE)
    return ops.decide(session, membership=membership, door=door, channel=channel, **kw)


def test_granted_when_everything_holds(session, setup):
    a, door, _, _ = setup
    d = _decide(session, a.worker_membership, door)
    assert (d.granted, d.reason, d.method) == (True, None, "app")


# The conditions, in the order the decision checks them, and how each is made false.
ORDER = ["membership_inactive", "lockdown", "no_access", "access_not_valid",
         "outside_schedule", "method_not_allowed", "wrong_pin", "outside_geofence",
         "anti_passback"]


def test_each_reason_alone_and_in_every_combination_names_the_first(session, setup):
    """All 2^9 = 512 combinations of the nine conditions: the first false one is named."""
    a, door, other, acc = setup
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    lockdown = Lockdown(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                        mode="lockdown", exempt_roles=[])
    session.add(lockdown)
    # The worker came in an hour ago (same local day) and has not left.
    session.add(PassbackState(customer_id=a.customer.id, membership_id=m.id,
                              site_id=a.site.id, entered_at=AT - dt.timedelta(hours=1)))
    session.flush()
    seen = set()
    for r in range(len(ORDER) + 1):
        for combo in itertools.combinations(ORDER, r):
            flags = set(combo)
            m.active = "membership_inactive" not in flags
            a.site.lockdown_id = lockdown.id if "lockdown" in flags else None
            acc.valid_to = AT - dt.timedelta(hours=1) if "access_not_valid" in flags else None
            acc.valid_from = AT - dt.timedelta(days=1) if "access_not_valid" in flags else None
            acc.schedule = ([{"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]
                            if "outside_schedule" in flags else None)
            acc.methods = ["keycard"] if "method_not_allowed" in flags else ["app_pin"]
            acc.anti_passback = "hard" if "anti_passback" in flags else "off"
            session.flush()
            d = _decide(session, m, other if "no_access" in flags else door,
                        pin=wrong if "wrong_pin" in flags else pin,
                        position=FAR if "outside_geofence" in flags else HERE,
                        direction="in")
            expected = next((x for x in ORDER if x in flags), None)
            assert (d.granted, d.reason) == (expected is None, expected), combo
            seen.add(d.reason)
    assert seen == {*ORDER, None}
    # The order the table holds is the order the decision documents (REASONS).
    assert [r for r in ops.REASONS if r in ORDER] == ORDER


def test_membership_dates(session, setup):
    a, door, _, _ = setup
    m = a.worker_membership
    m.valid_from = AT + dt.timedelta(minutes=1)
    session.flush()
    assert _decide(session, m, door).reason == "membership_not_yet_valid"
    m.valid_from, m.valid_to = None, AT
    session.flush()
    assert _decide(session, m, door).reason == "membership_expired"
    m.valid_to = AT + dt.timedelta(seconds=1)
    session.flush()
    assert _decide(session, m, door).granted


def test_an_expired_access_opens_nothing_whatever_else_says_yes(session, setup):
    a, door, _, acc = setup
    # A second access, permanent but for another door, does not rescue the expired one.
    acc.valid_to = AT
    session.flush()
    doorkit.access(session, [doorkit.door(session, a.site, name="Gate")],
                   [a.worker_membership], ["app"])
    assert _decide(session, a.worker_membership, door).reason == "access_not_valid"


def test_furthest_access_names_the_reason_and_any_covering_access_grants(session, setup):
    a, door, _, acc = setup
    acc.valid_to = AT - dt.timedelta(days=1)
    acc.valid_from = AT - dt.timedelta(days=2)
    session.flush()
    doorkit.access(session, [door], [a.worker_membership], ["keycard"], name="Cards")
    # One access is expired, the other current but for cards: the furthest stage wins.
    assert _decide(session, a.worker_membership, door).reason == "method_not_allowed"
    doorkit.access(session, [door], [a.worker_membership], ["app"], name="Phones")
    assert _decide(session, a.worker_membership, door).granted


def test_pin_required_wrong_and_right(session, setup):
    a, door, _, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)
    assert _decide(session, m, door).reason == "pin_required"
    assert _decide(session, m, door, pin="000000" if pin != "000000" else "111111"
                   ).reason == "wrong_pin"
    d = _decide(session, m, door, pin=pin)
    assert (d.granted, d.method) == (True, "app_pin")


def test_no_pin_asked_when_another_access_allows_plain_app(session, setup):
    a, door, _, _ = setup
    doorkit.access(session, [door], [a.worker_membership], ["app_pin"], name="PIN")
    d = _decide(session, a.worker_membership, door)
    assert (d.granted, d.method) == (True, "app")


def test_another_persons_pin_is_wrong(session, setup, make):
    a, door, _, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    colleague = make.membership(a.customer, make.account())
    their_pin = doorkit.pin_for(session, colleague, a.site)
    doorkit.pin_for(session, a.worker_membership)
    assert _decide(session, a.worker_membership, door, pin=their_pin).reason == "wrong_pin"


def test_wrong_pins_are_throttled(session, setup):
    a, door, _, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    m = a.worker_membership
    pin = doorkit.pin_for(session, m)
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    for i in range(5):  # the limit: 5 wrong PINs within 15 minutes
        _, ev = ops.attempt(session, membership=m, door=door, channel="app", pin=wrong,
                            position=HERE, at=AT + dt.timedelta(seconds=i))
        assert ev.reason == "wrong_pin"
    later = AT + dt.timedelta(minutes=1)
    assert _decide(session, m, door, pin=pin, at=later).reason == "too_many_attempts"
    # The window passes: the right PIN works again.
    assert _decide(session, m, door, pin=pin, at=AT + dt.timedelta(minutes=16)).granted


def test_geofence_uses_the_doors_own_position_and_radius(session, setup):
    a, _, _, _ = setup
    far_door = doorkit.door(session, a.site, name="Annex", latitude=59.40, longitude=18.06,
                            radius_m=50)
    doorkit.access(session, [far_door], [a.worker_membership], ["app"])
    assert _decide(session, a.worker_membership, far_door, position=FAR).granted
    assert _decide(session, a.worker_membership, far_door,
                   position=HERE).reason == "outside_geofence"
    assert _decide(session, a.worker_membership, far_door,
                   position=None).reason == "position_required"


def test_keycard_channel_checks_the_presented_card(session, setup):
    a, door, _, acc = setup
    acc.methods = ["keycard"]
    session.flush()
    m = a.worker_membership
    ops.add_keycard(session, m, "04:a2:2b:1c")
    session.commit()
    good = ops.credential_hash(m.customer_id, "keycard", "04A22B1C")
    bad = ops.credential_hash(m.customer_id, "keycard", "FFFF0000")
    assert _decide(session, m, door, channel="keycard", position=None,
                   presented_hash=good).granted
    assert _decide(session, m, door, channel="keycard", position=None,
                   presented_hash=bad).reason == "credential_not_valid"


def test_credentials_are_stored_only_as_keyed_hashes(session, setup):
    a, _, _, _ = setup
    pin = doorkit.pin_for(session, a.worker_membership)
    stored = session.scalars(select(DoorCredential.value_hash)).all()
    assert stored and all(len(h) == 64 and pin not in h for h in stored)
    assert ops.credential_hash(a.customer.id, "pin", pin) in stored
    # Another customer's key gives another hash: lists cannot be matched across customers.
    assert ops.credential_hash(uuid.uuid4(), "pin", pin) not in stored


def test_a_keycard_cannot_be_enrolled_twice(session, setup, make):
    a, _, _, _ = setup
    ops.add_keycard(session, a.worker_membership, "DEADBEEF")
    session.commit()
    other = make.membership(a.customer, make.account())
    with pytest.raises(Conflict) as exc:
        ops.add_keycard(session, other, "de:ad:be:ef")
    assert exc.value.slug == "keycard-taken"
    with pytest.raises(ValidationFailed):
        ops.add_keycard(session, other, "not a card")


# ------------------------------------------------------------------------------ schedules

WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]


def _t(y, mo, d, h, mi):
    return dt.datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize("at,inside", [
    (_t(2026, 1, 12, 6, 0), True),    # Monday 07:00 CET
    (_t(2026, 1, 12, 5, 59), False),  # 06:59 CET
    (_t(2026, 6, 15, 5, 0), True),    # Monday 07:00 CEST: the same wall-clock time in summer
    (_t(2026, 6, 15, 4, 59), False),
    (_t(2026, 6, 15, 14, 59), True),  # 16:59 CEST
    (_t(2026, 6, 15, 15, 0), False),  # 17:00 CEST: end is exclusive
    (_t(2026, 6, 13, 10, 0), False),  # Saturday
])
def test_day_window_on_the_local_wall_clock(at, inside):
    sched = ops.validate_schedule([{"days": WEEKDAYS, "start": "07:00", "end": "17:00"}])
    assert ops.in_schedule(sched, at, STOCKHOLM) is inside


@pytest.mark.parametrize("at,inside", [
    (_t(2026, 1, 16, 21, 0), True),   # Friday 22:00 CET: opens
    (_t(2026, 1, 16, 20, 59), False),
    (_t(2026, 1, 17, 4, 59), True),   # Saturday 05:59 CET: still Friday's night
    (_t(2026, 1, 17, 5, 0), False),   # Saturday 06:00 CET: closed
    (_t(2026, 1, 16, 3, 0), False),   # Friday 04:00: Thursday night is not in the schedule
    (_t(2026, 1, 17, 21, 30), False),  # Saturday 22:30: Saturday is not listed
])
def test_window_across_midnight(at, inside):
    sched = ops.validate_schedule([{"days": ["fri"], "start": "22:00", "end": "06:00"}])
    assert ops.in_schedule(sched, at, STOCKHOLM) is inside


@pytest.mark.parametrize("at,inside", [
    # Spring forward, Sunday 29 March 2026: 02:00 CET becomes 03:00 CEST.
    (_t(2026, 3, 29, 3, 59), True),   # 05:59 CEST
    (_t(2026, 3, 29, 4, 0), False),   # 06:00 CEST (a fixed UTC+1 would wrongly say 05:00)
    (_t(2026, 3, 29, 0, 59), True),   # 01:59 CET, before the change
    (_t(2026, 3, 29, 1, 0), True),    # 03:00 CEST, just after it
    # Fall back, Sunday 25 October 2026: 03:00 CEST becomes 02:00 CET.
    (_t(2026, 10, 25, 4, 59), True),  # 05:59 CET
    (_t(2026, 10, 25, 5, 0), False),  # 06:00 CET (a fixed UTC+2 would wrongly say 07:00)
    (_t(2026, 10, 25, 0, 30), True),  # 02:30 CEST, the first of the two 02:30s
    (_t(2026, 10, 25, 1, 30), True),  # 02:30 CET, the second
])
def test_night_window_over_the_daylight_saving_changes(at, inside):
    sched = ops.validate_schedule([{"days": ["sat"], "start": "22:00", "end": "06:00"}])
    assert ops.in_schedule(sched, at, STOCKHOLM) is inside


def test_schedule_through_the_decision_uses_the_sites_time_zone(session, setup):
    a, door, _, acc = setup
    acc.schedule = [{"days": ["mon"], "start": "07:00", "end": "08:00"}]
    session.flush()
    at = _t(2026, 6, 15, 5, 30)  # 07:30 in Stockholm, 06:30 in London
    assert _decide(session, a.worker_membership, door, at=at).granted
    a.site.timezone = "Europe/London"
    session.flush()
    assert _decide(session, a.worker_membership, door, at=at).reason == "outside_schedule"


@pytest.mark.parametrize("bad", [
    [], "always", [{"days": ["mon"], "start": "7:00", "end": "17:00"}],
    [{"days": ["monday"], "start": "07:00", "end": "17:00"}],
    [{"days": ["mon", "mon"], "start": "07:00", "end": "17:00"}],
    [{"days": ["mon"], "start": "07:00", "end": "07:00"}],
    [{"days": ["mon"], "start": "24:00", "end": "07:00"}],
    [{"days": ["mon"], "start": "07:00", "end": "25:00"}],
    [{"days": ["mon"], "start": "07:00", "end": "17:00", "extra": 1}],
    [{"days": [], "start": "07:00", "end": "17:00"}],
])
def test_bad_schedules_are_refused(bad):
    with pytest.raises(ValidationFailed):
        ops.validate_schedule(bad)


# ------------------------------------------------------------------------------ guests

def test_guest_the_minute_before_and_after_their_window(app, session, world):
    a = world.a
    door = doorkit.door(session, a.site)
    start, end = _t(2026, 6, 15, 8, 0), _t(2026, 6, 15, 16, 0)
    from entryfy import clock

    before = doorkit.mail_ids()
    with clock.frozen_at(start - dt.timedelta(days=1)):
        inv = ops.invite_guest(session, customer_id=a.customer.id, email="Visitor@Example.test",
                               valid_from=start, valid_to=end, door_ids=[door.id],
                               first_name="Vera")
        session.commit()
    guest = inv.membership
    assert guest.role == "guest" and guest.account_id is None
    pin, qr = doorkit.guest_codes("visitor@example.test", exclude=before)
    qr_hash = ops.credential_hash(a.customer.id, "qr", qr)
    minute = dt.timedelta(minutes=1)

    def pin_at(at):
        return ops.decide(session, membership=guest, door=door, channel="pin", at=at, pin=pin)

    assert pin_at(start - minute).reason == "membership_not_yet_valid"
    assert pin_at(start + minute).granted
    assert pin_at(end - minute).granted
    assert pin_at(end + minute).reason == "membership_expired"
    assert ops.decide(session, membership=guest, door=door, channel="qr", at=start + minute,
                      presented_hash=qr_hash).granted
    # A guest has no app: opening from the phone is not one of their methods.
    assert ops.decide(session, membership=guest, door=door, channel="app", at=start + minute,
                      position=HERE).reason == "method_not_allowed"
    # Neither code is stored in clear.
    hashes = session.scalars(select(DoorCredential.value_hash).where(
        DoorCredential.membership_id == guest.id)).all()
    assert len(hashes) == 2 and pin not in "".join(hashes) and qr not in "".join(hashes)


def test_reinviting_a_guest_renews_and_old_codes_stop(app, session, world):
    a = world.a
    door = doorkit.door(session, a.site)
    from entryfy import clock

    start, end = _t(2026, 6, 15, 8, 0), _t(2026, 6, 15, 16, 0)
    first = doorkit.mail_ids()
    with clock.frozen_at(start):
        ops.invite_guest(session, customer_id=a.customer.id, email="v@example.test",
                         valid_from=start, valid_to=end, door_ids=[door.id])
        session.commit()
        before = doorkit.mail_ids()
        old_pin, _ = doorkit.guest_codes("v@example.test", exclude=first)
        inv = ops.invite_guest(session, customer_id=a.customer.id, email="v@example.test",
                               valid_from=start, valid_to=end + dt.timedelta(days=1),
                               door_ids=[door.id])
        session.commit()
    new_pin, _ = doorkit.guest_codes("v@example.test", exclude=before)
    at = start + dt.timedelta(hours=1)
    d_new = ops.decide(session, membership=inv.membership, door=door, channel="pin", at=at,
                       pin=new_pin)
    assert d_new.granted
    if old_pin != new_pin:
        assert ops.decide(session, membership=inv.membership, door=door, channel="pin", at=at,
                          pin=old_pin).reason == "wrong_pin"


def test_guest_rules(app, session, world):
    a, b = world.a, world.b
    door = doorkit.door(session, a.site)
    b_door = doorkit.door(session, b.site)
    from entryfy import clock

    now = _t(2026, 6, 15, 8, 0)
    with clock.frozen_at(now):
        with pytest.raises(Unprocessable):  # already over
            ops.invite_guest(session, customer_id=a.customer.id, email="g@example.test",
                             valid_from=now - dt.timedelta(hours=2),
                             valid_to=now - dt.timedelta(hours=1), door_ids=[door.id])
        with pytest.raises(Unprocessable):  # not short-term
            ops.invite_guest(session, customer_id=a.customer.id, email="g@example.test",
                             valid_from=now, valid_to=now + dt.timedelta(days=200),
                             door_ids=[door.id])
        with pytest.raises(NotFound):  # another customer's door
            ops.invite_guest(session, customer_id=a.customer.id, email="g@example.test",
                             valid_from=now, valid_to=now + dt.timedelta(hours=2),
                             door_ids=[b_door.id])
        with pytest.raises(Conflict) as exc:  # already a member
            ops.invite_guest(session, customer_id=a.customer.id, email=a.worker.email,
                             valid_from=now, valid_to=now + dt.timedelta(hours=2),
                             door_ids=[door.id])
        assert exc.value.slug == "already-member"


# ------------------------------------------------------------------------------ recording

def test_attempt_records_every_try_and_commands_only_granted_controller_doors(session, setup):
    a, door, other, _ = setup
    ctl, _ = ops.create_controller(session, customer_id=a.customer.id, name="Reader 1")
    door.controller_id = ctl.id
    other.controller_id = ctl.id
    session.flush()
    m = a.worker_membership
    ok, ev1 = ops.attempt(session, membership=m, door=door, channel="app", position=HERE)
    no, ev2 = ops.attempt(session, membership=m, door=other, channel="app", position=HERE)
    assert ok.granted and not no.granted
    events = session.scalars(select(AccessEvent).order_by(AccessEvent.occurred_at)).all()
    assert {(e.id, e.outcome, e.reason) for e in events} == {
        (ev1.id, "granted", None), (ev2.id, "denied", "no_access")}
    cmds = session.scalars(select(UnlockCommand)).all()
    assert [(c.door_id, c.event_id) for c in cmds] == [(door.id, ev1.id)]


def test_access_rules(session, world, make):
    a, b = world.a, world.b
    d1 = doorkit.door(session, a.site)
    d2 = doorkit.door(session, make.site(a.customer))
    with pytest.raises(Unprocessable):
        ops.create_access(session, customer_id=a.customer.id, name="x", door_ids=[d1.id, d2.id],
                          member_ids=[], methods=["app"])
    with pytest.raises(NotFound):
        ops.create_access(session, customer_id=a.customer.id, name="x", door_ids=[d1.id],
                          member_ids=[b.worker_membership.id], methods=["app"])
    with pytest.raises(ValidationFailed):
        ops.create_access(session, customer_id=a.customer.id, name="x", door_ids=[d1.id],
                          member_ids=[], methods=["telepathy"])
    with pytest.raises(ValidationFailed):
        ops.create_access(session, customer_id=a.customer.id, name="x", door_ids=[d1.id],
                          member_ids=[], methods=["app"], valid_from=AT, valid_to=AT)


def test_the_database_refuses_links_across_customers(session, world):
    """Composite (customer_id, id) keys: even code that skipped the scoped loading cannot
    put customer B's door or member into customer A's access."""
    from sqlalchemy.exc import IntegrityError

    from models import AccessDoor, AccessMember

    a, b = world.a, world.b
    a_door = doorkit.door(session, a.site)
    b_door = doorkit.door(session, b.site)
    acc = doorkit.access(session, [a_door], [a.worker_membership], ["app"])
    for row in (AccessDoor(customer_id=a.customer.id, access_id=acc.id, door_id=b_door.id),
                AccessMember(customer_id=a.customer.id, access_id=acc.id,
                             membership_id=b.worker_membership.id)):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.add(row)
            session.flush()
