"""What the phone asks: the person's memberships, the door behind a printed Entry/Exit code, and
the doors they may open (now or at all)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from entryfy import clock
from entryfy.ops import events
from entryfy.ops.doors.decision import membership_refusal
from entryfy.ops.doors.lockdowns import active_lockdown, is_exempt
from entryfy.ops.doors.schedules import _valid_at, in_schedule
from models import (
    Access,
    AccessDoor,
    AccessMember,
    Customer,
    Door,
    Membership,
    Site,
)
from models.tenancy import ScopedQuery
from models.vocab import LockdownMode

_T = TypeVar("_T")
ACCESS_EVENT = "access_event.created"


def memberships_of(session: Session, account_id: uuid.UUID) -> list[Membership]:
    """Every membership of the person (their own rows are visible in any tenant), in
    customers that have not ended."""
    return list(session.scalars(
        select(Membership)
        .join(Customer, Customer.id == Membership.customer_id)
        .where(Membership.account_id == account_id, Customer.status != "ended")
    ))


_D, _S, _M, _C = (m.__table__ for m in (Door, Site, Membership, Customer))


def _labelled(table: Any, prefix: str) -> list[Any]:
    return [c.label(prefix + c.key) for c in table.columns]


# The phone's door opening, looked up in one round trip on PostgreSQL (models.tenancy
# .ScopedQuery): the session scoped to the person's customers that have not ended (as
# memberships_of), and in that scope the door with its site, the person's membership in the
# door's customer (active or not: the decision names the refusal), and whether a webhook
# listens for access events. Built once; every column of the three tables, so the objects
# made from the row are whole.
_OPENING = ScopedQuery(
    select(_M.c.customer_id)
    .join(_C, _C.c.id == _M.c.customer_id)
    .where(_M.c.account_id == bindparam("account_id"), _C.c.status != "ended"),
    select(*_labelled(_D, "d_"), *_labelled(_S, "s_"), *_labelled(_M, "m_"),
           events.listening(ACCESS_EVENT, _D.c.customer_id).label("webhooks"))
    .select_from(
        _D.join(_S, and_(_S.c.customer_id == _D.c.customer_id, _S.c.id == _D.c.site_id))
        .join(_C, and_(_C.c.id == _D.c.customer_id, _C.c.status != "ended"))
        .join(_M, and_(_M.c.customer_id == _D.c.customer_id,
                       _M.c.account_id == bindparam("account_id")))
    )
    .where(_D.c.id == bindparam("door_id")),
)


def _persistent(session: Session, cls: type[_T], row: Any, prefix: str) -> _T:
    """The ORM object for the row's ``prefix`` columns, attached to the session as loaded
    (no statement): the one already in the session if there is one."""
    mapper = sa_inspect(cls)
    values = {prop.key: getattr(row, prefix + prop.columns[0].key)
              for prop in mapper.column_attrs}
    key = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    found = session.identity_map.get(key)
    if found is not None:
        return found
    obj = mapper.class_manager.new_instance()
    for name, value in values.items():
        set_committed_value(obj, name, value)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def door_opening(session: Session, account_id: uuid.UUID, door_id: uuid.UUID
                 ) -> tuple[Door, Membership] | None:
    """The door (with its site) and the person's membership in its customer, for an opening
    from the phone, with the session scoped to the person's customers (as memberships_of and
    scope_to would); None when the person cannot see the door. One statement on PostgreSQL
    instead of four (memberships, scope, door, and later the webhook query)."""
    row = _OPENING.run(session, {"account_id": account_id, "door_id": door_id})
    if row is None:
        return None
    door = _persistent(session, Door, row, "d_")
    if "site" not in door.__dict__:
        set_committed_value(door, "site", _persistent(session, Site, row, "s_"))
    membership = _persistent(session, Membership, row, "m_")
    events.note_listening(session, door.customer_id, ACCESS_EVENT, bool(row.webhooks))
    return door, membership


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
    by_id = {m.id: m for m in memberships if m.is_current_or_upcoming_at(at)}
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
        if (m.is_current_at(at) and _valid_at(access.valid_from, access.valid_to, at)
                and in_schedule(access.schedule, at, door.site.timezone)):
            item.open_now = True
    for item in out.values():
        # A lockdown shuts what the accesses would open (exempt roles aside); an unlock-all
        # opens every door for a current member.
        lockdown = active_lockdown(session, item.door.site)
        if lockdown is not None and membership_refusal(item.membership, at) is None:
            item.open_now = (lockdown.mode == LockdownMode.UNLOCK_ALL
                             or (item.open_now and is_exempt(lockdown, item.membership.role)))
    return sorted(out.values(), key=lambda d: (d.door.name, str(d.door.id)))
