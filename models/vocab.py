"""The vocabularies: every closed set of words the data stores or the API accepts, in one place.

Each is a ``StrEnum``: a member *is* its string (``Method.APP == "app"``, ``json.dumps`` writes
``"app"``), so what is stored and what the JSON says stay what they were. The tuples beside
them (``values``) feed marshmallow's ``OneOf``, the OpenAPI ``enum`` and the check constraints
(``in_check``), whose text stays exactly what the migrations created.

Nothing here imports anything of the project: models, operations and views all use it.
"""

from __future__ import annotations

import enum


def values(vocab: type[enum.StrEnum]) -> tuple[str, ...]:
    """The words of a vocabulary as plain strings, in declaration order."""
    return tuple(member.value for member in vocab)


def in_check(column: str, words: tuple[str, ...], *, nullable: bool = False) -> str:
    """The SQL of a check constraint: ``column IN ('a', 'b')`` (``column IS NULL OR ...``)."""
    clause = f"{column} IN ({', '.join(repr(str(w)) for w in words)})"
    return f"{column} IS NULL OR {clause}" if nullable else clause


# ------------------------------------------------------------------------------ people

class Role(enum.StrEnum):
    """A membership's role in one customer. foreman: a member who may also register entries
    for colleagues and see who is on site. guest: a short-term visitor (doors only).
    hardware_manager: manages door controllers and doors, not people or accesses."""

    MEMBER = "member"
    ADMIN = "admin"
    OPERATOR = "operator"
    GUEST = "guest"
    FOREMAN = "foreman"
    HARDWARE_MANAGER = "hardware_manager"


class StaffRole(enum.StrEnum):
    """The vendor's staff (accounts.staff_role); customers' people have none."""

    SUPPORT = "support"
    PLATFORM_ADMIN = "platform_admin"


class CustomerStatus(enum.StrEnum):
    ACTIVE = "active"
    OFFBOARDING = "offboarding"
    ENDED = "ended"


MEMBER_ROLES = values(Role)
STAFF_ROLES = values(StaffRole)
CUSTOMER_STATUSES = values(CustomerStatus)


# ------------------------------------------------------------------------------ sites, entries

class GeofenceMode(enum.StrEnum):
    """enforce: a check-in outside the site is refused; record: accepted and marked."""

    ENFORCE = "enforce"
    RECORD = "record"


class EntrySource(enum.StrEnum):
    """Where an entry (check-in) came from: app: the person's phone; door: a turnstile passage;
    admin: an admin's action; kiosk: a site device (identity number or ID06 card)."""

    APP = "app"
    DOOR = "door"
    ADMIN = "admin"
    KIOSK = "kiosk"


class Direction(enum.StrEnum):
    """A passage's direction: in (check-in) or out (check-out)."""

    IN = "in"
    OUT = "out"


GEOFENCE_MODES = values(GeofenceMode)
ENTRY_SOURCES = values(EntrySource)
DIRECTIONS = values(Direction)


# ------------------------------------------------------------------------------ doors

class Method(enum.StrEnum):
    """How an access lets a person through.

    app / app_pin: opened from the app (POST /doors/{id}/open), the PIN variant asks for the
    PIN. qr / qr_pin: the app scans the door's printed Entry/Exit code; a controller also reads
    a guest's personal QR code as "qr". pin: a keypad; keycard: a card reader (controllers);
    keycard_pin: a card reader with a keypad, the card and the person's PIN of the site.
    """

    APP = "app"
    APP_PIN = "app_pin"
    QR = "qr"
    QR_PIN = "qr_pin"
    PIN = "pin"
    KEYCARD = "keycard"
    KEYCARD_PIN = "keycard_pin"


class Channel(enum.StrEnum):
    """How a person presents themselves at a door (``entryfy.ops.doors.CHANNELS`` maps each to
    the methods that cover it). app: POST /doors/{id}/open; scan: the app scanned the door's
    printed Entry/Exit code; pin: a keypad; keycard: a card reader; qr: a reader scanned a
    guest's personal QR code."""

    APP = "app"
    SCAN = "scan"
    PIN = "pin"
    KEYCARD = "keycard"
    QR = "qr"


class CredentialKind(enum.StrEnum):
    """A door credential: a PIN, a keycard number, a guest's personal QR code."""

    PIN = "pin"
    KEYCARD = "keycard"
    QR = "qr"


class Outcome(enum.StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


class AccessEventSource(enum.StrEnum):
    """Who decided a door attempt: the server (from the app) or a controller (offline)."""

    APP = "app"
    CONTROLLER = "controller"


class RefusalReason(enum.StrEnum):
    """Every reason to refuse a door opening, in the order the decision checks them."""

    MEMBERSHIP_INACTIVE = "membership_inactive"
    MEMBERSHIP_NOT_YET_VALID = "membership_not_yet_valid"
    MEMBERSHIP_EXPIRED = "membership_expired"
    LOCKDOWN = "lockdown"
    NO_ACCESS = "no_access"
    ACCESS_NOT_VALID = "access_not_valid"
    OUTSIDE_SCHEDULE = "outside_schedule"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PIN_REQUIRED = "pin_required"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    WRONG_PIN = "wrong_pin"
    CREDENTIAL_NOT_VALID = "credential_not_valid"
    POSITION_REQUIRED = "position_required"
    OUTSIDE_GEOFENCE = "outside_geofence"
    ANTI_PASSBACK = "anti_passback"


class Day(enum.StrEnum):
    """The days of a weekly schedule, Monday first (``datetime.weekday()`` order)."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


METHODS = values(Method)
CHANNEL_NAMES = values(Channel)
CREDENTIAL_KINDS = values(CredentialKind)
OUTCOMES = values(Outcome)
ACCESS_EVENT_SOURCES = values(AccessEventSource)
REASONS = values(RefusalReason)
DAYS = values(Day)


class AntiPassback(enum.StrEnum):
    """Entering twice without leaving: off, soft (granted and logged), hard (refused)."""

    OFF = "off"
    SOFT = "soft"
    HARD = "hard"


class LockdownMode(enum.StrEnum):
    """lockdown: every door locked but for exempt roles; unlock_all: every door open
    (an evacuation)."""

    LOCKDOWN = "lockdown"
    UNLOCK_ALL = "unlock_all"


class AlertType(enum.StrEnum):
    """What a door alert reports (controllers, or the worker for a silent controller)."""

    FORCED_OPEN = "forced_open"
    HELD_OPEN = "held_open"
    TAMPER = "tamper"
    CONTROLLER_OFFLINE = "controller_offline"


ANTI_PASSBACK = values(AntiPassback)
LOCKDOWN_MODES = values(LockdownMode)
ALERT_TYPES = values(AlertType)
# Among several accesses to a door, the one that got furthest names the refusal: these
# three, in this order (the door decision and a controller's keypad judge alike).
ACCESS_STAGES = (RefusalReason.ACCESS_NOT_VALID.value, RefusalReason.OUTSIDE_SCHEDULE.value,
                 RefusalReason.METHOD_NOT_ALLOWED.value)


# ------------------------------------------------------------------------------ privacy

class ConsentChannel(enum.StrEnum):
    """Where a consent was given or withdrawn."""

    APP = "app"
    WEB = "web"
    API = "api"
    EMAIL_LINK = "email_link"


CONSENT_CHANNELS = values(ConsentChannel)


# ------------------------------------------------------------------------------ the console

class Language(enum.StrEnum):
    SV = "sv"
    EN = "en"


LANGUAGES = values(Language)


# ------------------------------------------------------------------ data subjects' requests

class RequestType(enum.StrEnum):
    """A data subject's request under the GDPR (articles 15 to 21)."""

    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    PORTABILITY = "portability"


class RequestStatus(enum.StrEnum):
    RECEIVED = "received"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_CUSTOMER = "waiting_for_customer"
    COMPLETED = "completed"
    DENIED = "denied"


class PartStatus(enum.StrEnum):
    """One customer's part of a request (the customer is the controller of its data)."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    COMPLETED = "completed"


class ErasureOutcome(enum.StrEnum):
    DELETED = "deleted"
    ANONYMISED = "anonymised"
    WITHHELD = "withheld"


REQUEST_TYPES = values(RequestType)
REQUEST_STATUSES = values(RequestStatus)
PART_STATUSES = values(PartStatus)
ERASURE_OUTCOMES = values(ErasureOutcome)


# ------------------------------------------------------------------------------ outbox, webhooks

class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEvent(enum.StrEnum):
    """What a customer's webhook endpoint may listen to."""

    ENTRY_CREATED = "entry.created"
    ENTRY_CHECKED_OUT = "entry.checked_out"
    ACCESS_EVENT_CREATED = "access_event.created"
    MEMBER_CREATED = "member.created"
    DOOR_ALERT_CREATED = "door_alert.created"


OUTBOX_STATUSES = values(OutboxStatus)
DELIVERY_STATUSES = values(DeliveryStatus)
WEBHOOK_EVENTS = values(WebhookEvent)


# ------------------------------------------------------------------------------ support

class TicketStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class AuthorRole(enum.StrEnum):
    """Who wrote a ticket message: the customer's side or the vendor's support."""

    CUSTOMER = "customer"
    SUPPORT = "support"


class GrantScope(enum.StrEnum):
    """What a customer's access grant lets support see."""

    MEMBERS = "members"
    SITES = "sites"
    ENTRIES = "entries"


TICKET_STATUSES = values(TicketStatus)
AUTHOR_ROLES = values(AuthorRole)
GRANT_SCOPES = values(GrantScope)
