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
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import hmac
from typing import Any

from entryfy.ops.doors import in_schedule
from models.vocab import ACCESS_STAGES


@dataclasses.dataclass(frozen=True)
class OfflineDecision:
    granted: bool
    reason: str | None
    access_id: str | None = None


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


def decide_offline(payload: dict[str, Any], *, door_id: str, kind: str, value: str,
                   at: dt.datetime, keypads: Keypads | None = None) -> OfflineDecision:
    """May what was typed (``kind`` "pin") or read ("keycard", "qr") open ``door_id`` now,
    by this (verified) list? Reasons as ``doors.decide`` names them."""
    door = next((d for d in payload["doors"] if d["id"] == door_id), None)
    if door is None:
        raise ValueError("not a door of this controller")
    if kind == "pin" and keypads is not None and keypads.recent(door_id, at) >= keypads.limit:
        return OfflineDecision(False, "too_many_attempts")
    wanted = list_hash(payload, kind, value)
    cred = next((c for c in payload["credentials"]
                 if c["kind"] == kind and hmac.compare_digest(c["hash"], wanted)), None)
    if cred is None or not _valid(cred["valid_from"], cred["valid_to"], at):
        if kind == "pin":
            if keypads is not None:
                keypads.count_wrong(door_id, at)
            return OfflineDecision(False, "wrong_pin")
        return OfflineDecision(False, "credential_not_valid")
    accesses = {a["id"]: a for a in payload["accesses"]}
    stages = ACCESS_STAGES
    best = -1
    for aid in cred["access_ids"]:
        a = accesses.get(aid)
        if a is None or door_id not in a["door_ids"]:
            continue
        if not _valid(a["valid_from"], a["valid_to"], at):
            best = max(best, 0)
        elif not in_schedule(a["schedule"], at, door["timezone"]):
            best = max(best, 1)
        elif kind not in a["methods"]:
            best = max(best, 2)
        else:
            return OfflineDecision(True, None, aid)
    return OfflineDecision(False, stages[best] if best >= 0 else "no_access")
