"""The door decision: may this membership pass this door now, presented this way?

``decide`` checks, in order, and names the first reason to refuse:

1. the membership: active, and inside its valid_from/valid_to (guests' short window);
2. a lockdown at the door's site (unless the person's role is exempt); an unlock-all grants;
3. an access covering the door, the time (its validity and its weekly schedule in the site's
   time zone) and the method;
4. the PIN (or the credential a reader presented) where the method needs one;
5. the geofence, for openings from the phone (entryfy/ops/geo.py);
6. anti-passback, entering a site again without having left (``hard`` refuses, ``soft``
   grants with the warning logged).

Its lookup is one indexed join (door -> access_doors -> accesses <- access_members <-
membership), so it costs the same for a customer with ten people as with ten thousand. The
lockdown rides on the site the door was loaded with (``Site.lockdown_id``) and anti-passback
on the access found: neither reads anything when it is not in force.
``attempt`` decides an opening from the phone and records it (access event, unlock command,
passage).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import Conflict
from entryfy.ops import geo
from entryfy.ops.doors import passback
from entryfy.ops.doors.credentials import credential_hash
from entryfy.ops.doors.lockdowns import active_lockdown, is_exempt
from entryfy.ops.doors.schedules import _valid_at, in_schedule
from entryfy.ops.doors.unlock_schedules import note_first_in
from entryfy.ops.doors.vocabulary import (
    CHANNELS,
    NEEDS_PIN,
    PHONE_CHANNELS,
    READER_CHANNELS,
    REASONS,
    UNLOCK_COMMAND_TTL,
    WRONG_PIN_LIMIT,
    WRONG_PIN_WINDOW,
)
from models import (
    Access,
    AccessDoor,
    AccessEvent,
    AccessMember,
    Door,
    DoorCredential,
    Membership,
    UnlockCommand,
)
from models.hot import HotStatement
from models.vocab import ACCESS_STAGES

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Position:
    latitude: float
    longitude: float
    accuracy_m: float | None = None


@dataclasses.dataclass(frozen=True)
class Decision:
    granted: bool
    reason: str | None  # the first reason to refuse; None when granted
    method: str | None  # the access method it was judged as (app, app_pin, qr, ...)
    # outside_geofence: how far the phone was, and how near it must be (as check-in says).
    distance_m: int | None = None
    radius_m: int | None = None
    # Granted, but logged as this reason (soft anti-passback).
    warning: str | None = None
    # The covering access's anti-passback rule for this person ("soft"/"hard"), so recording
    # the passage keeps the state only where a rule needs it.
    anti_passback: str | None = None

    @classmethod
    def refuse(cls, reason: str, method: str | None = None, **where: Any) -> Decision:
        assert reason in REASONS, reason
        return cls(False, reason, method, **where)


def membership_refusal(m: Membership, at: dt.datetime) -> str | None:
    """The door's words for a membership that is not current (Membership.standing_at)."""
    standing = m.standing_at(at)
    return f"membership_{standing}" if standing is not None else None


class AccessTerms(Protocol):
    """What the decision reads of an access: a row of ``candidate_accesses`` (or an Access)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str: ...
    @property
    def valid_from(self) -> dt.datetime | None: ...
    @property
    def valid_to(self) -> dt.datetime | None: ...
    @property
    def schedule(self) -> list[dict[str, Any]] | None: ...
    @property
    def methods(self) -> list[str]: ...
    @property
    def anti_passback(self) -> str: ...
    @property
    def anti_passback_exempt_roles(self) -> list[str] | None: ...


_A, _AD, _AM = Access.__table__.c, AccessDoor.__table__.c, AccessMember.__table__.c
# Built once (every door opening runs it), each call only binding the two ids; its rows are
# the terms alone, not Access objects (models.hot): loading and attaching ORM objects cost
# the door opening more CPU than the rest of its decision.
_CANDIDATES = HotStatement(
    select(_A.id, _A.name, _A.valid_from, _A.valid_to, _A.schedule, _A.methods,
           _A.anti_passback, _A.anti_passback_exempt_roles)
    .join(AccessDoor.__table__, _AD.access_id == _A.id)
    .join(AccessMember.__table__, _AM.access_id == _A.id)
    .where(_AD.door_id == bindparam("door_id"), _AM.membership_id == bindparam("membership_id"))
)


def candidate_accesses(session: Session, door_id: uuid.UUID,
                       membership_id: uuid.UUID) -> list[AccessTerms]:
    """The terms of the accesses naming both this door and this membership: one indexed
    join, read-only rows (attribute access by column name, as on an Access)."""
    session.flush()  # as an ORM query would autoflush: the session's own changes count
    return _CANDIDATES.rows(session.connection(),
                            {"door_id": door_id, "membership_id": membership_id})


def _judge_access(a: AccessTerms, at: dt.datetime, tz: str, wanted: tuple[str, ...]
                  ) -> tuple[int, str | None]:
    """(stage reached, method): stage len(ACCESS_STAGES) means the access covers it."""
    if not _valid_at(a.valid_from, a.valid_to, at):
        return 0, None
    if not in_schedule(a.schedule, at, tz):
        return 1, None
    allowed = [m for m in wanted if m in (a.methods or [])]
    if not allowed:
        return 2, None
    # The method needing the least (no PIN) wins when the access allows both.
    return 3, allowed[0]


def recent_wrong_pins(session: Session, membership_id: uuid.UUID, at: dt.datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(AccessEvent).where(
            AccessEvent.membership_id == membership_id,
            AccessEvent.occurred_at > at - WRONG_PIN_WINDOW,
            AccessEvent.reason == "wrong_pin",
        )
    ) or 0


def _credential_matches(session: Session, membership: Membership, kind: str, value_hash: str,
                        at: dt.datetime, site_id: uuid.UUID | None = None) -> bool:
    cred = session.scalar(
        select(DoorCredential).where(
            DoorCredential.customer_id == membership.customer_id,
            DoorCredential.kind == kind,
            DoorCredential.value_hash == value_hash,
        )
    )
    # A PIN opens the doors of its own site only (the same rule the controllers' lists hold).
    return (cred is not None and cred.membership_id == membership.id
            and (kind != "pin" or cred.site_id == site_id)
            and _valid_at(cred.valid_from, cred.valid_to, at))


def decide(session: Session, *, membership: Membership, door: Door, channel: str,
           at: dt.datetime, pin: str | None = None, position: Position | None = None,
           presented_hash: str | None = None, direction: str | None = None) -> Decision:
    """May this membership pass this door now, presented this way? See the module doc.

    ``channel``: one of CHANNELS. ``pin``: what the person typed (app_pin/qr_pin/keycard_pin,
    keypad). ``presented_hash``: for a keycard or personal QR, the keyed hash of what was
    read. ``direction``: "in" / "out" where known (anti-passback judges "in").
    Reads only: recording the attempt is ``attempt``'s job.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if membership.customer_id != door.customer_id:
        raise ValueError("membership and door of different customers")
    reason = membership_refusal(membership, at)
    if reason:
        return Decision.refuse(reason)
    lockdown = active_lockdown(session, door.site)
    if lockdown is not None:
        if lockdown.mode == "unlock_all":
            # An evacuation: the doors stand open for every current member.
            return Decision(True, None, CHANNELS[channel][0])
        if not is_exempt(lockdown, membership.role):
            return Decision.refuse("lockdown")

    accesses = candidate_accesses(session, door.id, membership.id)
    if not accesses:
        return Decision.refuse("no_access")
    tz = door.site.timezone
    wanted = CHANNELS[channel]
    best_stage, method, chosen = -1, None, None
    for a in accesses:
        stage, m = _judge_access(a, at, tz, wanted)
        # Among covering accesses, prefer one that needs no PIN over one that does.
        if stage == len(ACCESS_STAGES) and (
                method is None or (method in NEEDS_PIN and m not in NEEDS_PIN)):
            method, chosen = m, a
        best_stage = max(best_stage, stage)
    if method is None:
        return Decision.refuse(ACCESS_STAGES[best_stage])

    if method in NEEDS_PIN or channel == "pin":
        if not pin:
            return Decision.refuse("pin_required", method)
        if recent_wrong_pins(session, membership.id, at) >= WRONG_PIN_LIMIT:
            return Decision.refuse("too_many_attempts", method)
        if not _credential_matches(session, membership, "pin",
                                   credential_hash(membership.customer_id, "pin", pin), at,
                                   site_id=door.site_id):
            return Decision.refuse("wrong_pin", method)
    if channel in READER_CHANNELS and not (presented_hash and _credential_matches(
            session, membership, channel, presented_hash, at)):
        return Decision.refuse("credential_not_valid", method)

    if channel in PHONE_CHANNELS:
        if position is None:
            return Decision.refuse("position_required", method)
        site = door.site
        lat = door.latitude if door.latitude is not None else site.latitude
        lon = door.longitude if door.longitude is not None else site.longitude
        radius = door.radius_m if door.radius_m is not None else site.radius_m
        verdict = geo.check(lat, lon, radius, position.latitude, position.longitude,
                            position.accuracy_m)
        if not verdict.inside:
            return Decision.refuse("outside_geofence", method,
                                   distance_m=verdict.distance_m, radius_m=round(radius))

    assert chosen is not None
    rule = passback.applies(chosen, membership.role)
    if rule is not None and direction == "in" and passback.is_inside(session, membership,
                                                                     door.site, at):
        if rule == "hard":
            return Decision.refuse("anti_passback", method)
        return Decision(True, None, method, warning="anti_passback", anti_passback=rule)
    return Decision(True, None, method, anti_passback=rule)


def attempt(session: Session, *, membership: Membership, door: Door, channel: str,
            direction: str | None = None, pin: str | None = None,
            position: Position | None = None, at: dt.datetime | None = None
            ) -> tuple[Decision, AccessEvent]:
    """Decide an opening from the phone and record it, granted or refused.

    Granted: a door on a controller gets an unlock command for that controller; a site
    entrance passed "in" or "out" registers the check-in/check-out at a site with a ledger.
    """
    at = at or clock.now()
    decision = decide(session, membership=membership, door=door, channel=channel, at=at,
                      pin=pin, position=position, direction=direction)
    event = AccessEvent(
        id=uuid.uuid4(), customer_id=door.customer_id, occurred_at=at, door_id=door.id,
        account_id=membership.account_id, membership_id=membership.id,
        method=decision.method or CHANNELS[channel][0], direction=direction,
        outcome="granted" if decision.granted else "denied",
        reason=decision.reason or decision.warning, source="app", recorded_at=clock.now(),
    )
    session.add(event)
    try:
        session.flush()
    except IntegrityError:
        # A foreign key: the membership or account went away since it was read (an erasure
        # froze and erased the person meanwhile). A refusal, never a 500.
        raise Conflict("Your membership ended while the door was being opened (for example, "
                       "your account is being erased); nothing was recorded.",
                       slug="membership-ended") from None
    emit_access_event(session, event)
    if decision.granted:
        if door.controller_id is not None:
            session.add(UnlockCommand(
                customer_id=door.customer_id, controller_id=door.controller_id,
                door_id=door.id, event_id=event.id, expires_at=at + UNLOCK_COMMAND_TTL,
            ))
        _passage(session, door, membership.account_id, direction, at)
        granted_passage(session, door, membership, direction, at, decision.anti_passback)
        session.flush()
    log.debug("door attempt door=%s event=%s outcome=%s reason=%s", door.id, event.id,
             event.outcome, event.reason)
    return decision, event


def granted_passage(session: Session, door: Door, membership: Membership,
                    direction: str | None, at: dt.datetime, rule: str | None) -> None:
    """What a granted passage changes beyond its event: the first-person-in of the door's
    unlock window, and who is inside the site for anti-passback (where a rule applies)."""
    note_first_in(door, at)
    if rule is not None:
        passback.note_passage(session, membership, door.site_id, direction, at)


def emit_access_event(session: Session, ev: AccessEvent) -> None:
    """access_event.created for the customer's webhooks (ids and outcome, no names)."""
    from entryfy.ops import events

    events.emit(session, ev.customer_id, "access_event.created", {
        "id": ev.id, "door_id": ev.door_id, "member_id": ev.membership_id,
        "occurred_at": ev.occurred_at, "outcome": ev.outcome, "reason": ev.reason,
        "method": ev.method, "direction": ev.direction, "source": ev.source,
    })


def _passage(session: Session, door: Door, account_id: uuid.UUID | None,
             direction: str | None, at: dt.datetime) -> None:
    if not door.site_entrance or direction is None or account_id is None:
        return
    from entryfy.ops import entries

    entries.record_passage(session, account_id=account_id, site=door.site,
                           direction=direction, at=at, source="door")
