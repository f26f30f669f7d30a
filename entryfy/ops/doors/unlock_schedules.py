"""Door unlock schedules: when a door stands unlocked for everyone (a reception door 08:00 to
17:00 on weekdays), except on holidays, optionally only once the first authorised person of
the window has come in (first-person-in). A lockdown overrides it either way.

Windows are on the site's wall clock (``Site.timezone``), as access schedules are, but an
unlock window never crosses midnight (``end`` after ``start``; a night-long opening is two
windows) and windows of one day must not overlap: an admin who wrote either made a mistake,
and the door's state must be unambiguous for the controller deciding offline. The same
function (``door_unlocked``) answers for the server (``unlocked_now``) and, from the signed
list, for the controllers (entryfy.ops.keypad).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlalchemy.orm import object_session

from entryfy import clock
from entryfy.errors import Unprocessable, ValidationFailed
from entryfy.ops.doors.schedules import _minutes, _zone, validate_schedule
from entryfy.ops.doors.vocabulary import DAYS
from models import Door, Lockdown

# Holidays: dates from a year back to five years ahead (a typo such as 2062 is refused).
HOLIDAYS_BACK = dt.timedelta(days=366)
HOLIDAYS_AHEAD = dt.timedelta(days=5 * 366)
MAX_HOLIDAYS = 400


def validate_unlock_schedule(schedule: Any) -> list[dict[str, Any]] | None:
    """None (never unlocked by schedule) or windows ``{days, start, end}`` with ``end`` after
    ``start`` and no two windows overlapping on a day. 422 ``unlock-schedule-invalid`` with
    field messages otherwise."""
    if schedule is None:
        return None
    try:
        windows = validate_schedule(schedule)
    except ValidationFailed as e:
        raise Unprocessable("The unlock schedule is not valid.", slug="unlock-schedule-invalid",
                            errors={"unlock_" + k: v for k, v in e.extra["errors"].items()}
                            ) from None
    assert windows is not None
    errors: dict[str, list[str]] = {}
    for i, w in enumerate(windows):
        if _minutes(w["end"]) <= _minutes(w["start"]):
            errors[f"unlock_schedule.{i}"] = [
                "Inverted: a window ends after it starts (an unlock window does not cross "
                "midnight; use two windows)."]
    if not errors:
        for day in DAYS:
            spans = sorted((_minutes(w["start"]), _minutes(w["end"]), i)
                           for i, w in enumerate(windows) if day in w["days"])
            for (_, end, i), (start, _, j) in itertools.pairwise(spans):
                if start < end:
                    errors.setdefault(f"unlock_schedule.{j}", []).append(
                        f"Overlaps window {i} on {day}.")
    if errors:
        raise Unprocessable("The unlock schedule is not valid.", slug="unlock-schedule-invalid",
                            errors=errors)
    return windows


def validate_holidays(holidays: Any, today: dt.date | None = None) -> list[str] | None:
    """Dates "YYYY-MM-DD" (the site's local dates) between a year back and five years ahead;
    sorted, duplicates dropped. 422 ``holidays-invalid`` otherwise."""
    if holidays is None:
        return None
    today = today or clock.now().date()
    if not isinstance(holidays, list) or len(holidays) > MAX_HOLIDAYS:
        raise Unprocessable("Holidays are a list of dates.", slug="holidays-invalid",
                            errors={"holidays": [f"At most {MAX_HOLIDAYS} dates."]})
    errors: dict[str, list[str]] = {}
    out = set()
    for i, h in enumerate(holidays):
        try:
            d = dt.date.fromisoformat(h) if isinstance(h, str) and len(h) == 10 else None
        except ValueError:
            d = None
        if d is None:
            errors[f"holidays.{i}"] = ["A date YYYY-MM-DD."]
        elif not today - HOLIDAYS_BACK <= d <= today + HOLIDAYS_AHEAD:
            errors[f"holidays.{i}"] = ["Between a year ago and five years ahead."]
        else:
            out.add(d.isoformat())
    if errors:
        raise Unprocessable("The holidays are not valid.", slug="holidays-invalid",
                            errors=errors)
    return sorted(out)


def current_window(schedule: list[dict[str, Any]] | None, holidays: list[str] | None,
                   tz: str, at: dt.datetime) -> dt.datetime | None:
    """The start (aware, UTC) of the unlock window ``at`` falls in; None outside every window
    and on holidays. Wall-clock times, so 08:00 stays 08:00 across daylight saving."""
    if not schedule:
        return None
    zone = _zone(tz)
    local = at.astimezone(zone)
    if holidays and local.date().isoformat() in holidays:
        return None
    minute = local.hour * 60 + local.minute
    today = DAYS[local.weekday()]
    for w in schedule:
        start, end = _minutes(w["start"]), _minutes(w["end"])
        if today in w["days"] and start <= minute < end:
            begin = dt.datetime.combine(local.date(), dt.time(start // 60, start % 60),
                                        tzinfo=zone)
            return begin.astimezone(dt.UTC)
    return None


def door_unlocked(schedule: list[dict[str, Any]] | None, holidays: list[str] | None, tz: str,
                  at: dt.datetime, *, first_person_in: bool = False,
                  first_in_at: dt.datetime | None = None,
                  lockdown_mode: str | None = None) -> bool:
    """Whether the door stands unlocked for everyone at ``at``: an unlock-all says yes, a
    lockdown says no, else its unlock window (not on a holiday; with first-person-in only
    once someone was let in during this window)."""
    if lockdown_mode is not None:
        return lockdown_mode == "unlock_all"
    begin = current_window(schedule, holidays, tz, at)
    if begin is None:
        return False
    return not first_person_in or (first_in_at is not None and begin <= first_in_at <= at)


def note_first_in(door: Door, at: dt.datetime) -> None:
    """A person was let in through ``door`` at ``at``: with first-person-in, the window's
    first such passage unlocks the door for the rest of the window."""
    if not door.first_person_in or not door.unlock_schedule:
        return
    begin = current_window(door.unlock_schedule, door.holidays, door.site.timezone, at)
    if begin is not None and (door.first_in_at is None or door.first_in_at < begin):
        door.first_in_at = at


def unlocked_now(door: Door, at: dt.datetime | None = None) -> bool:
    """``door_unlocked`` for a loaded door, now (``unlocked_now`` for admins)."""
    mode = None
    if door.site.lockdown_id is not None:
        session = object_session(door)
        lockdown = session.get(Lockdown, door.site.lockdown_id) if session else None
        mode = lockdown.mode if lockdown is not None else None
    return door_unlocked(door.unlock_schedule, door.holidays, door.site.timezone,
                         at or clock.now(), first_person_in=door.first_person_in,
                         first_in_at=door.first_in_at, lockdown_mode=mode)
