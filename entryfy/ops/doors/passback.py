"""Anti-passback: a person let in at a site who has not left may not come in again (``hard``:
refused, reason ``anti_passback``) or may, but it is logged (``soft``: granted, the event's
reason ``anti_passback``). An access sets the rule (``Access.anti_passback``) and the roles it
spares (``anti_passback_exempt_roles``).

The state is one row per membership and site (``PassbackState``) for a passage "in" through
an access with the rule, deleted by the passage "out". It counts until the site's next local
midnight: that is the nightly reset, the same rule for the server and for a controller
deciding offline, whatever hour the clean-up job (``reset_passback``) happens to run.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops.doors.schedules import _zone
from models import Membership, PassbackState, Site
from models.vocab import DIRECTIONS, Direction


class PassbackTerms(Protocol):
    """An access's anti-passback terms (an Access, or a row of decision.candidate_accesses)."""

    @property
    def anti_passback(self) -> str: ...
    @property
    def anti_passback_exempt_roles(self) -> list[str] | None: ...


def applies(access: PassbackTerms, role: str | None) -> str | None:
    """The access's rule for this role: "soft", "hard" or None (off, or exempt)."""
    mode = access.anti_passback or "off"
    if mode == "off" or (role is not None and role in (access.anti_passback_exempt_roles or [])):
        return None
    return mode


def still_inside(entered_at: dt.datetime | None, tz: str, at: dt.datetime) -> bool:
    """An entry counts on its own local day only (the nightly reset)."""
    if entered_at is None or entered_at > at:
        return False
    zone = _zone(tz)
    return entered_at.astimezone(zone).date() == at.astimezone(zone).date()


def is_inside(session: Session, membership: Membership, site: Site, at: dt.datetime) -> bool:
    """One indexed read by primary key, made only when an access has the rule."""
    entered = session.scalar(select(PassbackState.entered_at).where(
        PassbackState.membership_id == membership.id, PassbackState.site_id == site.id,
        PassbackState.customer_id == membership.customer_id))
    return still_inside(entered, site.timezone, at)


def note_passage(session: Session, membership: Membership, site_id: uuid.UUID,
                 direction: str | None, at: dt.datetime) -> None:
    """A granted passage under the rule: "in" marks the person inside, "out" outside."""
    if direction not in DIRECTIONS:
        return
    state = session.get(PassbackState, (membership.id, site_id))
    if direction == Direction.OUT:
        if state is not None:
            session.delete(state)
    elif state is None:
        session.add(PassbackState(customer_id=membership.customer_id,
                                  membership_id=membership.id, site_id=site_id,
                                  entered_at=at))
    else:
        state.entered_at = at
    session.flush()


def reset_passback(session: Session) -> int:
    """The nightly reset's clean-up: delete states from before their site's local midnight
    (they count for nothing already, ``still_inside``). A worker job, hourly."""
    now = clock.now()
    rows = session.execute(
        select(PassbackState.membership_id, PassbackState.site_id, PassbackState.entered_at,
               Site.timezone)
        .join(Site, Site.id == PassbackState.site_id)
        .where(PassbackState.entered_at < now - dt.timedelta(hours=1)).limit(10000)
    ).all()
    stale = [(m, s) for m, s, at, tz in rows if not still_inside(at, tz, now)]
    for m, s in stale:
        session.execute(delete(PassbackState).where(PassbackState.membership_id == m,
                                                    PassbackState.site_id == s))
    session.flush()
    return len(stale)
