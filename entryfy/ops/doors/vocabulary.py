"""The doors' vocabulary and limits: channels and the methods they cover, every reason to refuse,
the days of a schedule, and the numbers (PIN length, lockouts, lifetimes) the rules use."""

from __future__ import annotations

import datetime as dt

# Every reason to refuse, in the order the decision checks them (RefusalReason), and the days
# of a weekly schedule: models.vocab holds them; the door rules read them from here too.
from models.vocab import DAYS as DAYS
from models.vocab import REASONS as REASONS
from models.vocab import Channel, CredentialKind, Method

# How a person presents themselves at a door -> the access methods that cover it.
#   app: POST /doors/{id}/open;  scan: the app scanned the door's printed Entry/Exit code;
#   pin: a keypad;  keycard: a card reader (with a keypad for keycard_pin: card and PIN);
#   qr: a reader scanned a guest's personal QR code.
# The first method a channel lists is the one an attempt is recorded as when no access covers it.
CHANNELS: dict[str, tuple[str, ...]] = {
    Channel.APP: (Method.APP, Method.APP_PIN),
    Channel.SCAN: (Method.QR, Method.QR_PIN),
    Channel.PIN: (Method.PIN,),
    Channel.KEYCARD: (Method.KEYCARD, Method.KEYCARD_PIN),
    Channel.QR: (Method.QR,),
}
NEEDS_PIN = frozenset({Method.APP_PIN, Method.QR_PIN, Method.KEYCARD_PIN})
PHONE_CHANNELS = frozenset({Channel.APP, Channel.SCAN})
# Methods a controller decides itself, offline, from its credential list, and the kinds of
# credential each one takes (keycard_pin: the card and the person's PIN of the site).
CONTROLLER_METHODS = (Method.PIN, Method.KEYCARD, Method.QR, Method.KEYCARD_PIN)
CREDENTIAL_KINDS_OF: dict[str, tuple[str, ...]] = {
    Method.PIN: (CredentialKind.PIN,), Method.KEYCARD: (CredentialKind.KEYCARD,),
    Method.QR: (CredentialKind.QR,),
    Method.KEYCARD_PIN: (CredentialKind.KEYCARD, CredentialKind.PIN)}
# A guest's accesses: the door keypads (PIN) and readers (personal QR code), no app needed.
GUEST_METHODS = (Method.PIN, Method.QR)
# Channels where a reader presents a credential (its keyed hash) rather than a PIN.
READER_CHANNELS = frozenset({Channel.KEYCARD, Channel.QR})


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
