"""Physical access control: the door decision, accesses, guests, door credentials, and the
door controllers' signed credential lists, unlock commands and passages.

One module per concern; this package re-exports the names callers use, so
``from entryfy.ops import doors`` then ``doors.decide(...)`` reads as before:

- ``vocabulary``: channels, methods, reasons to refuse, days, limits;
- ``schedules``: validity windows and weekly schedules in the site's time zone;
- ``credentials``: PINs, keycards, QR codes, their keyed hashes, issuing and revoking;
- ``decision``: ``decide`` and ``attempt`` (an opening from the phone, recorded);
- ``phone``: the person's memberships and the doors they may open;
- ``admin``: doors and accesses, created, changed, deleted, loaded;
- ``guests``: short-term guests invited by e-mail;
- ``controllers``: controllers, their signed credential lists, unlock commands, events.

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

from entryfy.ops.doors.admin import (
    create_access,
    create_door,
    delete_access,
    delete_door,
    load_access,
    load_door,
    new_door_code,
    update_access,
    update_door,
)
from entryfy.ops.doors.controllers import (
    CONTROLLER_KEY_PREFIX,
    ControllerEventsResult,
    ListRefused,
    controller_by_key,
    create_controller,
    credential_list,
    delete_controller,
    is_online,
    load_controller,
    pending_commands,
    record_controller_events,
    seen,
    signing_key_id,
    signing_public_key,
    update_controller,
    verify_credential_list,
)
from entryfy.ops.doors.credentials import (
    add_keycard,
    controller_credential_hash,
    controller_hash_key,
    credential_hash,
    credential_hash_key,
    credential_value,
    issue_member_pin,
    issue_pin,
    load_credential,
    normalise_keycard,
    pin_site,
    revoke_credential,
)
from entryfy.ops.doors.decision import (
    Decision,
    Position,
    attempt,
    candidate_accesses,
    decide,
    emit_access_event,
    membership_refusal,
    recent_wrong_pins,
)
from entryfy.ops.doors.guests import (
    GuestInvitation,
    invite_guest,
)
from entryfy.ops.doors.phone import (
    DoorForMe,
    door_by_code,
    door_for_opening,
    doors_for,
    memberships_of,
)
from entryfy.ops.doors.schedules import (
    check_validity,
    in_schedule,
    validate_schedule,
)
from entryfy.ops.doors.vocabulary import (
    CHANNELS,
    CONTROLLER_CLOCK_SKEW,
    CONTROLLER_EVENT_MAX_AGE,
    CONTROLLER_METHODS,
    CONTROLLER_ONLINE_WITHIN,
    DAYS,
    GUEST_MAX_DAYS,
    KEYPAD_LOCKOUT_WINDOW,
    KEYPAD_WRONG_PIN_LIMIT,
    MAX_CONTROLLER_EVENTS,
    NEEDS_PIN,
    PHONE_CHANNELS,
    PIN_DIGITS,
    REASONS,
    UNLOCK_COMMAND_TTL,
    WRONG_PIN_LIMIT,
    WRONG_PIN_WINDOW,
)

__all__ = [
    "CHANNELS",
    "CONTROLLER_CLOCK_SKEW",
    "CONTROLLER_EVENT_MAX_AGE",
    "CONTROLLER_KEY_PREFIX",
    "CONTROLLER_METHODS",
    "CONTROLLER_ONLINE_WITHIN",
    "DAYS",
    "GUEST_MAX_DAYS",
    "KEYPAD_LOCKOUT_WINDOW",
    "KEYPAD_WRONG_PIN_LIMIT",
    "MAX_CONTROLLER_EVENTS",
    "NEEDS_PIN",
    "PHONE_CHANNELS",
    "PIN_DIGITS",
    "REASONS",
    "UNLOCK_COMMAND_TTL",
    "WRONG_PIN_LIMIT",
    "WRONG_PIN_WINDOW",
    "ControllerEventsResult",
    "Decision",
    "DoorForMe",
    "GuestInvitation",
    "ListRefused",
    "Position",
    "add_keycard",
    "attempt",
    "candidate_accesses",
    "check_validity",
    "controller_by_key",
    "controller_credential_hash",
    "controller_hash_key",
    "create_access",
    "create_controller",
    "create_door",
    "credential_hash",
    "credential_hash_key",
    "credential_list",
    "credential_value",
    "decide",
    "delete_access",
    "delete_controller",
    "delete_door",
    "door_by_code",
    "door_for_opening",
    "doors_for",
    "emit_access_event",
    "in_schedule",
    "invite_guest",
    "is_online",
    "issue_member_pin",
    "issue_pin",
    "load_access",
    "load_controller",
    "load_credential",
    "load_door",
    "membership_refusal",
    "memberships_of",
    "new_door_code",
    "normalise_keycard",
    "pending_commands",
    "pin_site",
    "recent_wrong_pins",
    "record_controller_events",
    "revoke_credential",
    "seen",
    "signing_key_id",
    "signing_public_key",
    "update_access",
    "update_controller",
    "update_door",
    "validate_schedule",
    "verify_credential_list",
]
