"""Lockdown and unlock-all: one action locks every door of a site (or of the customer) for
all but the exempt roles, or holds them all open for an evacuation.

It overrides unlock schedules and accesses alike. It reaches the controllers twice: at once,
as a ``lock`` / ``hold_open`` command for each door on a controller (and ``release`` when it
ends), and offline, in the next signed credential list (the door's ``lockdown``), so a
controller that missed the command decides the same. The decision (``decide``) learns it from
``Site.lockdown_id`` on the site it loads anyway: nothing in force costs no round trip. Starting
and ending are audited; every refused opening meanwhile is an access event with reason
``lockdown``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import Conflict, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.tenant import load_owned
from models import Door, Lockdown, Membership, Site, UnlockCommand
from models.customers import MEMBER_ROLES
from models.vocab import LOCKDOWN_MODES

log = logging.getLogger(__name__)

# A lockdown's commands wait longer than an opening's 60 s: a controller polling late must
# still lock; one offline past this gets the state from its next list.
LOCKDOWN_COMMAND_TTL = dt.timedelta(minutes=30)
COMMAND_FOR_MODE = {"lockdown": "lock", "unlock_all": "hold_open"}
# Roles a lockdown may spare (guests never: they are not staff).
EXEMPTIBLE_ROLES = tuple(r for r in MEMBER_ROLES if r != "guest")


def active_lockdown(session: Session, site: Site) -> Lockdown | None:
    """The lockdown in force at the site; no query when none is."""
    if site.lockdown_id is None:
        return None
    return session.get(Lockdown, site.lockdown_id)


def customer_wide_in_force(session: Session, customer_id: uuid.UUID) -> uuid.UUID | None:
    """The customer-wide lockdown in force, for a site made meanwhile to join it."""
    return session.scalar(select(Lockdown.id).where(
        Lockdown.customer_id == customer_id, Lockdown.site_id.is_(None),
        Lockdown.ended_at.is_(None)).limit(1))


def is_exempt(lockdown: Lockdown, role: str | None) -> bool:
    return role is not None and role in (lockdown.exempt_roles or [])


def _queue(session: Session, doors: Sequence[Door], action: str, now: dt.datetime) -> int:
    on_controller = [d for d in doors if d.controller_id is not None]
    if on_controller:
        # Openings still waiting would undo a lock (or a release): they are void now.
        session.execute(
            update(UnlockCommand)
            .where(UnlockCommand.door_id.in_([d.id for d in on_controller]),
                   UnlockCommand.customer_id == on_controller[0].customer_id,
                   UnlockCommand.delivered_at.is_(None), UnlockCommand.expires_at > now)
            .values(expires_at=now).execution_options(synchronize_session=False))
    for d in on_controller:
        session.add(UnlockCommand(customer_id=d.customer_id, controller_id=d.controller_id,
                                  door_id=d.id, event_id=None, action=action,
                                  expires_at=now + LOCKDOWN_COMMAND_TTL))
    return len(on_controller)


def _doors(session: Session, customer_id: uuid.UUID, site_ids: list[uuid.UUID]) -> list[Door]:
    return list(session.scalars(select(Door).where(
        Door.customer_id == customer_id, Door.site_id.in_(site_ids)).order_by(Door.id)))


def start_lockdown(session: Session, *, customer_id: uuid.UUID, mode: str,
                   site_id: uuid.UUID | None = None, exempt_roles: Sequence[str] = (),
                   by: Membership | None = None) -> Lockdown:
    """Lock (``lockdown``) or hold open (``unlock_all``) every door of the site, or of every
    site of the customer. A site already under one: 409 ``lockdown-active`` (end it first)."""
    if mode not in LOCKDOWN_MODES:
        raise ValidationFailed({"mode": [f"One of {', '.join(LOCKDOWN_MODES)}."]})
    roles = list(dict.fromkeys(exempt_roles))
    if any(r not in EXEMPTIBLE_ROLES for r in roles):
        raise ValidationFailed({"exempt_roles": [f"Among {', '.join(EXEMPTIBLE_ROLES)}."]})
    if site_id is not None:
        sites = [load_owned(session, Site, customer_id, site_id, "site", for_update=True)]
    else:
        sites = list(session.scalars(select(Site).where(Site.customer_id == customer_id)
                                     .with_for_update()))
    if any(s.lockdown_id is not None for s in sites):
        raise Conflict("A lockdown or unlock-all is already in force there: end it first.",
                       slug="lockdown-active")
    now = clock.now()
    ld = Lockdown(id=uuid.uuid4(), customer_id=customer_id, site_id=site_id, mode=mode,
                  exempt_roles=roles, started_by_id=by.account_id if by else None,
                  created_at=now)
    session.add(ld)
    session.flush()
    for s in sites:
        s.lockdown_id = ld.id
    commands = _queue(session, _doors(session, customer_id, [s.id for s in sites]),
                      COMMAND_FOR_MODE[mode], now)
    session.flush()
    record_change(session, by, f"lockdown.start.{mode}", customer_id=customer_id,
                  object_type="lockdown", object_id=ld.id)
    log.warning("lockdown started lockdown=%s customer=%s mode=%s sites=%d commands=%d",
                ld.id, customer_id, mode, len(sites), commands)
    return ld


def end_lockdown(session: Session, ld: Lockdown, *, by: Membership | None = None) -> None:
    """Back to normal: its sites' doors follow their accesses and unlock schedules again
    (a ``release`` command for each door on a controller). Ending an ended one: no change."""
    if ld.ended_at is not None:
        return
    now = clock.now()
    ld.ended_at = now
    ld.ended_by_id = by.account_id if by else None
    sites = list(session.scalars(select(Site).where(Site.customer_id == ld.customer_id,
                                                    Site.lockdown_id == ld.id)))
    for s in sites:
        s.lockdown_id = None
    _queue(session, _doors(session, ld.customer_id, [s.id for s in sites]), "release", now)
    session.flush()
    record_change(session, by, "lockdown.end", customer_id=ld.customer_id,
                  object_type="lockdown", object_id=ld.id)
    log.warning("lockdown ended lockdown=%s customer=%s", ld.id, ld.customer_id)


def load_lockdown(session: Session, customer_id: uuid.UUID, lockdown_id: uuid.UUID
                  ) -> Lockdown:
    return load_owned(session, Lockdown, customer_id, lockdown_id, "lockdown")
