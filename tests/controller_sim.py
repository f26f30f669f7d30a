"""A simulated door controller for the tests: it verifies its signed credential list exactly
as docs/DOORS.md tells a controller to, then decides from that list alone (the reference
``entryfy.ops.keypad.decide_offline``), keeping the state a real controller keeps itself:
its keypads' wrong PINs, who it let in at each site (anti-passback) and each door's first
person in. The tests hold its answers to the server's ``decide``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import Any

from entryfy.ops import doors as ops
from entryfy.ops import keypad
from entryfy.ops.doors.unlock_schedules import current_window, door_unlocked


@dataclasses.dataclass
class SimController:
    controller_id: str
    public_key: str
    payload: dict[str, Any] | None = None
    version: int = 0
    inside: dict[tuple[str, str], dt.datetime] = dataclasses.field(default_factory=dict)
    first_in: dict[str, dt.datetime] = dataclasses.field(default_factory=dict)
    keypads: keypad.Keypads | None = None

    def accept(self, fetch: Any) -> dict[str, Any]:
        """``fetch(nonce)`` returns the server's answer; verified, it replaces the list."""
        nonce = secrets.token_urlsafe(16)
        payload = ops.verify_credential_list(fetch(nonce), self.public_key,
                                             controller_id=self.controller_id, nonce=nonce,
                                             known_version=self.version)
        self.payload, self.version = payload, payload["version"]
        if self.keypads is None:
            self.keypads = keypad.Keypads.from_list(payload)
        return payload

    def door(self, door_id: str) -> dict[str, Any]:
        assert self.payload is not None
        return next(d for d in self.payload["doors"] if d["id"] == door_id)

    def decide(self, door_id: str, kind: str, value: str, at: dt.datetime, *,
               pin: str | None = None, direction: str | None = None
               ) -> keypad.OfflineDecision:
        assert self.payload is not None, "no list yet"
        d = keypad.decide_offline(self.payload, door_id=door_id, kind=kind, value=value,
                                  at=at, keypads=self.keypads, pin=pin, direction=direction,
                                  inside=self.inside)
        if d.granted:
            door = self.door(door_id)
            begin = current_window(door["unlock_schedule"], door["holidays"],
                                   door["timezone"], at)
            if door["first_person_in"] and begin is not None and (
                    self.first_in.get(door_id) is None or self.first_in[door_id] < begin):
                self.first_in[door_id] = at
            if d.anti_passback is not None and d.holder is not None:
                where = (d.holder, door["site_id"])
                if direction == "in":
                    self.inside[where] = at
                elif direction == "out":
                    self.inside.pop(where, None)
        return d

    def unlocked(self, door_id: str, at: dt.datetime) -> bool:
        door = self.door(door_id)
        lockdown = door["lockdown"]
        return door_unlocked(door["unlock_schedule"], door["holidays"], door["timezone"], at,
                             first_person_in=door["first_person_in"],
                             first_in_at=self.first_in.get(door_id),
                             lockdown_mode=lockdown["mode"] if lockdown else None)
