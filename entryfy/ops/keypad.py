"""What a door controller does offline with its signed credential list: the reference
implementation of its keypad and readers (as ``doors.verify_credential_list`` is of fetching
the list). Tests hold it to ``doors.decide``: the online decision and the offline list must
decide alike.

A controller hashes what its keypad or reader got with the key in its own list
(``hash.key``, that controller's alone) and looks the hash up; then the access's door,
validity, schedule (in the door's time zone) and method. Its keypads lock: after
``lockout.wrong_pin_limit`` wrong PINs within ``lockout.window_seconds`` a keypad refuses every
PIN until the window has passed, and reports each refusal in its events (``wrong_pin``,
``too_many_attempts``), so a thief at the door cannot try the 10^6 PINs.

The list also carries each door's lockdown (``lockdown``: ``lockdown`` refuses all but the
exempt roles, ``unlock_all`` lets every listed person through), its unlock schedule, the
accesses' anti-passback rule and the offline trust period: after ``trust_until`` the
controller refuses everything (``list_expired``) until it gets a newer list. Anti-passback
offline: the controller remembers who (``holder``) it let in at a site, until the site's next
local midnight (``passback.still_inside``), as the server does.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import hmac
from typing import Any

from entryfy.ops.doors import in_schedule
from entryfy.ops.doors.passback import still_inside
from models.vocab import ACCESS_STAGES


@dataclasses.dataclass(frozen=True)
class OfflineDecision:
    granted: bool
    reason: str | None
    access_id: str | None = None
    # Granted but logged with this reason (soft anti-passback).
    warning: str | None = None
    # The person (list's holder id) and the rule that applied, for the anti-passback state.
    holder: str | None = None
    anti_passback: str | None = None


@dataclasses.dataclass
class Keypads:
    """Wrong PINs per keypad (door), for the lockout."""

    limit: int
    window: dt.timedelta
    wrong: dict[str, collections.deque[dt.datetime]] = dataclasses.field(
        default_factory=dict)

    @classmethod
    def from_list(cls, payload: dict[str, Any]) -> Keypads:
        lockout = payload["lockout"]
        return cls(int(lockout["wrong_pin_limit"]),
                   dt.timedelta(seconds=int(lockout["window_seconds"])))

    def recent(self, door_id: str, at: dt.datetime) -> int:
        q = self.wrong.setdefault(door_id, collections.deque())
        while q and q[0] <= at - self.window:
            q.popleft()
        return len(q)

    def count_wrong(self, door_id: str, at: dt.datetime) -> None:
        self.wrong.setdefault(door_id, collections.deque()).append(at)


def _parse(t: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(t) if t else None


def _valid(valid_from: str | None, valid_to: str | None, at: dt.datetime) -> bool:
    start, end = _parse(valid_from), _parse(valid_to)
    return (start is None or start <= at) and (end is None or at < end)


def list_hash(payload: dict[str, Any], kind: str, value: str) -> str:
    return hmac.new(bytes.fromhex(payload["hash"]["key"]), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def _find(payload: dict[str, Any], kind: str, value: str) -> dict[str, Any] | None:
    wanted = list_hash(payload, kind, value)
    return next((c for c in payload["credentials"]
                 if c["kind"] == kind and hmac.compare_digest(c["hash"], wanted)), None)


def decide_offline(payload: dict[str, Any], *, door_id: str, kind: str, value: str,
                   at: dt.datetime, keypads: Keypads | None = None, pin: str | None = None,
                   direction: str | None = None,
                   inside: dict[tuple[str, str], dt.datetime] | None = None
                   ) -> OfflineDecision:
    """May what was typed (``kind`` "pin") or read ("keycard", "qr") open ``door_id`` now,
    by this (verified) list? Reasons as ``doors.decide`` names them. ``pin``: what the
    keypad of a card reader got (keycard_pin). ``inside``: (holder, site_id) -> when the
    controller let that person in (anti-passback)."""
    door = next((d for d in payload["doors"] if d["id"] == door_id), None)
    if door is None:
        raise ValueError("not a door of this controller")
    trust_until = _parse(payload.get("trust_until"))
    if trust_until is not None and at >= trust_until:
        return OfflineDecision(False, "list_expired")
    if kind == "pin" and keypads is not None and keypads.recent(door_id, at) >= keypads.limit:
        return OfflineDecision(False, "too_many_attempts")
    cred = _find(payload, kind, value)
    if cred is None or not _valid(cred["valid_from"], cred["valid_to"], at):
        if kind == "pin":
            if keypads is not None:
                keypads.count_wrong(door_id, at)
            return OfflineDecision(False, "wrong_pin")
        return OfflineDecision(False, "credential_not_valid")
    holder = cred.get("holder")
    lockdown = door.get("lockdown")
    if lockdown is not None:
        if lockdown["mode"] == "unlock_all":
            return OfflineDecision(True, None, None, holder=holder)
        if cred.get("role") not in lockdown["exempt_roles"]:
            return OfflineDecision(False, "lockdown", holder=holder)
    accesses = {a["id"]: a for a in payload["accesses"]}
    stages = ACCESS_STAGES
    best, needs_pin = -1, None
    for aid in cred["access_ids"]:
        a = accesses.get(aid)
        if a is None or door_id not in a["door_ids"]:
            continue
        if not _valid(a["valid_from"], a["valid_to"], at):
            best = max(best, 0)
        elif not in_schedule(a["schedule"], at, door["timezone"]):
            best = max(best, 1)
        elif kind in a["methods"]:
            return _passback(a, door, cred, direction, inside, at)
        elif kind == "keycard" and "keycard_pin" in a["methods"]:
            needs_pin = needs_pin or a
        else:
            best = max(best, 2)
    if needs_pin is not None:
        return _keycard_pin(payload, needs_pin, door, cred, pin, direction, inside, at,
                            keypads)
    return OfflineDecision(False, stages[best] if best >= 0 else "no_access")


def _keycard_pin(payload: dict[str, Any], a: dict[str, Any], door: dict[str, Any],
                 card: dict[str, Any], pin: str | None, direction: str | None,
                 inside: dict[tuple[str, str], dt.datetime] | None, at: dt.datetime,
                 keypads: Keypads | None) -> OfflineDecision:
    """The card covers the door by keycard_pin: the PIN must be its holder's, for this
    access (a PIN is listed only for accesses of its own site)."""
    if not pin:
        return OfflineDecision(False, "pin_required", a["id"])
    if keypads is not None and keypads.recent(door["id"], at) >= keypads.limit:
        return OfflineDecision(False, "too_many_attempts", a["id"])
    p = _find(payload, "pin", pin)
    if (p is None or p.get("holder") != card.get("holder") or a["id"] not in p["access_ids"]
            or not _valid(p["valid_from"], p["valid_to"], at)):
        if keypads is not None:
            keypads.count_wrong(door["id"], at)
        return OfflineDecision(False, "wrong_pin", a["id"])
    return _passback(a, door, card, direction, inside, at)


def _passback(a: dict[str, Any], door: dict[str, Any], cred: dict[str, Any],
              direction: str | None, inside: dict[tuple[str, str], dt.datetime] | None,
              at: dt.datetime) -> OfflineDecision:
    rule = a.get("anti_passback", "off")
    if rule == "off" or cred.get("role") in a.get("anti_passback_exempt_roles", []):
        return OfflineDecision(True, None, a["id"], holder=cred.get("holder"))
    entered = (inside or {}).get((cred.get("holder") or "", door["site_id"]))
    if direction == "in" and still_inside(entered, door["timezone"], at):
        if rule == "hard":
            return OfflineDecision(False, "anti_passback", a["id"], holder=cred.get("holder"),
                                   anti_passback=rule)
        return OfflineDecision(True, None, a["id"], warning="anti_passback",
                               holder=cred.get("holder"), anti_passback=rule)
    return OfflineDecision(True, None, a["id"], holder=cred.get("holder"), anti_passback=rule)
