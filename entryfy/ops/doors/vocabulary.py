"""The doors' vocabulary and limits: channels and the methods they cover, every reason to refuse,
the days of a schedule, and the numbers (PIN length, lockouts, lifetimes) the rules use."""

from __future__ import annotations

import datetime as dt

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

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

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
