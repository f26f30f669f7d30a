"""Kiosks: a tablet at a site's gate where people without the app check in and out by
identity number or ID06 card (and a PIN, where the kiosk asks for one).

A kiosk signs in with its own token (``Authorization: Bearer <token>``), stored as a SHA-256
hash, shown once, revocable. Whoever holds the tablet can type any number, so a kiosk answers
one and the same refusal (``kiosk-not-recognised``) for an unknown number or card, a person
who is not a current member of the site's customer, a missing identity number at a ledger
site, a wrong or missing PIN, and a check-out of someone not checked in: neither the answer
nor its timing tells who exists. The customer's audit trail says which it was
(``kiosk.refused.<reason>``, with the person when recognised; never the number typed).
The endpoint is throttled per kiosk (api/kiosk.py). ID06 card numbers are kept on the
membership only as keyed hashes; identity numbers are looked up by the keyed hash kept
beside the encrypted number (entryfy.ops.identity.lookup_hash), never by decrypting anyone's.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.errors import Conflict, Unauthorized, Unprocessable, ValidationFailed
from entryfy.ops import doors, identity
from entryfy.ops.entries import _current_clause, _insert_and_attach, open_entry
from entryfy.ops.tenant import revoke_at_site
from models import Account, DoorCredential, Entry, Kiosk, Membership, Site
from models.tenancy import NIL, scope_to, system_scope
from models.vocab import DIRECTIONS
from privacy import audit

TOKEN_PREFIX = "kiosk_"  # noqa: S105  (a prefix that names the token kind, no secret)
CARD_PURPOSE = "id06-card"
MAX_NAME = 200


def _not_recognised() -> Unprocessable:
    return Unprocessable("Not recognised here. Ask the site's staff.",
                         slug="kiosk-not-recognised")


# ----------------------------------------------------------------- kiosks (admins)

@dataclasses.dataclass(frozen=True)
class NewKiosk:
    kiosk: Kiosk
    token: str  # shown once


def create_kiosk(session: Session, site: Site, *, name: str, require_pin: bool = False,
                 actor_id: uuid.UUID | None) -> NewKiosk:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationFailed({"name": [f"Give the kiosk a name of 1 to {MAX_NAME} "
                                         "characters."]})
    token = TOKEN_PREFIX + security.new_token(32)
    kiosk = Kiosk(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id, name=name,
                  token_hash=security.sha256_hex(token), created_by_id=actor_id,
                  require_pin=require_pin)
    session.add(kiosk)
    session.flush()
    audit.record(session, action="kiosk.created", customer_id=site.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type="kiosk",
                 object_id=kiosk.id)
    return NewKiosk(kiosk, token)


def site_kiosks(session: Session, site: Site) -> list[Kiosk]:
    return list(session.scalars(
        select(Kiosk).where(Kiosk.customer_id == site.customer_id, Kiosk.site_id == site.id)
        .order_by(Kiosk.created_at, Kiosk.id)))


def revoke_kiosk(session: Session, site: Site, kiosk_id: uuid.UUID, *,
                 actor_id: uuid.UUID | None) -> None:
    """Revoke a kiosk's token (again: nothing changes, no second audit record)."""
    revoke_at_site(session, Kiosk, site, kiosk_id, "kiosk", actor_id=actor_id)


def set_id06_card(session: Session, membership: Membership, card_number: str | None, *,
                  actor_id: uuid.UUID | None) -> None:
    """Enrol (or with None, remove) the member's ID06 card, kept only as a keyed hash."""
    value = None if card_number is None else card_hash(card_number)
    taken = Conflict("That card is already enrolled for someone else.", slug="card-taken")
    if value is not None and session.scalar(select(Membership.id).where(
            Membership.customer_id == membership.customer_id,
            Membership.id06_card_hash == value, Membership.id != membership.id)) is not None:
        raise taken
    try:
        # In a savepoint: a concurrent enrolment of the same card makes this a 409, and the
        # unique index (customer_id, id06_card_hash) decides who was first.
        with session.begin_nested():
            membership.id06_card_hash = value
            session.flush()
    except IntegrityError:
        raise taken from None
    audit.record(session, action="member.card_changed", customer_id=membership.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type="membership",
                 object_id=membership.id, subject_id=membership.account_id)


def card_hash(card_number: str) -> str:
    number = doors.normalise_keycard(card_number)
    if not re.fullmatch(r"[0-9A-F]{4,64}", number):
        raise ValidationFailed({"card_number": ["A card number: 4 to 64 digits (hex)."]})
    return security.keys().keyed_hash(CARD_PURPOSE, number)


# ----------------------------------------------------------------- the kiosk itself

def kiosk_by_token(session: Session, token: str | None) -> Kiosk:
    """The live kiosk of ``token``; scopes the session to its customer. Else 401."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthorized("A kiosk token is needed.", slug="kiosk-token-invalid")
    with system_scope(session, "kiosk sign-in"):
        kiosk = session.scalar(select(Kiosk).where(
            Kiosk.token_hash == security.sha256_hex(token), Kiosk.revoked_at.is_(None)))
    if kiosk is None:
        raise Unauthorized("A kiosk token is needed.", slug="kiosk-token-invalid")
    scope_to(session, kiosk.customer_id)
    return kiosk


def _find_membership(session: Session, kiosk: Kiosk, *, identity_number: str | None,
                     card_number: str | None) -> tuple[Membership | None, bool]:
    """(the current membership the number or card names, whether its person has an identity
    number kept), in one query; (None, False) for anything not recognised."""
    now = clock.now()
    stmt = (select(Membership, Account.identity_number_enc.is_not(None))
            .join(Account, Account.id == Membership.account_id)
            .where(Membership.customer_id == kiosk.customer_id, Account.is_active,
                   _current_clause(now)))
    h: str | None
    if card_number is not None:
        try:
            h = card_hash(card_number)
        except ValidationFailed:
            h = None
        stmt = stmt.where(Membership.id06_card_hash == (h or ""))
    else:
        try:
            h = identity.lookup_hash(identity.normalise(identity_number or ""))
        except ValidationFailed:
            h = None
        stmt = stmt.where(Account.identity_number_hash == (h or ""))
    # A malformed number still runs the same query (for nothing): the answer's timing must
    # not tell a malformed number from an unknown one either.
    found = session.execute(stmt.limit(2)).all()
    # Two accounts with one identity number: nobody is let in on a guess.
    if h is None or len(found) != 1:
        return None, False
    return found[0][0], bool(found[0][1])


def _pin_ok(session: Session, customer_id: uuid.UUID, membership_id: uuid.UUID,
            site_id: uuid.UUID, pin: str) -> bool:
    """The person's PIN for this kiosk's site: PINs are issued per site (a PIN learnt at one
    site opens nothing at another, docs/DOORS.md), and a kiosk is a keypad of its site."""
    value_hash = doors.credential_hash(customer_id, "pin", pin)
    now = clock.now()
    cred = session.scalar(select(DoorCredential.id).where(
        DoorCredential.customer_id == customer_id,
        DoorCredential.membership_id == membership_id, DoorCredential.kind == "pin",
        DoorCredential.site_id == site_id, DoorCredential.value_hash == value_hash,
        (DoorCredential.valid_from.is_(None)) | (DoorCredential.valid_from <= now),
        (DoorCredential.valid_to.is_(None)) | (DoorCredential.valid_to > now)))
    return cred is not None


# Why a kiosk refused, for the customer's audit trail (``kiosk.refused.<reason>``): the kiosk
# itself answers all of them with the same 422.
REFUSALS = ("not_recognised", "wrong_pin", "not_checked_in", "no_identity_number")


def _refuse(session: Session, kiosk: Kiosk, reason: str,
            subject_id: uuid.UUID | None) -> Unprocessable:
    """Record the refusal where the customer's admins can read it (the trail keeps the
    kiosk and, when the person was recognised, who; never the number typed), and the one
    answer the kiosk gets. The caller raises it; the request keeps the record (a refusal,
    not a failure: entryfy.web.keep_refusal)."""
    assert reason in REFUSALS, reason
    audit.record(session, action=f"kiosk.refused.{reason}", customer_id=kiosk.customer_id,
                 actor_role="kiosk", object_type="kiosk", object_id=kiosk.id,
                 subject_id=subject_id)
    return _not_recognised()


@dataclasses.dataclass(frozen=True)
class KioskResult:
    entry: Entry
    created: bool


def kiosk_entry(session: Session, kiosk: Kiosk, *, direction: str,
                identity_number: str | None = None, card_number: str | None = None,
                pin: str | None = None) -> KioskResult:
    """Check the person in ("in") or out ("out") at the kiosk's site.

    In while already in: the open entry (``created`` False). Whoever holds the tablet can
    type any number, so every refusal is the same 422 ``kiosk-not-recognised``: a number or
    card nobody of the customer holds, a person who is not a current member, a wrong or
    missing PIN, out while not checked in, in without an identity number at a ledger site.
    Each runs the same lookups (membership, PIN when one is asked for, open entry) and
    writes one audit record, so neither the answer nor its timing tells them apart; the
    record tells the admins which it was (``kiosk.refused.<reason>``).
    """
    if (identity_number is None) == (card_number is None):
        raise ValidationFailed({"identity_number": ["Give identity_number or card_number."]})
    if direction not in DIRECTIONS:
        raise ValidationFailed({"direction": ["in or out."]})
    site = session.scalar(select(Site).where(Site.id == kiosk.site_id,
                                             Site.customer_id == kiosk.customer_id))
    if site is None:
        raise Unauthorized("A kiosk token is needed.", slug="kiosk-token-invalid")
    m, has_number = _find_membership(session, kiosk, identity_number=identity_number,
                                     card_number=card_number)
    account_id = m.account_id if m is not None else None
    pin_needed = kiosk.require_pin or pin is not None
    pin_ok = True
    if pin_needed:
        # Looked up for a stranger too (no membership matches NIL): same work either way.
        pin_ok = bool(pin) and _pin_ok(session, kiosk.customer_id, m.id if m else NIL,
                                       site.id, pin or "")
    current = open_entry(session, account_id or NIL, site.id)
    if account_id is None:
        raise _refuse(session, kiosk, "not_recognised", None)
    if not pin_ok:
        raise _refuse(session, kiosk, "wrong_pin", account_id)
    if direction == "out" and current is None:
        raise _refuse(session, kiosk, "not_checked_in", account_id)
    if direction == "in" and current is None and site.ledger_id and not has_number:
        raise _refuse(session, kiosk, "no_identity_number", account_id)
    assert m is not None
    now = clock.now()
    kiosk.last_used_at = now
    if direction == "out":
        assert current is not None
        current.checked_out_at = max(now, current.checked_in_at)
        session.flush()
        return KioskResult(current, created=False)
    if current is not None:
        session.flush()
        return KioskResult(current, created=False)
    entry = Entry(
        id=uuid.uuid4(), created_at=now, customer_id=site.customer_id, site_id=site.id,
        account_id=account_id, membership_id=m.id, employer_name=m.employer_name,
        employer_org_nr=m.employer_org_nr, checked_in_at=now, source="kiosk",
        restricted=False, auto_checkout=False,
    )
    if not _insert_and_attach(session, entry):
        won = open_entry(session, account_id, site.id)
        if won is None:
            raise Conflict("The check-in conflicts with existing data.",
                           slug="constraint-violation")
        return KioskResult(won, created=False)
    return KioskResult(entry, created=True)
