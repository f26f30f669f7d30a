"""The door decision stays lean: with no lockdown in force and no anti-passback rule it runs
exactly the one indexed lookup it always did (the door-open benchmark's hot path); a lockdown
or an anti-passback rule costs one read by primary key, only while in force."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from entryfy.ops import doors as ops
from models import Lockdown
from tests import doorkit, sqlspy

AT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=dt.UTC)
HERE = ops.Position(59.33, 18.06, 10)


@pytest.fixture
def statements(monkeypatch):  # type: ignore[no-untyped-def]
    """Every statement the decision sends (hot ones included: tests.sqlspy)."""
    return lambda session: sqlspy.statements(monkeypatch, session.get_bind())


@pytest.fixture
def ready(session, world):  # type: ignore[no-untyped-def]
    a = world.a
    door = doorkit.door(session, a.site, name="Gate")
    acc = doorkit.access(session, [door], [a.worker_membership], ["app", "qr"])
    door = ops.door_for_opening(session, door.id)  # as the API loads it: with its site
    m = a.worker_membership
    assert m.active and door.site.timezone  # loaded before counting
    return a, door, acc, m


def _decide(session, m, door, direction=None):  # type: ignore[no-untyped-def]
    return ops.decide(session, membership=m, door=door, channel="scan", at=AT,
                      position=HERE, direction=direction)


def test_nothing_in_force_costs_the_one_lookup(session, ready, statements):
    _a, door, _acc, m = ready
    with statements(session) as seen:
        d = _decide(session, m, door, direction="in")
    assert d.granted
    assert len(seen) == 1 and "access_doors" in seen[0], seen


def test_a_lockdown_costs_one_read_and_refuses_before_the_lookup(session, ready, statements):
    a, door, _acc, m = ready
    ld = Lockdown(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                  mode="lockdown", exempt_roles=[])
    session.add(ld)
    session.flush()
    door.site.lockdown_id = ld.id
    session.flush()
    session.expunge(ld)  # not in the identity map: the decision must read it
    with statements(session) as seen:
        d = _decide(session, m, door)
    assert (d.granted, d.reason) == (False, "lockdown")
    assert len(seen) == 1 and "lockdowns" in seen[0], seen


def test_an_anti_passback_rule_costs_one_read_on_the_way_in_only(session, ready, statements):
    _a, door, acc, m = ready
    acc.anti_passback = "hard"
    session.flush()
    with statements(session) as seen:
        assert _decide(session, m, door, direction="in").granted
    assert len(seen) == 2 and "passback_states" in seen[1], seen
    with statements(session) as seen:
        assert _decide(session, m, door, direction="out").granted
    assert len(seen) == 1, seen
