"""Membership owns the "current" rule: active, and the moment inside [valid_from, valid_to).
The Python side (standing_at / is_current_at) and the SQL side (Membership.current, as the
check-in's Core statement uses it with a bind parameter) must agree on every combination,
boundaries included."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from sqlalchemy import ColumnElement, bindparam, select

from entryfy import clock
from entryfy.ops.doors import membership_refusal
from models import Membership

AT = dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)  # the night clocks go forward in Europe
HOUR = dt.timedelta(hours=1)


def _m(active: bool = True, valid_from: dt.datetime | None = None,
       valid_to: dt.datetime | None = None) -> Membership:
    return Membership(active=active, valid_from=valid_from, valid_to=valid_to)


def test_standing_names_why_a_membership_is_not_current():
    assert _m().standing_at(AT) is None
    assert _m(active=False).standing_at(AT) == "inactive"
    # Inactive is named before the dates, as the door decision checks them.
    assert _m(active=False, valid_to=AT - HOUR).standing_at(AT) == "inactive"
    assert _m(valid_from=AT + HOUR).standing_at(AT) == "not_yet_valid"
    assert _m(valid_to=AT - HOUR).standing_at(AT) == "expired"


def test_the_window_includes_its_start_and_excludes_its_end():
    assert _m(valid_from=AT).is_current_at(AT)
    assert not _m(valid_to=AT).is_current_at(AT)
    assert _m(valid_to=AT).standing_at(AT) == "expired"
    assert _m(valid_from=AT - HOUR, valid_to=AT + HOUR).is_current_at(AT)


def test_upcoming_counts_for_the_controllers_list_but_ended_does_not():
    assert _m(valid_from=AT + HOUR).is_current_or_upcoming_at(AT)
    assert not _m(valid_from=AT + HOUR).is_current_at(AT)
    assert not _m(valid_to=AT).is_current_or_upcoming_at(AT)
    assert not _m(active=False, valid_from=AT + HOUR).is_current_or_upcoming_at(AT)


def test_is_current_reads_the_clock():
    m = _m(valid_from=AT, valid_to=AT + HOUR)
    with clock.frozen_at(AT - dt.timedelta(seconds=1)):
        assert not m.is_current
    with clock.frozen_at(AT):
        assert m.is_current


def test_the_door_names_the_same_standing():
    assert membership_refusal(_m(active=False), AT) == "membership_inactive"
    assert membership_refusal(_m(valid_from=AT + HOUR), AT) == "membership_not_yet_valid"
    assert membership_refusal(_m(valid_to=AT), AT) == "membership_expired"
    assert membership_refusal(_m(), AT) is None


def test_sql_and_python_agree_on_every_combination(session, make):
    customer = make.customer()
    ends = (None, AT - HOUR, AT, AT + HOUR)
    combos = list(itertools.product((True, False), ends, ends))
    for i, (active, valid_from, valid_to) in enumerate(combos):
        make.membership(customer, None, invited_email=f"window{i}@example.test",
                        active=active, valid_from=valid_from, valid_to=valid_to)
    session.expire_all()  # the Python side judges what the database gave back
    rows = list(session.scalars(select(Membership).where(
        Membership.customer_id == customer.id)))
    assert len(rows) == 32

    def ids(clause: ColumnElement[bool]) -> set[uuid.UUID]:
        return set(session.scalars(select(Membership.id).where(
            Membership.customer_id == customer.id, clause)))

    current = {m.id for m in rows if m.is_current_at(AT)}
    # Active, started (None, an hour ago or now), not ended (None or in an hour): 3 x 2.
    assert len(current) == 6
    assert ids(Membership.current(AT)) == current
    # The check-in binds the moment as a parameter of a statement built once.
    bound = set(session.execute(
        select(Membership.id).where(Membership.customer_id == customer.id,
                                    Membership.current(bindparam("now"))),
        {"now": AT}).scalars())
    assert bound == current

    upcoming = {m.id for m in rows if m.is_current_or_upcoming_at(AT)}
    # Active and not ended, whenever it starts: 4 x 2.
    assert len(upcoming) == 8
    assert ids(Membership.current_or_upcoming(AT)) == upcoming


def test_the_customers_admins_told_are_its_current_admins(session, make):
    """models.customers.admin_addresses: whom the service mails about a company (a support
    grant, a disabled webhook, a privacy request) — its admins current at that moment, by
    the one rule, with accounts not deactivated; each address once, in order."""
    from models.customers import admin_addresses

    cust, other = make.customer(), make.customer()
    now = clock.now()

    def admin(email: str, customer=cust, role: str = "admin", active_account: bool = True,
              **kw) -> None:
        acc = make.account(email=email, is_active=active_account)
        make.membership(customer, acc, role, **kw)

    admin("b-current@example.test")
    admin("a-ends-later@example.test", valid_from=now - HOUR, valid_to=now + HOUR)
    admin("ended@example.test", valid_to=now - HOUR)
    admin("ends-now@example.test", valid_to=now)
    admin("starts-later@example.test", valid_from=now + HOUR)
    admin("inactive@example.test", active=False)
    admin("deactivated@example.test", active_account=False)
    admin("operator@example.test", role="operator")
    admin("other@example.test", customer=other)
    session.flush()
    assert session.scalars(admin_addresses(cust.id, now)).all() == [
        "a-ends-later@example.test", "b-current@example.test"]
    # An hour on: the window has closed on one and opened on another.
    assert session.scalars(admin_addresses(cust.id, now + HOUR)).all() == [
        "b-current@example.test", "starts-later@example.test"]
