"""The processing registry (GDPR Art. 30), as data.

One declaration drives the public privacy notice, the records of processing served by
``GET /api/v1/privacy/processing-activities``, the data map's checks (every purpose and
retention key a model names must be declared here, and every purpose here must be used by some
column or be marked as not stored in this system) and the retention job, which reads its
periods from here.

What the operator promises (shared/seeds/): accounts kept while the account exists; support
cases kept until handled and four weeks after; newsletters and offers only with consent, which
can be withdrawn as easily as given; the personnel ledger (personalliggare) kept as
skatteförfarandelagen requires, even against an erasure request, and then deleted.

Keys are stable: models name them in ``__privacy__`` / ``info=``, the database records them in
retention runs and consents. Add, never rename.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from typing import Any, Literal
from zoneinfo import ZoneInfo

Controller = Literal["vendor", "customer"]
LegalBasis = Literal["consent", "contract", "legitimate_interest", "legal_obligation"]

LEGAL_BASES: dict[str, str] = {
    "consent": "Consent, GDPR Art. 6(1)(a) (samtycke)",
    "contract": "Performance of a contract, GDPR Art. 6(1)(b) (fullgöra avtal)",
    "legitimate_interest": "Legitimate interest, GDPR Art. 6(1)(f) (intresseavvägning)",
    "legal_obligation": "Legal obligation, GDPR Art. 6(1)(c) (rättslig förpliktelse)",
}

# Calendar-year anchors follow the Swedish calendar: a ledger note made at 00:30 on 1 January
# Stockholm time belongs to the new year even though it is still 31 December in UTC.
LEGAL_TZ = ZoneInfo("Europe/Stockholm")


# --------------------------------------------------------------------------- periods

@dataclasses.dataclass(frozen=True)
class Period:
    """A calendar period (years and months are calendar units, not 365 days)."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def __post_init__(self) -> None:
        if min(self.years, self.months, self.days, self.hours) < 0:
            raise ValueError("a retention period is never negative")

    def _shift(self, moment: dt.datetime, sign: int) -> dt.datetime:
        total = moment.year * 12 + (moment.month - 1) + sign * (self.years * 12 + self.months)
        year, month = divmod(total, 12)
        month += 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        shifted = moment.replace(year=year, month=month, day=day)
        return shifted + sign * dt.timedelta(days=self.days, hours=self.hours)

    def after(self, moment: dt.datetime) -> dt.datetime:
        return self._shift(moment, +1)

    def before(self, moment: dt.datetime) -> dt.datetime:
        return self._shift(moment, -1)

    def iso(self) -> str:
        """ISO 8601 duration, e.g. ``P2Y``, ``P28D``, ``PT12H``."""
        date = "".join(f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"),
                                               (self.days, "D")) if n)
        time = f"T{self.hours}H" if self.hours else ""
        return f"P{date}{time}" if (date or time) else "P0D"


def _as_period(p: Period | dt.timedelta | None) -> Period | None:
    if p is None or isinstance(p, Period):
        return p
    return Period(days=p.days, hours=p.seconds // 3600)


# --------------------------------------------------------------------------- retention

ANCHORS: dict[str, str] = {
    "account_deleted": "the account is deleted (by its owner or on their erasure request)",
    "expired_or_revoked": "the sign-in token expired or was revoked, whichever came first",
    "occurred_at": "the time the event was recorded",
    "created_at": "the time the record was made",
    "closed_at": "the case was closed as handled",
    "membership_ended": "the membership ended (its valid_to passed)",
    "contract_ended": "the customer contract ended",
    "end_of_calendar_year": "the end of the calendar year the record was made in "
                            "(Swedish time)",
    "consent_withdrawn": "the consent is withdrawn",
    "sent_or_abandoned": "the message was delivered, or given up on after its retries",
    "access_ended": "the access expired or was revoked, whichever came first",
}


@dataclasses.dataclass(frozen=True)
class RetentionRule:
    key: str
    description: str
    period: Period | None
    anchor: str
    legal_hold: bool = False
    legal_basis_for_hold: str | None = None
    # Who carries the rule out when it is not the retention job (``entryfy retention run``):
    # e.g. the account-deletion flow, customer offboarding. None: the job has an executor.
    carried_out_by: str | None = None
    # Which rows the hold's duty reaches, when not every row of its tables (privacy.erasure
    # HoldScope decides per row): e.g. only entries at sites that keep a personnel ledger.
    applies_to: str | None = None

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ValueError(f"unknown retention anchor {self.anchor!r}")
        if self.legal_hold and not self.legal_basis_for_hold:
            raise ValueError("a legal hold names its legal basis")

    def cutoff(self, now: dt.datetime) -> dt.datetime | None:
        """Rows whose anchor time is strictly before this are past their period (None: never).

        For ``end_of_calendar_year`` a record of year Y is due once 1 January Y+1 (Swedish
        time) plus the period has passed, i.e. when its time is before 1 January of the year
        of ``now - period``.
        """
        if self.period is None:
            return None
        if now.tzinfo is None:
            raise ValueError("cutoff needs an aware datetime")
        if self.anchor == "end_of_calendar_year":
            base = self.period.before(now.astimezone(LEGAL_TZ))
            start = dt.datetime(base.year, 1, 1, tzinfo=LEGAL_TZ)
            return start.astimezone(dt.UTC)
        return self.period.before(now.astimezone(dt.UTC))

    def due(self, anchor_time: dt.datetime, now: dt.datetime) -> bool:
        cut = self.cutoff(now)
        return cut is not None and anchor_time < cut

    def held(self, anchor_time: dt.datetime, now: dt.datetime) -> bool:
        """Under legal hold: kept whatever else (an erasure request) asks for its deletion."""
        return self.legal_hold and not self.due(anchor_time, now)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "description": self.description,
            "period": self.period.iso() if self.period else None,
            "anchor": self.anchor,
            "anchor_description": ANCHORS[self.anchor],
            "legal_hold": self.legal_hold,
            "legal_basis_for_hold": self.legal_basis_for_hold,
            "automated": self.carried_out_by is None,
            "carried_out_by": self.carried_out_by,
            "applies_to": self.applies_to,
        }


SFL = ("Skatteförfarandelagen (2011:1244) 39 kap. with skatteförfarandeförordningen "
       "(2011:1261): the personnel ledger of a construction site is kept for two years after "
       "the end of the calendar year in which the note was made, available to Skatteverket.")

_RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "account_lifetime",
        "Kept while the account exists; deleted with it.",
        None, "account_deleted",
        carried_out_by="account deletion / erasure (privacy.erasure, data-subject requests)",
    ),
    RetentionRule(
        "security_log",
        "Sign-in sessions and device tokens: deleted 30 days after they expired or were "
        "revoked (long enough to investigate an incident, then gone).",
        Period(days=30), "expired_or_revoked",
    ),
    RetentionRule(
        "audit_log",
        "Audit trail of reads and changes of personal data: kept 2 years, then deleted in "
        "whole chain prefixes; the chain stays verifiable from a recorded anchor.",
        Period(years=2), "occurred_at",
    ),
    RetentionRule(
        "contract",
        "Kept while the customer contract runs; the tenant's data are returned and deleted "
        "90 days after it ended (processor agreement), ledger entries under legal hold "
        "excepted.",
        Period(days=90), "contract_ended",
        carried_out_by="customer offboarding (platform admin)",
    ),
    RetentionRule(
        "membership",
        "A person's membership in a customer: deleted 90 days after it ended.",
        Period(days=90), "membership_ended",
    ),
    RetentionRule(
        "access_log",
        "Door openings and refusals: kept 90 days for the security of the premises (to look "
        "into an incident), then deleted.",
        Period(days=90), "occurred_at",
    ),
    RetentionRule(
        "personnel_ledger",
        "Personnel-ledger entries and their corrections: kept two years after the end of the "
        "calendar year they were made in, even if the person asks for erasure (they are then "
        "restricted to ledger use), and deleted after that.",
        Period(years=2), "end_of_calendar_year",
        legal_hold=True, legal_basis_for_hold=SFL,
        applies_to="entries at a site that keeps a personnel ledger (a site with a ledger "
                   "id), and corrections of them; attendance at any other site is not held "
                   "and is erased on request",
    ),
    RetentionRule(
        "inspection_access",
        "An inspector's access to a site's ledger (the code's hash, the period, who issued "
        "it): deleted two years after it expired or was revoked, the same time as the audit "
        "records of its use.",
        Period(years=2), "access_ended",
    ),
    RetentionRule(
        "support_case",
        "A support case and what was shared for it: kept until it is handled and four weeks "
        "after that.",
        Period(days=28), "closed_at",
    ),
    RetentionRule(
        "request_record",
        "A data-subject request and its answer: kept two years after it was closed, to "
        "demonstrate how it was handled, then deleted.",
        Period(years=2), "closed_at",
    ),
    RetentionRule(
        "outbox_mail",
        "An e-mail waiting to be sent (address and encrypted content): deleted 7 days after "
        "it was sent or given up on.",
        Period(days=7), "sent_or_abandoned",
    ),
    RetentionRule(
        "webhook_log",
        "Webhook deliveries (event ids sent to the customer's receiver, status, response "
        "code): kept 30 days for the customer to inspect and replay, then deleted.",
        Period(days=30), "created_at",
    ),
    RetentionRule(
        "until_withdrawn",
        "Processing based on consent lasts until the consent is withdrawn; it stops at once "
        "and the data used only for it are no longer used.",
        None, "consent_withdrawn",
        carried_out_by="consent withdrawal (privacy.consent), effective immediately",
    ),
)


def retention_rules() -> list[RetentionRule]:
    return list(_RULES)


def retention_rule(key: str) -> RetentionRule:
    for r in _RULES:
        if r.key == key:
            return r
    raise KeyError(f"no retention rule {key!r} in the registry")


# --------------------------------------------------------------------------- vocabulary

# Data categories the data map may use (``personal(category, ...)``): key -> description.
DATA_CATEGORIES: dict[str, str] = {
    "contact.email": "E-mail address",
    "contact.phone": "Telephone number",
    "identity.name": "Name",
    "identity.national_id": "Personal identity number (personnummer), encrypted at rest",
    "auth.credential": "Password hash (argon2id), one-time codes",
    "activity.sign_in": "Times of sign-in and last use",
    "device.id": "Device identifier (kept only as a keyed hash)",
    "device.name": "Device name",
    "device.platform": "Device platform (android/ios/web)",
    "network.ip_truncated": "Truncated IP address (network prefix only)",
    "reference.person": "Reference linking a record to a person",
    "employment.employer": "Employer's name and organisation number",
    "attendance.time": "Check-in and check-out times",
    "attendance.correction_reason": "Reason given for correcting an entry",
    "location.verdict": "Whether a check-in was inside the site's geofence",
    "location.distance": "Distance from the site at check-in",
    "location.coarse": "Coarse position (about 1 km) at check-in, only where the site asks",
    "access.credential": "Access credentials: PIN, QR code, keycard number (hashed, encrypted)",
    "access.event": "Door openings: which door, when, by which means, granted or refused",
    "support.case": "Content of a support case and what the customer shared for it",
    "consent.choice": "Consent given or withdrawn, notice version, time and channel",
    "request.case": "Data-subject requests: type, status, decision, due date",
    "mail.content": "Content of an e-mail waiting to be sent (encrypted until sent)",
    "integration.event": "Event notifications for the customer's webhooks: ids of entries, "
                         "doors and memberships, times and outcomes (no names or numbers)",
}

# Whose data (``subject=`` in the data map): key -> description.
DATA_SUBJECTS: dict[str, str] = {
    "account": "People with an Entryfy account (workers, customer admins, vendor staff)",
    "member": "People working for a customer, including subcontractors' employees",
    "guest": "Visitors given short-term access to a customer's doors",
    "admin": "Customer administrators and operators",
    "actor": "Whoever performed an audited action (admins, support staff, the person)",
    "staff": "The vendor's support staff and platform administrators",
    "contact": "Customers' contact persons",
}

# Sub-processors and other recipients, named once so purposes refer to the same text.
HOSTING = "Hosting and database provider (sub-processor, servers in the EU/EEA)"
MAIL = "E-mail delivery provider (sub-processor, EU/EEA)"
VENDOR_STAFF = "The vendor's own staff, on a need-to-know basis"
CUSTOMER_ADMINS = "The customer's administrators (for its own tenant only)"
SUPPORT_UNDER_GRANT = ("The vendor's support staff, only under a grant the customer gives for "
                       "one ticket, every read audited")
WEBHOOK_RECEIVERS = ("Receivers of webhooks chosen by the customer (its own systems or its "
                     "suppliers', e.g. payroll, HR, security): event ids only, never names or "
                     "identity numbers")
AUTHORITIES = "Authorities, courts and police where the law requires it"
SKATTEVERKET = "Skatteverket (Swedish Tax Agency) on inspection of the personnel ledger"

NO_TRANSFERS = ("No transfer to third countries: data are stored and processed in the EU/EEA. "
                "Should a sub-processor outside the EU/EEA ever be used, it is listed here "
                "with its safeguards (EU standard contractual clauses).")


@dataclasses.dataclass(frozen=True)
class Purpose:
    key: str
    title: str
    description: str
    controller: Controller
    legal_basis: LegalBasis
    data_categories: tuple[str, ...]
    data_subjects: tuple[str, ...]
    recipients: tuple[str, ...]
    transfers: tuple[str, ...]
    retention: str
    # Further retention rules some of this purpose's records follow (e.g. the audit trail
    # under "security" keeps its own period).
    other_retention: tuple[str, ...] = ()
    # False: declared because the operator promises it, but no column of this system stores
    # data for it (the data map does not need to use it).
    stored_in_system: bool = True
    # For a purpose not stored here: the purposes whose stored data it uses (read-only).
    uses_data_of: tuple[str, ...] = ()
    legal_basis_detail: str | None = None
    transfers_note: str = NO_TRANSFERS

    def __post_init__(self) -> None:
        unknown = [c for c in self.data_categories if c not in DATA_CATEGORIES]
        if unknown:
            raise ValueError(f"{self.key}: undeclared data categories {unknown}")
        unknown = [s for s in self.data_subjects if s not in DATA_SUBJECTS]
        if unknown:
            raise ValueError(f"{self.key}: undeclared data subjects {unknown}")

    @property
    def retention_keys(self) -> tuple[str, ...]:
        return (self.retention, *self.other_retention)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "controller": self.controller,
            "legal_basis": self.legal_basis,
            "legal_basis_description": LEGAL_BASES[self.legal_basis],
            "legal_basis_detail": self.legal_basis_detail,
            "data_categories": [
                {"key": c, "description": DATA_CATEGORIES[c]} for c in self.data_categories
            ],
            "data_subjects": [
                {"key": s, "description": DATA_SUBJECTS[s]} for s in self.data_subjects
            ],
            "recipients": list(self.recipients),
            "transfers": list(self.transfers),
            "transfers_note": self.transfers_note,
            # Art. 6(1)(c): a law obliges this processing (and may hold its records against
            # an erasure request); every other purpose is not a legal obligation.
            "legal_obligation": self.legal_basis == "legal_obligation",
            "retention": retention_rule(self.retention).as_dict(),
            "other_retention": [retention_rule(k).as_dict() for k in self.other_retention],
            "stored_in_system": self.stored_in_system,
            "uses_data_of": list(self.uses_data_of),
        }


_PURPOSES: tuple[Purpose, ...] = (
    # ------------------------------------------------ the vendor as controller (platform data)
    Purpose(
        "account", "User account on the Entryfy platform",
        "Registering and administering a person's account, signing in from their devices and "
        "telling them what they need to know about the service. The identity number is held "
        "on the account (encrypted) only so that the customers' personnel ledgers can show "
        "it.",
        "vendor", "contract",
        ("contact.email", "contact.phone", "identity.name", "identity.national_id",
         "auth.credential", "activity.sign_in", "device.id", "device.name", "device.platform",
         "access.credential", "reference.person"),
        ("account",),
        (VENDOR_STAFF, HOSTING, MAIL),
        (), "account_lifetime",
    ),
    Purpose(
        "security", "Security of the service and accountability",
        "Protecting accounts and data: sign-in sessions and tokens, abuse detection from "
        "truncated IP addresses, and the hash-chained audit trail of who read or changed "
        "whose personal data.",
        "vendor", "legitimate_interest",
        ("activity.sign_in", "network.ip_truncated", "reference.person"),
        ("account", "actor"),
        (VENDOR_STAFF, CUSTOMER_ADMINS + ": the audit trail of their tenant", HOSTING,
         AUTHORITIES),
        (), "security_log", other_retention=("audit_log",),
        legal_basis_detail="Also GDPR Art. 5(2) and 32: security of processing and "
                           "demonstrating compliance.",
    ),
    Purpose(
        "customer_relationship", "Customer contracts",
        "Ordering the service and administering the contract with the customer company and "
        "its contact persons.",
        "vendor", "legitimate_interest",
        ("contact.email", "contact.phone", "identity.name"),
        ("contact",),
        (VENDOR_STAFF, HOSTING, "Accounting and payment service providers"),
        (), "contract",
    ),
    Purpose(
        "consent_management", "Keeping track of consents",
        "Recording which notice version a person agreed to, when and how, and when they "
        "withdrew, to honour and demonstrate it.",
        "vendor", "legal_obligation",
        ("consent.choice", "reference.person"),
        ("account",),
        (VENDOR_STAFF, HOSTING),
        (), "account_lifetime",
        legal_basis_detail="GDPR Art. 7(1): the controller must be able to demonstrate "
                           "consent.",
    ),
    Purpose(
        "newsletter", "Newsletter and offers by e-mail",
        "Sending news about the service and offers, only to people who opted in; every "
        "message carries a way to unsubscribe, and withdrawing stops it at once. Uses the "
        "account's e-mail address and name, only while the consent stands; stores nothing of "
        "its own beyond the consent record.",
        "vendor", "consent",
        ("contact.email", "identity.name"),
        ("account",),
        (VENDOR_STAFF, MAIL),
        (), "until_withdrawn",
        stored_in_system=False, uses_data_of=("account", "consent_management"),
    ),
    Purpose(
        "product_analytics", "Improving the apps",
        "Usage statistics to improve the apps, only with consent. This backend records the "
        "choice; it collects no analytics data itself.",
        "vendor", "consent",
        ("consent.choice",),
        ("account",),
        (VENDOR_STAFF,),
        (), "until_withdrawn",
        stored_in_system=False, uses_data_of=("consent_management",),
    ),
    Purpose(
        "enquiries", "Questions by telephone, e-mail or social media",
        "Answering a person who contacts the vendor directly. Handled outside this system.",
        "vendor", "contract",
        ("contact.email", "contact.phone", "identity.name"),
        ("account", "contact"),
        (VENDOR_STAFF,),
        (), "support_case",
        stored_in_system=False,
    ),
    # ------------------------------------------------ the vendor as processor (tenant data)
    Purpose(
        "workforce_administration", "Administering the customer's people",
        "Inviting people, their role and validity, the employer of subcontractors' "
        "workers, and the ID06 card a site kiosk recognises (kept as a keyed hash), on the "
        "customer's instructions.",
        "customer", "contract",
        ("contact.email", "employment.employer", "access.credential", "reference.person"),
        ("member", "account"),
        (CUSTOMER_ADMINS, SUPPORT_UNDER_GRANT, HOSTING),
        (), "membership", other_retention=("contract",),
    ),
    Purpose(
        "access_control", "Physical access control",
        "Opening the customer's doors from the app, by QR, PIN or keycard, and the log of "
        "door openings for the security of the premises.",
        "customer", "legitimate_interest",
        ("access.credential", "access.event", "reference.person", "identity.name",
         "contact.phone"),
        ("member", "guest", "account"),
        (CUSTOMER_ADMINS, SUPPORT_UNDER_GRANT, HOSTING, AUTHORITIES),
        (), "contract", other_retention=("membership", "access_log"),
    ),
    Purpose(
        "attendance", "Site check-in",
        "Who is on a site now (safety, evacuation), with the least position data that serves "
        "it: a geofence verdict, a coarse position only where the site asks for it. Check-in "
        "from a site kiosk (by identity number or ID06 card) and by a foreman for a "
        "colleague; the kiosk devices themselves (no personal data beyond the admin who "
        "made one).",
        "customer", "legitimate_interest",
        ("attendance.time", "location.verdict", "location.distance", "location.coarse",
         "reference.person"),
        ("member", "account", "admin"),
        (CUSTOMER_ADMINS, SUPPORT_UNDER_GRANT, HOSTING),
        (), "contract", other_retention=("personnel_ledger",),
    ),
    Purpose(
        "personnel_ledger", "Personnel ledger (personalliggare)",
        "The inspection-ready ledger of who worked on a construction site and when, which "
        "the customer must keep under Swedish tax law, and the read-only accesses an admin "
        "issues to Skatteverket's inspectors (every use audited).",
        "customer", "legal_obligation",
        ("identity.name", "identity.national_id", "employment.employer", "attendance.time",
         "attendance.correction_reason", "location.verdict", "location.distance",
         "location.coarse", "network.ip_truncated", "reference.person"),
        ("member", "account", "admin"),
        (CUSTOMER_ADMINS, SKATTEVERKET, AUTHORITIES, SUPPORT_UNDER_GRANT, HOSTING),
        (), "personnel_ledger", other_retention=("inspection_access",),
        legal_basis_detail=SFL,
    ),
    Purpose(
        "support", "Support cases",
        "Helping a customer in a support case: the case and only what the customer grants "
        "support to see for it, for a limited time, every read audited.",
        "customer", "contract",
        ("support.case", "reference.person", "identity.name", "contact.email"),
        ("admin", "account", "member", "staff"),
        (SUPPORT_UNDER_GRANT, CUSTOMER_ADMINS, HOSTING),
        (), "support_case",
    ),
    Purpose(
        "data_subject_requests", "Handling data-subject requests",
        "Receiving, routing and answering requests for access, rectification, erasure, "
        "restriction, objection and portability within one month.",
        "vendor", "legal_obligation",
        ("request.case", "reference.person"),
        ("account", "member"),
        (VENDOR_STAFF, CUSTOMER_ADMINS + ": requests that concern their tenant", HOSTING),
        (), "request_record",
        legal_basis_detail="GDPR Art. 12 and 15-22.",
    ),
    Purpose(
        "mail_delivery", "Sending e-mail",
        "E-mails the service sends (codes, invitations, notices) wait in an outbox until "
        "sent, so that none is lost when the mail server is down and none goes out for a "
        "change that was undone.",
        "vendor", "legitimate_interest",
        ("contact.email", "mail.content"),
        ("account",),
        (VENDOR_STAFF, HOSTING, MAIL),
        (), "outbox_mail",
    ),
    Purpose(
        "integrations", "Event notifications to the customer's systems (webhooks)",
        "On the customer's instructions, notifying the receivers it registered when an entry "
        "is made or closed, a door is opened, a member is added or a door raises an alert. "
        "The notification carries ids the customer's own systems resolve, never names or "
        "identity numbers.",
        "customer", "legitimate_interest",
        ("integration.event",),
        ("member",),
        (WEBHOOK_RECEIVERS, CUSTOMER_ADMINS, HOSTING),
        (), "webhook_log", other_retention=("contract",),
    ),
)


def purposes() -> list[Purpose]:
    return list(_PURPOSES)


def purpose(key: str) -> Purpose:
    for p in _PURPOSES:
        if p.key == key:
            return p
    raise KeyError(f"no purpose {key!r} in the registry")


# --------------------------------------------------------------------------- declarations

@dataclasses.dataclass(frozen=True)
class Operator:
    """The company running this Entryfy installation (the vendor)."""

    name: str = "Total Security Stockholm AB"
    org_nr: str = "556943-4656"
    address: str = "Gustav III:s Boulevard 46, 169 73 Solna, Sweden"
    dpo: str = "Dataskydd, Gustav III:s Boulevard 50 A, 169 73 Solna; dpo@entryfy.com"
    supervisory_authority: str = ("Integritetsskyddsmyndigheten (IMY), Box 8114, 104 20 "
                                  "Stockholm, imy@imy.se")


OPERATOR = Operator()

SECURITY_MEASURES: tuple[str, ...] = (
    "Encryption in transit (TLS) and of identity numbers at rest; keyed hashes of device ids.",
    "Passwords hashed with argon2id; sign-in throttling; per-device revocable tokens.",
    "Each customer's data separated in the application and by PostgreSQL row-level security; "
    "the application's database role owns no table.",
    "Data minimisation: geofence verdicts and coarse positions instead of raw coordinates, "
    "truncated IP addresses, no tracking.",
    "An append-only, hash-chained audit trail of reads and changes of personal data by admins "
    "and support staff, verifiable by anyone (`entryfy audit verify`).",
    "Automatic deletion past each retention period (`entryfy retention run`), with a record "
    "of each run.",
    "Support staff see a customer's data only under a time-limited grant for one ticket.",
)

# GDPR Art. 13(2)(f), 14(2)(g), 22 and 30: no decision about a person is made by automated
# means alone, and no profiling takes place. (A door refusal applies the customer's own access
# rules; the person can always ask the customer's admins.)
AUTOMATED_DECISIONS: dict[str, Any] = {
    "automated_decision_making": False,
    "profiling": False,
    "statement": "No decision producing legal or similarly significant effects is taken by "
                 "automated means alone, and no profiling takes place. Door and check-in "
                 "refusals apply the rules the customer set (who may enter where and when); "
                 "the customer's administrators review them on request.",
}

RIGHTS: tuple[str, ...] = (
    "access (register extract)", "rectification", "erasure", "restriction", "objection",
    "portability", "withdrawal of consent at any time, as easily as it was given",
    "complaint to the supervisory authority (IMY)",
)


def controller_declaration(operator: Operator = OPERATOR) -> dict[str, Any]:
    """Art. 30(1): the records of processing where the vendor is controller."""
    return {
        "role": "controller",
        "controller": dataclasses.asdict(operator),
        "purposes": [p.as_dict() for p in _PURPOSES if p.controller == "vendor"],
        "security_measures": list(SECURITY_MEASURES),
        "rights": list(RIGHTS),
        **AUTOMATED_DECISIONS,
    }


def processor_declaration(operator: Operator = OPERATOR) -> dict[str, Any]:
    """Art. 30(2): the categories of processing carried out on behalf of each customer."""
    return {
        "role": "processor",
        "processor": dataclasses.asdict(operator),
        "controllers": "Each customer company, for its own tenant (named in its processor "
                       "agreement); the vendor acts only on its documented instructions.",
        "sub_processors": [HOSTING, MAIL],
        "purposes": [p.as_dict() for p in _PURPOSES if p.controller == "customer"],
        "security_measures": list(SECURITY_MEASURES),
        **AUTOMATED_DECISIONS,
    }


def declaration(operator: Operator = OPERATOR) -> dict[str, Any]:
    return {
        "controller": controller_declaration(operator),
        "processor": processor_declaration(operator),
        "retention_rules": [r.as_dict() for r in _RULES],
    }
