"""What the phone asks: the person's memberships, the door behind a printed Entry/Exit code, and
the doors they may open (now or at all)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from entryfy import clock
from entryfy.ops.doors.decision import membership_refusal
from entryfy.ops.doors.schedules import _valid_at, in_schedule
from models import (
    Access,
    AccessDoor,
    AccessMember,
    Customer,
    Door,
    Membership,
)


def memberships_of(session: Session, account_id: uuid.UUID) -> list[Membership]:
    """Every membership of the person (their own rows are visible in any tenant), in
    customers that have not ended."""
    return list(session.scalars(
        select(Membership)
        .join(Customer, Customer.id == Membership.customer_id)
        .where(Membership.account_id == account_id, Customer.status != "ended")
    ))


def door_for_opening(session: Session, door_id: uuid.UUID) -> Door | None:
    """A door the session may see, with its site (the decision needs both: one query)."""
    return session.scalar(select(Door).options(joinedload(Door.site)).where(Door.id == door_id))


def door_by_code(session: Session, code: str) -> tuple[Door, str] | None:
    """The door whose printed Entry or Exit code this is, with the direction it means."""
    door = session.scalar(select(Door).options(joinedload(Door.site))
                          .where((Door.entry_code == code) | (Door.exit_code == code)))
    if door is None:
        return None
    return door, "in" if hmac.compare_digest(door.entry_code, code) else "out"


@dataclasses.dataclass
class DoorForMe:
    door: Door
    membership: Membership
    methods: set[str]
    open_now: bool


def doors_for(session: Session, memberships: Sequence[Membership],
              at: dt.datetime | None = None) -> list[DoorForMe]:
    """The doors these memberships may open at all (accesses not yet ended), with methods,
    and whether they may open each one now (the decision without PIN and position)."""
    at = at or clock.now()
    by_id = {m.id: m for m in memberships if membership_refusal(m, at) in
             (None, "membership_not_yet_valid")}
    if not by_id:
        return []
    rows = session.execute(
        select(Door, Access, AccessMember.membership_id)
        .join(AccessDoor, AccessDoor.door_id == Door.id)
        .join(Access, Access.id == AccessDoor.access_id)
        .join(AccessMember, AccessMember.access_id == Access.id)
        .where(AccessMember.membership_id.in_(list(by_id)))
        .where((Access.valid_to.is_(None)) | (Access.valid_to > at))
    ).all()
    out: dict[uuid.UUID, DoorForMe] = {}
    for door, access, mid in rows:
        m = by_id[mid]
        item = out.setdefault(door.id, DoorForMe(door, m, set(), False))
        item.methods.update(access.methods or [])
        if (membership_refusal(m, at) is None and _valid_at(access.valid_from,
                                                              access.valid_to, at)
                and in_schedule(access.schedule, at, door.site.timezone)):
            item.open_now = True
    return sorted(out.values(), key=lambda d: (d.door.name, str(d.door.id)))
