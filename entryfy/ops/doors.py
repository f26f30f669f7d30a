"""Physical access control: the door decision, accesses, guests, door credentials, and the
door controllers' signed credential lists, unlock commands and passages.

Plain functions over a session: they flush, never commit, and raise ``entryfy.errors``.
Callers pass objects loaded through a tenant-scoped session; these functions still load
every id they are *given* through that session, filtered by the customer, so an id of another
customer is "not found" here too.

The decision (``decide``) is one function that checks, in order, and names the first reason
to refuse:

1. the membership: active, and inside its valid_from/valid_to (guests' short window);
2. an access covering the door, the time (its validity and its weekly schedule in the site's
   time zone) and the method;
3. the PIN (or the credential a reader presented) where the method needs one;
4. the geofence, for openings from the phone (entryfy/ops/geo.py).

Its lookup is one indexed join (door -> access_doors -> accesses <- access_members <-
membership), so it costs the same for a customer with ten people as with ten thousand.

Secrets: PINs, keycard numbers and guests' QR codes are stored as the server's keyed hash
(``credential_hash``, never sent out) and encrypted under the data key (``value_enc``), from
which every controller's list is hashed with that controller's own key
(``controller_credential_hash``); door controllers' keys only as SHA-256. A PIN opens the doors
of one site: what a stolen controller gives up (its key, its hashes) yields at most the PINs of
its own site (threat model: docs/DOORS.md).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from entryfy import clock, mail, security
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops import geo
from entryfy.ops.auditing import record_change
from entryfy.ops.signs import qr_png
from entryfy.ops.tenant import load_owned
from models import (
    Access,
    AccessDoor,
    AccessEvent,
    AccessMember,
    Account,
    Controller,
    Customer,
    Door,
    DoorCredential,
    Membership,
    Site,
    UnlockCommand,
)
from models.doors import METHODS

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ vocabulary

# How a person presents themselves at a door -> the access methods that cover it.
#   app: POST /doors/{id}/open;  scan: the app scanned the door's printed Entry/Exit code;
#   pin: a keypad;  keycard: a card reader;  qr: a reader scanned a guest's personal QR code.
CHANNELS: dict[str, tuple[str, ...]] = {
    "app": ("app", "app_pin"),
    "scan": ("qr", "qr_pin"),
    "pin": ("pin",),
    "keycard": ("keycard",),
    "qr": ("qr",),
}
NEEDS_PIN = frozenset({"app_pin", "qr_pin"})
PHONE_CHANNELS = frozenset({"app", "scan"})
# Methods a controller decides itself, offline, from its credential list.
CONTROLLER_METHODS = ("pin", "keycard", "qr")

# Every reason to refuse, in the order the decision checks them.
REASONS = (
    "membership_inactive",
    "membership_not_yet_valid",
    "membership_expired",
    "no_access",
    "access_not_valid",
    "outside_schedule",
    "method_not_allowed",
    "pin_required",
    "too_many_attempts",
    "wrong_pin",
    "credential_not_valid",
    "position_required",
    "outside_geofence",
)
# Among several accesses to the door, the one that got furthest names the refusal.
_ACCESS_STAGES = ("access_not_valid", "outside_schedule", "method_not_allowed")

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")

PIN_DIGITS = 6
WRONG_PIN_LIMIT = 5  # wrong PINs per membership within WRONG_PIN_WINDOW, then refused
WRONG_PIN_WINDOW = dt.timedelta(minutes=15)
# A keypad (a door's, offline on its controller) refuses every PIN after this many wrong
# ones within the window: 5 tries in 15 minutes make 10^6 PINs a matter of years.
KEYPAD_WRONG_PIN_LIMIT = 5
KEYPAD_LOCKOUT_WINDOW = dt.timedelta(minutes=15)
UNLOCK_COMMAND_TTL = dt.timedelta(seconds=60)
CONTROLLER_ONLINE_WITHIN = dt.timedelta(minutes=2)
GUEST_MAX_DAYS = 90
MAX_CONTROLLER_EVENTS = 500
CONTROLLER_EVENT_MAX_AGE = dt.timedelta(days=90)
CONTROLLER_CLOCK_SKEW = dt.timedelta(minutes=5)


# ------------------------------------------------------------------------------ helpers

def _valid_at(valid_from: dt.datetime | None, valid_to: dt.datetime | None,
              at: dt.datetime) -> bool:
    return (valid_from is None or valid_from <= at) and (valid_to is None or at < valid_to)


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat() if t is not None else None


def new_door_code() -> str:
    """The content of a printed Entry/Exit QR sign: 144 random bits, URL-safe."""
    return secrets.token_urlsafe(18)


def credential_hash_key(customer_id: uuid.UUID) -> bytes:
    """The server's key for hashing a customer's door credentials (derived from
    ENTRYFY_DATA_KEY). It never leaves the server: controllers get keys of their own
    (``controller_hash_key``)."""
    return bytes.fromhex(security.keys().keyed_hash("door-credential-key", str(customer_id)))


def controller_hash_key(controller_id: uuid.UUID) -> bytes:
    """One controller's key for the hashes in its credential list. Another controller's list
    is hashed with another key, so a list's hashes match nothing anywhere else."""
    return bytes.fromhex(security.keys().keyed_hash("door-controller-list-key",
                                                    str(controller_id)))


def controller_credential_hash(controller_id: uuid.UUID, kind: str, value: str) -> str:
    """HMAC-SHA256(controller_hash_key(controller), "<kind>:<value>"), hex: what the
    controller computes from what its keypad or reader got, and looks up in its list."""
    return hmac.new(controller_hash_key(controller_id), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def _enc_context(cred_id: uuid.UUID) -> str:
    return f"door-credential:{cred_id}"


def credential_value(cred: DoorCredential) -> str | None:
    """The clear value (for hashing a controller's list); None for a credential enrolled
    before values were kept encrypted (revision 0011): it is honoured online only."""
    if cred.value_enc is None:
        return None
    return security.keys().decrypt(cred.value_enc, context=_enc_context(cred.id))


def credential_hash(customer_id: uuid.UUID, kind: str, value: str) -> str:
    """HMAC-SHA256(credential_hash_key(customer), "<kind>:<value>"), hex."""
    return hmac.new(credential_hash_key(customer_id), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def normalise_keycard(value: str) -> str:
    """Card numbers as readers report them: hex or decimal, any case, separators ignored."""
    return re.sub(r"[\s:-]", "", value).upper()


# ------------------------------------------------------------------------------ schedules

def validate_schedule(schedule: Any) -> list[dict[str, Any]] | None:
    """A weekly schedule: ``None`` (any time) or a non-empty list of windows
    ``{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM"}`` in the site's local time.
    ``end`` <= ``start`` crosses midnight: the window opens on the listed day and closes on
    the next. ``end`` may be "24:00". Raises ValidationFailed with the field's messages."""
    if schedule is None:
        return None
    errors: dict[str, list[str]] = {}
    if not isinstance(schedule, list) or not schedule or len(schedule) > 50:
        raise ValidationFailed({"schedule": ["A list of 1 to 50 windows, or null."]})
    out = []
    for i, w in enumerate(schedule):
        if not isinstance(w, dict) or set(w) != {"days", "start", "end"}:
            errors[f"schedule.{i}"] = ["A window has exactly days, start and end."]
            continue
        days, start, end = w["days"], w["start"], w["end"]
        if (not isinstance(days, list) or not days or len(days) > 7
                or any(d not in DAYS for d in days) or len(set(days)) != len(days)):
            errors[f"schedule.{i}.days"] = [f"Distinct days among {', '.join(DAYS)}."]
        for key, val in (("start", start), ("end", end)):
            if not isinstance(val, str) or not _HHMM.match(val):
                errors[f"schedule.{i}.{key}"] = ["A time HH:MM (00:00 to 24:00)."]
        if isinstance(start, str) and start == "24:00":
            errors[f"schedule.{i}.start"] = ["A window starts at 23:59 at the latest."]
        if start == end:
            errors[f"schedule.{i}"] = ["A window needs a length: start and end differ."]
        out.append({"days": [d for d in DAYS if d in days] if isinstance(days, list) else days,
                    "start": start, "end": end})
    if errors:
        raise ValidationFailed(errors)
    return out


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_schedule(schedule: list[dict[str, Any]] | None, at: dt.datetime, tz: str) -> bool:
    """Whether ``at`` (aware) falls in a window, read on the wall clock of ``tz``.

    Comparing local wall-clock times (zoneinfo) keeps a 07:00-17:00 window at 07:00 local
    on both sides of a daylight-saving change; a window that crosses midnight belongs to the
    day it opens on.
    """
    if schedule is None:
        return True
    local = at.astimezone(_zone(tz))
    minute = local.hour * 60 + local.minute
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    for w in schedule:
        start, end = _minutes(w["start"]), _minutes(w["end"])
        if start < end:
            if today in w["days"] and start <= minute < end:
                return True
        else:  # crosses midnight
            if today in w["days"] and minute >= start:
                return True
            if yesterday in w["days"] and minute < end:
                return True
    return False


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # A site's zone comes from validated input; should one be unknown, Swedish time is
        # the product's default rather than a crash at the door.
        return zoneinfo.ZoneInfo("Europe/Stockholm")


# ------------------------------------------------------------------------------ decision

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

    @classmethod
    def refuse(cls, reason: str, method: str | None = None, **where: int) -> Decision:
        assert reason in REASONS, reason
        return cls(False, reason, method, **where)


def membership_refusal(m: Membership, at: dt.datetime) -> str | None:
    if not m.active:
        return "membership_inactive"
    if m.valid_from is not None and at < m.valid_from:
        return "membership_not_yet_valid"
    if m.valid_to is not None and at >= m.valid_to:
        return "membership_expired"
    return None


def candidate_accesses(session: Session, door_id: uuid.UUID,
                       membership_id: uuid.UUID) -> list[Access]:
    """The accesses naming both this door and this membership: one indexed join."""
    return list(session.scalars(
        select(Access)
        .join(AccessDoor, AccessDoor.access_id == Access.id)
        .join(AccessMember, AccessMember.access_id == Access.id)
        .where(AccessDoor.door_id == door_id, AccessMember.membership_id == membership_id)
    ))


def _judge_access(a: Access, at: dt.datetime, tz: str, wanted: tuple[str, ...]
                  ) -> tuple[int, str | None]:
    """(stage reached, method): stage len(_ACCESS_STAGES) means the access covers it."""
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
           presented_hash: str | None = None) -> Decision:
    """May this membership pass this door now, presented this way? See the module doc.

    ``channel``: one of CHANNELS. ``pin``: what the person typed (app_pin/qr_pin, keypad).
    ``presented_hash``: for a keycard or personal QR, the keyed hash of what was read.
    Reads only: recording the attempt is ``attempt``'s job.
    """
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if membership.customer_id != door.customer_id:
        raise ValueError("membership and door of different customers")
    reason = membership_refusal(membership, at)
    if reason:
        return Decision.refuse(reason)

    accesses = candidate_accesses(session, door.id, membership.id)
    if not accesses:
        return Decision.refuse("no_access")
    tz = door.site.timezone
    wanted = CHANNELS[channel]
    best_stage, method = -1, None
    for a in accesses:
        stage, m = _judge_access(a, at, tz, wanted)
        # Among covering accesses, prefer one that needs no PIN over one that does.
        if stage == len(_ACCESS_STAGES) and (
                method is None or (method in NEEDS_PIN and m not in NEEDS_PIN)):
            method = m
        best_stage = max(best_stage, stage)
    if method is None:
        return Decision.refuse(_ACCESS_STAGES[best_stage])

    if method in NEEDS_PIN or channel == "pin":
        if not pin:
            return Decision.refuse("pin_required", method)
        if recent_wrong_pins(session, membership.id, at) >= WRONG_PIN_LIMIT:
            return Decision.refuse("too_many_attempts", method)
        if not _credential_matches(session, membership, "pin",
                                   credential_hash(membership.customer_id, "pin", pin), at,
                                   site_id=door.site_id):
            return Decision.refuse("wrong_pin", method)
    elif channel in ("keycard", "qr") and not (presented_hash and _credential_matches(
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
    return Decision(True, None, method)


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
                      pin=pin, position=position)
    event = AccessEvent(
        id=uuid.uuid4(), customer_id=door.customer_id, occurred_at=at, door_id=door.id,
        account_id=membership.account_id, membership_id=membership.id,
        method=decision.method or CHANNELS[channel][0], direction=direction,
        outcome="granted" if decision.granted else "denied", reason=decision.reason,
        source="app", recorded_at=clock.now(),
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
        session.flush()
    log.debug("door attempt door=%s event=%s outcome=%s reason=%s", door.id, event.id,
             event.outcome, event.reason)
    return decision, event


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


# ------------------------------------------------------------------------------ the phone

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


# ------------------------------------------------------------------------------ admin: doors

def create_door(session: Session, *, site: Site, name: str, latitude: float | None = None,
                longitude: float | None = None, radius_m: int | None = None,
                controller_id: uuid.UUID | None = None, site_entrance: bool = False,
                by: Membership | None = None) -> Door:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed({"latitude": ["Give both latitude and longitude, or neither."]})
    if controller_id is not None:
        load_owned(session, Controller, site.customer_id, controller_id, "controller")
    door = Door(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id, name=name,
                latitude=latitude, longitude=longitude, radius_m=radius_m,
                controller_id=controller_id, site_entrance=site_entrance,
                entry_code=new_door_code(), exit_code=new_door_code())
    session.add(door)
    session.flush()
    record_change(session, by, "door.create", customer_id=door.customer_id,
                  object_type="door", object_id=door.id)
    return door


def update_door(session: Session, door: Door, changes: dict[str, Any], *,
                by: Membership | None = None) -> Door:
    if "controller_id" in changes and changes["controller_id"] is not None:
        load_owned(session, Controller, door.customer_id, changes["controller_id"], "controller")
    lat = changes.get("latitude", door.latitude)
    lon = changes.get("longitude", door.longitude)
    if (lat is None) != (lon is None):
        raise ValidationFailed({"latitude": ["Give both latitude and longitude, or neither."]})
    for key in ("name", "latitude", "longitude", "radius_m", "controller_id", "site_entrance"):
        if key in changes:
            setattr(door, key, changes[key])
    if changes.get("new_codes"):
        # Reprinting the signs: the old codes stop working at once.
        door.entry_code, door.exit_code = new_door_code(), new_door_code()
    session.flush()
    if set(changes) - {"new_codes"}:
        record_change(session, by, "door.update", customer_id=door.customer_id,
                      object_type="door", object_id=door.id)
    if changes.get("new_codes"):
        record_change(session, by, "door.codes_reprinted", customer_id=door.customer_id,
                      object_type="door", object_id=door.id)
    return door


def delete_door(session: Session, door: Door, *, by: Membership | None = None) -> None:
    """Remove a door; its access events stay (without the door)."""
    customer_id, door_id = door.customer_id, door.id
    session.delete(door)
    session.flush()
    record_change(session, by, "door.delete", customer_id=customer_id, object_type="door",
                  object_id=door_id)


def load_door(session: Session, customer_id: uuid.UUID, door_id: uuid.UUID) -> Door:
    return load_owned(session, Door, customer_id, door_id, "door")


# ------------------------------------------------------------------------------ accesses

def _methods(methods: Iterable[str]) -> list[str]:
    ms = list(dict.fromkeys(methods))
    bad = [m for m in ms if m not in METHODS]
    if not ms or bad:
        raise ValidationFailed({"methods": [f"One or more of {', '.join(METHODS)}."]})
    return [m for m in METHODS if m in ms]


def _doors_of_one_site(session: Session, customer_id: uuid.UUID,
                       door_ids: Sequence[uuid.UUID]) -> list[Door]:
    ids = list(dict.fromkeys(door_ids))
    if not ids:
        raise ValidationFailed({"door_ids": ["At least one door."]})
    doors = list(session.scalars(
        select(Door).where(Door.id.in_(ids), Door.customer_id == customer_id)
    ))
    if len(doors) != len(ids):
        raise NotFound("No such door.", slug="door-not-found")
    if len({d.site_id for d in doors}) != 1:
        raise Unprocessable("An access covers doors of one site.", slug="doors-of-several-sites")
    return doors


def _memberships(session: Session, customer_id: uuid.UUID,
                 member_ids: Sequence[uuid.UUID]) -> list[Membership]:
    ids = list(dict.fromkeys(member_ids))
    found = list(session.scalars(
        select(Membership).where(Membership.id.in_(ids), Membership.customer_id == customer_id)
    )) if ids else []
    if len(found) != len(ids):
        raise NotFound("No such member.", slug="member-not-found")
    return found


def check_validity(valid_from: dt.datetime | None, valid_to: dt.datetime | None) -> None:
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        raise ValidationFailed({"valid_to": ["Must be after valid_from."]})


def create_access(session: Session, *, customer_id: uuid.UUID, name: str,
                  door_ids: Sequence[uuid.UUID], member_ids: Sequence[uuid.UUID],
                  methods: Sequence[str], valid_from: dt.datetime | None = None,
                  valid_to: dt.datetime | None = None,
                  schedule: list[dict[str, Any]] | None = None, guest: bool = False,
                  by: Membership | None = None) -> Access:
    check_validity(valid_from, valid_to)
    schedule = validate_schedule(schedule)
    methods = _methods(methods)
    doors = _doors_of_one_site(session, customer_id, door_ids)
    members = _memberships(session, customer_id, member_ids)
    access = Access(id=uuid.uuid4(), customer_id=customer_id, site_id=doors[0].site_id,
                    name=name, valid_from=valid_from, valid_to=valid_to, schedule=schedule,
                    methods=methods, guest=guest, updated_at=clock.now())
    access.doors = [AccessDoor(customer_id=customer_id, door_id=d.id) for d in doors]
    access.members = [AccessMember(customer_id=customer_id, membership_id=m.id)
                      for m in members]
    session.add(access)
    session.flush()
    record_change(session, by, "access.create", customer_id=customer_id,
                  object_type="access", object_id=access.id)
    for m in members:
        _member_event(session, by, "access.member_added", access, m)
    return access


def _member_event(session: Session, by: Membership | None, action: str, access: Access,
                  m: Membership) -> None:
    record_change(session, by, action, customer_id=access.customer_id, object_type="access",
                  object_id=access.id, subject_id=m.account_id)


def update_access(session: Session, access: Access, changes: dict[str, Any], *,
                  by: Membership | None = None) -> Access:
    valid_from = changes.get("valid_from", access.valid_from)
    valid_to = changes.get("valid_to", access.valid_to)
    check_validity(valid_from, valid_to)
    if "schedule" in changes:
        access.schedule = validate_schedule(changes["schedule"])
    if "methods" in changes:
        access.methods = _methods(changes["methods"])
    if "door_ids" in changes:
        doors = _doors_of_one_site(session, access.customer_id, changes["door_ids"])
        access.site_id = doors[0].site_id
        access.doors = [AccessDoor(customer_id=access.customer_id, door_id=d.id)
                        for d in doors]
    added: list[Membership] = []
    removed: list[Membership] = []
    if "member_ids" in changes:
        members = _memberships(session, access.customer_id, changes["member_ids"])
        before = {am.membership_id for am in access.members}
        after = {m.id for m in members}
        added = [m for m in members if m.id not in before]
        removed = _memberships(session, access.customer_id, sorted(before - after, key=str))
        access.members = [AccessMember(customer_id=access.customer_id, membership_id=m.id)
                          for m in members]
    for key in ("name", "valid_from", "valid_to"):
        if key in changes:
            setattr(access, key, changes[key])
    access.updated_at = clock.now()
    session.flush()
    record_change(session, by, "access.update", customer_id=access.customer_id,
                  object_type="access", object_id=access.id)
    for m in added:
        _member_event(session, by, "access.member_added", access, m)
    for m in removed:
        _member_event(session, by, "access.member_removed", access, m)
    return access


def delete_access(session: Session, access: Access, *, by: Membership | None = None) -> None:
    customer_id, access_id = access.customer_id, access.id
    session.delete(access)
    session.flush()
    record_change(session, by, "access.delete", customer_id=customer_id,
                  object_type="access", object_id=access_id)


def load_access(session: Session, customer_id: uuid.UUID, access_id: uuid.UUID) -> Access:
    return load_owned(session, Access, customer_id, access_id, "access")


def load_controller(session: Session, customer_id: uuid.UUID,
                    controller_id: uuid.UUID) -> Controller:
    return load_owned(session, Controller, customer_id, controller_id, "controller")


def load_credential(session: Session, customer_id: uuid.UUID,
                    credential_id: uuid.UUID) -> DoorCredential:
    return load_owned(session, DoorCredential, customer_id, credential_id, "credential")


# ------------------------------------------------------------------------------ credentials

def _new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def _credential_event(session: Session, by: Membership | None, action: str,
                      cred: DoorCredential, subject_id: uuid.UUID | None) -> None:
    record_change(session, by, f"credential.{cred.kind}.{action}",
                  customer_id=cred.customer_id, object_type="door_credential",
                  object_id=cred.id, subject_id=subject_id)


def _add_credential(session: Session, membership: Membership, kind: str, value: str, *,
                    valid_from: dt.datetime | None = None,
                    valid_to: dt.datetime | None = None,
                    site_id: uuid.UUID | None = None,
                    by: Membership | None = None) -> DoorCredential:
    cred_id = uuid.uuid4()
    cred = DoorCredential(id=cred_id, customer_id=membership.customer_id,
                          membership_id=membership.id, kind=kind, site_id=site_id,
                          value_hash=credential_hash(membership.customer_id, kind, value),
                          value_enc=security.keys().encrypt(value,
                                                            context=_enc_context(cred_id)),
                          valid_from=valid_from, valid_to=valid_to)
    with session.begin_nested():
        session.add(cred)
        session.flush()
    _credential_event(session, by, "issue", cred, membership.account_id)
    return cred


def revoke_credential(session: Session, cred: DoorCredential, *,
                      by: Membership | None = None) -> None:
    """A PIN, keycard or QR code stops working (online at once; controllers with their next
    list)."""
    subject = session.scalar(select(Membership.account_id).where(
        Membership.id == cred.membership_id, Membership.customer_id == cred.customer_id))
    session.delete(cred)
    session.flush()
    _credential_event(session, by, "revoke", cred, subject)


def _revoke_where(session: Session, membership: Membership, by: Membership | None,
                  *conditions: Any) -> None:
    for cred in list(session.scalars(select(DoorCredential).where(
            DoorCredential.membership_id == membership.id,
            DoorCredential.customer_id == membership.customer_id, *conditions))):
        session.delete(cred)
        session.flush()
        _credential_event(session, by, "revoke", cred, membership.account_id)


def pin_site(session: Session, membership: Membership,
             site_id: uuid.UUID | None = None) -> uuid.UUID:
    """The site a new PIN is for: the one given (of this customer), else the one site where
    the membership has an access that takes a PIN; several or none: the caller must say."""
    if site_id is not None:
        return load_owned(session, Site, membership.customer_id, site_id, "site").id
    sites = set(session.scalars(
        select(Access.site_id).join(AccessMember, AccessMember.access_id == Access.id)
        .where(AccessMember.membership_id == membership.id,
               Access.customer_id == membership.customer_id)
    ))
    if len(sites) != 1:
        raise Unprocessable("A PIN opens the doors of one site: name the site (site_id).",
                            slug="pin-site-required")
    return sites.pop()


def issue_pin(session: Session, membership: Membership, *,
              site_id: uuid.UUID | None = None,
              valid_from: dt.datetime | None = None,
              valid_to: dt.datetime | None = None,
              by: Membership | None = None) -> tuple[DoorCredential, str]:
    """A new random PIN for the membership at one site (``pin_site``), replacing its old PIN
    there. Unique in the customer (a keypad PIN identifies one person, and a PIN of one site
    is never another site's); returns the PIN to be sent, never stored in clear."""
    site_id = pin_site(session, membership, site_id)
    _revoke_where(session, membership, by, DoorCredential.kind == "pin",
                  DoorCredential.site_id == site_id)
    for _ in range(20):
        pin = _new_pin()
        try:
            return _add_credential(session, membership, "pin", pin, valid_from=valid_from,
                                   valid_to=valid_to, site_id=site_id, by=by), pin
        except IntegrityError:
            continue  # that PIN belongs to someone else in this customer: draw again
    raise Conflict("No free PIN could be drawn; try again.", slug="pin-space-exhausted")


def add_keycard(session: Session, membership: Membership, value: str, *,
                valid_from: dt.datetime | None = None,
                valid_to: dt.datetime | None = None,
                by: Membership | None = None) -> DoorCredential:
    number = normalise_keycard(value)
    if not re.fullmatch(r"[0-9A-F]{4,64}", number):
        raise ValidationFailed({"value": ["A card number: 4 to 64 hex digits."]})
    try:
        return _add_credential(session, membership, "keycard", number, valid_from=valid_from,
                               valid_to=valid_to, by=by)
    except IntegrityError:
        raise Conflict("That card is already enrolled.", slug="keycard-taken") from None


def issue_member_pin(session: Session, membership: Membership,
                     site_id: uuid.UUID | None = None, *,
                     by: Membership | None = None) -> DoorCredential:
    """A PIN for a member at one site, sent to them by e-mail: the admin never sees it."""
    if membership.account_id is None:
        raise Unprocessable("The member has not registered yet.", slug="member-pending")
    account = session.get(Account, membership.account_id)
    if account is None:
        raise NotFound("No such member.")
    cred, pin = issue_pin(session, membership, site_id=site_id, by=by)
    customer = session.get(Customer, membership.customer_id)
    site = session.get(Site, cred.site_id)
    mail.send(account.email, "Your door PIN",
              f"Your PIN for the doors of {customer.name if customer else 'your workplace'} "
              f"at {site.name if site else 'your site'} is: {pin}\n\n"
              "It opens that site's doors only. Keep it to yourself. Your administrator can "
              "issue a new one.")
    return cred


# ------------------------------------------------------------------------------ guests

@dataclasses.dataclass
class GuestInvitation:
    membership: Membership
    accesses: list[Access]


def invite_guest(session: Session, *, customer_id: uuid.UUID, email: str,
                 valid_from: dt.datetime, valid_to: dt.datetime,
                 door_ids: Sequence[uuid.UUID], first_name: str | None = None,
                 invited_by: uuid.UUID | None = None,
                 by: Membership | None = None) -> GuestInvitation:
    """A short-term guest: a membership with role "guest" valid from/to, accesses to the doors
    (by PIN or personal QR code, at the doors' readers), and a PIN and QR code sent by e-mail.

    Inviting the same e-mail again renews the window, the doors and both codes. The guest's
    name is used in the e-mail only, not stored (minimisation).
    """
    from entryfy.ops.accounts import find_by_email, normalise_email

    email = normalise_email(email)
    now = clock.now()
    check_validity(valid_from, valid_to)
    if valid_to <= now:
        raise Unprocessable("The guest's window has already ended.", slug="guest-window-past")
    if valid_to - valid_from > dt.timedelta(days=GUEST_MAX_DAYS):
        raise Unprocessable(f"Guests are short-term: at most {GUEST_MAX_DAYS} days.",
                            slug="guest-window-too-long")
    ids = list(dict.fromkeys(door_ids))
    if not ids:
        raise ValidationFailed({"door_ids": ["At least one door."]})
    doors = list(session.scalars(
        select(Door).where(Door.id.in_(ids), Door.customer_id == customer_id)))
    if len(doors) != len(ids):
        raise NotFound("No such door.", slug="door-not-found")

    account = find_by_email(session, email)
    same_person = func.lower(Membership.invited_email) == email
    if account is not None:
        same_person = same_person | (Membership.account_id == account.id)
    existing = session.scalar(select(Membership).where(
        Membership.customer_id == customer_id, same_person))
    if existing is not None and existing.role != "guest":
        raise Conflict("That person is already a member of this customer.",
                       slug="already-member")
    if existing is None:
        existing = Membership(id=uuid.uuid4(), customer_id=customer_id, role="guest",
                              account_id=account.id if account else None,
                              invited_email=None if account else email, active=True)
        session.add(existing)
    existing.active = True
    existing.valid_from, existing.valid_to = valid_from, valid_to
    session.flush()
    # Renewal: the guest's previous accesses and codes end here.
    old = select(AccessMember.access_id).where(AccessMember.membership_id == existing.id)
    for access in list(session.scalars(select(Access).where(
            Access.id.in_(old), Access.guest.is_(True), Access.customer_id == customer_id))):
        delete_access(session, access, by=by)
    _revoke_where(session, existing, by)
    by_site: dict[uuid.UUID, list[Door]] = {}
    for d in doors:
        by_site.setdefault(d.site_id, []).append(d)
    accesses = [
        create_access(session, customer_id=customer_id, name="Guest", guest=True,
                      door_ids=[d.id for d in site_doors], member_ids=[existing.id],
                      methods=["pin", "qr"], valid_from=valid_from, valid_to=valid_to, by=by)
        for site_doors in by_site.values()
    ]
    # One PIN per site of the visit: a PIN opens the doors of its own site only.
    pins = []
    for site_doors in by_site.values():
        _, pin = issue_pin(session, existing, site_id=site_doors[0].site_id,
                           valid_from=valid_from, valid_to=valid_to, by=by)
        pins.append((site_doors[0].site.name, pin))
    pin_lines = (f"Your PIN for the door keypads: {pins[0][1]}" if len(pins) == 1 else
                 "\n".join(f"Your PIN for the door keypads at {name}: {pin}"
                           for name, pin in sorted(pins)))
    qr = "EFG1." + secrets.token_urlsafe(24)
    _add_credential(session, existing, "qr", qr, valid_from=valid_from, valid_to=valid_to,
                    by=by)
    customer = session.get(Customer, customer_id)
    tz = _zone(doors[0].site.timezone)
    greeting = f"Hello {first_name}," if first_name else "Hello,"
    mail.send(email, f"Your visit to {customer.name if customer else 'us'}",
              f"{greeting}\n\nYou are welcome from "
              f"{valid_from.astimezone(tz):%Y-%m-%d %H:%M} to "
              f"{valid_to.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key}).\n"
              f"Doors: {', '.join(sorted(d.name for d in doors))}\n\n"
              f"{pin_lines}\n"
              f"Your QR code for the door readers is attached as an image: show it on "
              f"your phone or printed. Its text, should a reader ask for it:\n"
              f"{qr}\n\nNo app is needed. The codes stop working when your visit ends.",
              attachments=[mail.Attachment("entryfy-qr.png", "image/png", qr_png(qr))])
    record_change(session, by, "guest.invite", customer_id=customer_id,
                  object_type="membership", object_id=existing.id,
                  subject_id=existing.account_id)
    log.info("guest invited membership=%s by=%s", existing.id, invited_by)
    return GuestInvitation(existing, accesses)


# ------------------------------------------------------------------------------ controllers

CONTROLLER_KEY_PREFIX = "efc_"


def create_controller(session: Session, *, customer_id: uuid.UUID, name: str,
                      by: Membership | None = None) -> tuple[Controller, str]:
    """A new door controller and its key (a credential issued: audited), which is returned
    once and stored as SHA-256."""
    key = CONTROLLER_KEY_PREFIX + secrets.token_urlsafe(32)
    c = Controller(id=uuid.uuid4(), customer_id=customer_id, name=name,
                   key_hash=security.sha256_hex(key), list_version=0)
    session.add(c)
    session.flush()
    record_change(session, by, "controller.create", customer_id=customer_id,
                  object_type="controller", object_id=c.id)
    return c, key


def update_controller(session: Session, c: Controller, changes: dict[str, Any], *,
                      by: Membership | None = None) -> Controller:
    if "name" in changes:
        c.name = changes["name"]
    session.flush()
    record_change(session, by, "controller.update", customer_id=c.customer_id,
                  object_type="controller", object_id=c.id)
    return c


def delete_controller(session: Session, c: Controller, *, by: Membership | None = None
                      ) -> None:
    """Retire a controller: its key stops working (a credential revoked: audited)."""
    customer_id, controller_id = c.customer_id, c.id
    session.delete(c)
    session.flush()
    record_change(session, by, "controller.delete", customer_id=customer_id,
                  object_type="controller", object_id=controller_id)


def controller_by_key(session: Session, key: str) -> Controller | None:
    """The controller holding ``key`` (any customer: the key is the credential)."""
    from models.tenancy import system_scope

    if not key.startswith(CONTROLLER_KEY_PREFIX) or len(key) > 200:
        return None
    with system_scope(session, "door controller authentication by its key"):
        c = session.scalar(select(Controller).where(
            Controller.key_hash == security.sha256_hex(key)))
        customer = session.get(Customer, c.customer_id) if c is not None else None
    if c is None or customer is None or customer.status == "ended":
        return None
    return c


def is_online(c: Controller, at: dt.datetime | None = None) -> bool:
    at = at or clock.now()
    return c.last_seen_at is not None and at - c.last_seen_at <= CONTROLLER_ONLINE_WITHIN


def seen(session: Session, c: Controller) -> None:
    now = clock.now()
    # One write per half minute is enough for "online": spare the row on busy polling.
    if c.last_seen_at is None or now - c.last_seen_at > dt.timedelta(seconds=30):
        c.last_seen_at = now
        c.offline_since = None  # the worker's offline check flags it again if it goes quiet
        session.flush()


def _signing_key() -> Ed25519PrivateKey:
    seed = bytes.fromhex(security.keys().keyed_hash("controller-list-signing", "ed25519-v1"))
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_public_key() -> str:
    """The public key controllers verify credential lists with (raw 32 bytes, base64url)."""
    raw = _signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).decode()


def signing_key_id() -> str:
    return hashlib.sha256(signing_public_key().encode()).hexdigest()[:16]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _list_content(session: Session, c: Controller, now: dt.datetime) -> dict[str, Any]:
    doors = list(session.scalars(
        select(Door).where(Door.controller_id == c.id, Door.customer_id == c.customer_id)
        .order_by(Door.id)))
    door_ids = {d.id for d in doors}
    rows = session.execute(
        select(Access, AccessDoor.door_id)
        .join(AccessDoor, AccessDoor.access_id == Access.id)
        .where(AccessDoor.door_id.in_(door_ids), Access.customer_id == c.customer_id,
               (Access.valid_to.is_(None)) | (Access.valid_to > now))
    ).all() if door_ids else []
    accesses: dict[uuid.UUID, Access] = {}
    access_doors: dict[uuid.UUID, set[uuid.UUID]] = {}
    for a, did in rows:
        if not set(a.methods or []) & set(CONTROLLER_METHODS):
            continue
        accesses[a.id] = a
        access_doors.setdefault(a.id, set()).add(did)
    tz = {d.id: d.site.timezone for d in doors}
    members = session.execute(
        select(AccessMember.access_id, Membership)
        .join(Membership, Membership.id == AccessMember.membership_id)
        .where(AccessMember.access_id.in_(list(accesses)), Membership.active.is_(True),
               (Membership.valid_to.is_(None)) | (Membership.valid_to > now))
    ).all() if accesses else []
    by_member: dict[uuid.UUID, tuple[Membership, set[uuid.UUID]]] = {}
    for aid, m in members:
        by_member.setdefault(m.id, (m, set()))[1].add(aid)
    creds = list(session.scalars(
        select(DoorCredential).where(
            DoorCredential.membership_id.in_(list(by_member)),
            DoorCredential.customer_id == c.customer_id,
            (DoorCredential.valid_to.is_(None)) | (DoorCredential.valid_to > now))
        .order_by(DoorCredential.value_hash)
    )) if by_member else []
    credentials = []
    for cred in creds:
        m, aids = by_member[cred.membership_id]
        # A PIN counts only for accesses of its own site (decide() holds the same rule).
        usable = sorted(str(a) for a in aids if cred.kind in (accesses[a].methods or [])
                        and (cred.kind != "pin" or accesses[a].site_id == cred.site_id))
        value = credential_value(cred) if usable else None
        if value is None:
            continue
        starts = [t for t in (cred.valid_from, m.valid_from) if t is not None]
        ends = [t for t in (cred.valid_to, m.valid_to) if t is not None]
        credentials.append({
            "kind": cred.kind, "hash": controller_credential_hash(c.id, cred.kind, value),
            "valid_from": _iso(max(starts)) if starts else None,
            "valid_to": _iso(min(ends)) if ends else None,
            "access_ids": usable,
        })
    credentials.sort(key=lambda x: (x["kind"], x["hash"]))
    return {
        "controller_id": str(c.id),
        "customer_id": str(c.customer_id),
        # This controller's own key: its hashes match no other controller's list.
        "hash": {"alg": "HMAC-SHA256", "input": "<kind>:<value>",
                 "key": controller_hash_key(c.id).hex()},
        # Keypad lockout, applied by the controller per keypad (door), reported in its
        # events as reason "wrong_pin" / "too_many_attempts".
        "lockout": {"wrong_pin_limit": KEYPAD_WRONG_PIN_LIMIT,
                    "window_seconds": int(KEYPAD_LOCKOUT_WINDOW.total_seconds())},
        "doors": [{"id": str(d.id), "name": d.name, "timezone": tz[d.id]} for d in doors],
        "accesses": [
            {"id": str(a.id), "door_ids": sorted(str(x) for x in access_doors[a.id]),
             "valid_from": _iso(a.valid_from), "valid_to": _iso(a.valid_to),
             "schedule": a.schedule, "methods": [m for m in a.methods
                                                 if m in CONTROLLER_METHODS]}
            for a in sorted(accesses.values(), key=lambda a: str(a.id))
        ],
        "credentials": credentials,
    }


def credential_list(session: Session, c: Controller, *, nonce: str) -> dict[str, Any]:
    """The signed, versioned list of credentials this controller may accept.

    ``version`` grows by one whenever the content differs from what this controller was last
    given (a digest is kept on the controller row). The payload is signed with Ed25519; it
    carries the controller's id and the ``nonce`` it sent, so a list captured earlier (or for
    another controller) fails ``verify_credential_list`` however valid its signature.
    """
    now = clock.now()
    if session.get_bind().dialect.name == "postgresql":
        # Two polls at once must not both bump the version from the same digest.
        session.execute(select(Controller.id).where(Controller.id == c.id).with_for_update())
        session.refresh(c)
    content = _list_content(session, c, now)
    digest = hashlib.sha256(_canonical(content).encode()).hexdigest()
    if digest != c.list_digest:
        c.list_version = (c.list_version or 0) + 1
        c.list_digest = digest
        session.flush()
    payload = {"format": 1, "version": c.list_version, "issued_at": _iso(now),
               "nonce": nonce, **content}
    text = _canonical(payload)
    signature = _signing_key().sign(text.encode())
    return {
        "alg": "Ed25519", "key_id": signing_key_id(), "version": c.list_version,
        "payload": text, "signature": base64.urlsafe_b64encode(signature).decode(),
    }


class ListRefused(ValueError):
    """A credential list the controller must not use."""


def verify_credential_list(document: dict[str, Any], public_key_b64: str, *,
                           controller_id: str, nonce: str, known_version: int = 0
                           ) -> dict[str, Any]:
    """What a controller does with GET /controller/credentials (reference implementation).

    1. verify the Ed25519 ``signature`` over the exact bytes of ``payload`` (UTF-8) with the
       public key it was given when it was enrolled;
    2. parse ``payload``; require its ``controller_id`` to be its own and its ``nonce`` the
       one it just sent (a replayed older answer carries an older nonce);
    3. require ``version`` >= the version it already holds (never roll back).
    Any failure: keep the list it has. Returns the payload.
    """
    try:
        key = Ed25519PublicKey.from_public_bytes(
            base64.urlsafe_b64decode(public_key_b64 + "=" * (-len(public_key_b64) % 4)))
        sig = base64.urlsafe_b64decode(document["signature"] + "=" *
                                       (-len(document["signature"]) % 4))
        key.verify(sig, document["payload"].encode())
    except (InvalidSignature, KeyError, TypeError, ValueError, AttributeError):
        raise ListRefused("bad signature") from None
    payload = json.loads(document["payload"])
    if payload.get("controller_id") != controller_id:
        raise ListRefused("list for another controller")
    if not hmac.compare_digest(str(payload.get("nonce", "")), nonce):
        raise ListRefused("stale list: not the answer to this request")
    if not isinstance(payload.get("version"), int) or payload["version"] < known_version:
        raise ListRefused("stale list: older than the one held")
    return payload


def pending_commands(session: Session, c: Controller) -> list[UnlockCommand]:
    """Unlock commands for this controller's doors not yet delivered nor expired; delivering
    marks them, so each unlock happens once."""
    now = clock.now()
    cmds = list(session.scalars(
        select(UnlockCommand).where(
            UnlockCommand.controller_id == c.id,
            UnlockCommand.customer_id == c.customer_id,
            UnlockCommand.delivered_at.is_(None),
            UnlockCommand.expires_at > now,
        ).order_by(UnlockCommand.created_at, UnlockCommand.id)
        .with_for_update(skip_locked=True)
    ))
    for cmd in cmds:
        cmd.delivered_at = now
    session.flush()
    return cmds


def _controller_hashes(session: Session, c: Controller, doors: dict[uuid.UUID, Door]
                       ) -> dict[tuple[str, str], DoorCredential]:
    """(kind, this controller's hash) -> credential, for the members with an access to its
    doors: the hash a controller reports is its own (``controller_credential_hash``)."""
    if not doors:
        return {}
    members = (select(AccessMember.membership_id)
               .join(AccessDoor, AccessDoor.access_id == AccessMember.access_id)
               .where(AccessDoor.door_id.in_(list(doors))))
    out = {}
    for cred in session.scalars(select(DoorCredential).where(
            DoorCredential.customer_id == c.customer_id,
            DoorCredential.membership_id.in_(members))):
        value = credential_value(cred)
        if value is not None:
            out[(cred.kind, controller_credential_hash(c.id, cred.kind, value))] = cred
    return out


@dataclasses.dataclass
class ControllerEventsResult:
    recorded: int
    duplicates: int


def record_controller_events(session: Session, c: Controller,
                             events: Sequence[dict[str, Any]]) -> ControllerEventsResult:
    """Passages the controller decided itself. Each carries the controller's own
    ``event_id``: a retried post records each passage once (a unique constraint decides).
    Every door must be one of this controller's; otherwise nothing is recorded (422)."""
    now = clock.now()
    if len(events) > MAX_CONTROLLER_EVENTS:
        raise ValidationFailed({"events": [f"At most {MAX_CONTROLLER_EVENTS} per post."]})
    doors = {d.id: d for d in session.scalars(
        select(Door).where(Door.controller_id == c.id, Door.customer_id == c.customer_id))}
    for i, e in enumerate(events):
        if e["door_id"] not in doors:
            raise Unprocessable(f"Event {i}: not a door of this controller.",
                                slug="not-this-controllers-door")
        if e["occurred_at"] > now + CONTROLLER_CLOCK_SKEW:
            raise Unprocessable(f"Event {i}: in the future; check the controller's clock.",
                                slug="event-in-future")
        if e["occurred_at"] < now - CONTROLLER_EVENT_MAX_AGE:
            raise Unprocessable(f"Event {i}: older than the access log keeps.",
                                slug="event-too-old")
    seen_ids = set(session.scalars(select(AccessEvent.controller_event_id).where(
        AccessEvent.controller_id == c.id,
        AccessEvent.controller_event_id.in_([e["event_id"] for e in events]))))
    by_hash = (_controller_hashes(session, c, doors)
               if any(e.get("credential_hash") for e in events) else {})
    recorded = duplicates = 0
    for e in events:
        if e["event_id"] in seen_ids:
            duplicates += 1
            continue
        membership = None
        if e.get("credential_hash"):
            cred = by_hash.get((e["method"], e["credential_hash"]))
            if cred is not None:
                membership = session.scalar(select(Membership).where(
                    Membership.id == cred.membership_id,
                    Membership.customer_id == c.customer_id))
        ev = AccessEvent(
            id=uuid.uuid4(), customer_id=c.customer_id, occurred_at=e["occurred_at"],
            door_id=e["door_id"], account_id=membership.account_id if membership else None,
            membership_id=membership.id if membership else None, method=e["method"],
            direction=e.get("direction"), outcome=e["outcome"], reason=e.get("reason"),
            source="controller", controller_id=c.id, controller_event_id=e["event_id"],
            recorded_at=now,
        )
        try:
            with session.begin_nested():
                session.add(ev)
                session.flush()
        except IntegrityError:
            duplicates += 1  # the same post, retried concurrently: the other one recorded it
            continue
        seen_ids.add(e["event_id"])
        recorded += 1
        emit_access_event(session, ev)
        if e["outcome"] == "granted" and membership is not None:
            _passage(session, doors[e["door_id"]], membership.account_id, e.get("direction"),
                     e["occurred_at"])
    session.flush()
    return ControllerEventsResult(recorded, duplicates)
