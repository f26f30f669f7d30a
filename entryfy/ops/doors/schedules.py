"""When an access counts: validity windows (valid_from/valid_to) and weekly schedules read on
the wall clock of the site's time zone."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from entryfy.errors import ValidationFailed
from entryfy.ops.doors.vocabulary import DAYS

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _valid_at(valid_from: dt.datetime | None, valid_to: dt.datetime | None,
              at: dt.datetime) -> bool:
    return (valid_from is None or valid_from <= at) and (valid_to is None or at < valid_to)


def check_validity(valid_from: dt.datetime | None, valid_to: dt.datetime | None) -> None:
    if valid_from is not None and valid_to is not None and valid_from >= valid_to:
        raise ValidationFailed({"valid_to": ["Must be after valid_from."]})


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
