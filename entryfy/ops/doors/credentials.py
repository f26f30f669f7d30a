"""Door credentials: PINs, keycards and guests' QR codes, stored as the server's keyed hash
(``credential_hash``, never sent out) and encrypted under the data key (``value_enc``), from
which every controller's list is hashed with that controller's own key
(``controller_credential_hash``). Issuing and revoking one is audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import mail, security
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.doors.vocabulary import PIN_DIGITS
from entryfy.ops.tenant import load_owned
from models import (
    Access,
    AccessMember,
    Account,
    Customer,
    DoorCredential,
    Membership,
    Site,
)


def credential_hash_key(customer_id: uuid.UUID) -> bytes:
    """The server's key for hashing a customer's door credentials (derived from
    ENTRYFY_DATA_KEY). It never leaves the server: controllers get keys of their own
    (``controller_hash_key``)."""
    return bytes.fromhex(security.keys().keyed_hash("door-credential-key", str(customer_id)))


def controller_hash_key(controller_id: uuid.UUID) -> bytes:
    """One controller's key for the hashes in its credential list. Another controller's list
    is hashed with another key, so a list's hashes match nothing anywhere else."""
    return bytes.fromhex(security.keys().keyed_hash("door-controller-list-key",
                                                    str(controller_id)))


def controller_credential_hash(controller_id: uuid.UUID, kind: str, value: str) -> str:
    """HMAC-SHA256(controller_hash_key(controller), "<kind>:<value>"), hex: what the
    controller computes from what its keypad or reader got, and looks up in its list."""
    return hmac.new(controller_hash_key(controller_id), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def _enc_context(cred_id: uuid.UUID) -> str:
    return f"door-credential:{cred_id}"


def credential_value(cred: DoorCredential) -> str | None:
    """The clear value (for hashing a controller's list); None for a credential enrolled
    before values were kept encrypted (revision 0011): it is honoured online only."""
    if cred.value_enc is None:
        return None
    return security.keys().decrypt(cred.value_enc, context=_enc_context(cred.id))


def credential_hash(customer_id: uuid.UUID, kind: str, value: str) -> str:
    """HMAC-SHA256(credential_hash_key(customer), "<kind>:<value>"), hex."""
    return hmac.new(credential_hash_key(customer_id), f"{kind}:{value}".encode(),
                    hashlib.sha256).hexdigest()


def normalise_keycard(value: str) -> str:
    """Card numbers as readers report them: hex or decimal, any case, separators ignored."""
    return re.sub(r"[\s:-]", "", value).upper()


def _new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def _credential_event(session: Session, by: Membership | None, action: str,
                      cred: DoorCredential, subject_id: uuid.UUID | None) -> None:
    record_change(session, by, f"credential.{cred.kind}.{action}",
                  customer_id=cred.customer_id, object_type="door_credential",
                  object_id=cred.id, subject_id=subject_id)


def _add_credential(session: Session, membership: Membership, kind: str, value: str, *,
                    valid_from: dt.datetime | None = None,
                    valid_to: dt.datetime | None = None,
                    site_id: uuid.UUID | None = None,
                    by: Membership | None = None) -> DoorCredential:
    cred_id = uuid.uuid4()
    cred = DoorCredential(id=cred_id, customer_id=membership.customer_id,
                          membership_id=membership.id, kind=kind, site_id=site_id,
                          value_hash=credential_hash(membership.customer_id, kind, value),
                          value_enc=security.keys().encrypt(value,
                                                            context=_enc_context(cred_id)),
                          valid_from=valid_from, valid_to=valid_to)
    with session.begin_nested():
        session.add(cred)
        session.flush()
    _credential_event(session, by, "issue", cred, membership.account_id)
    return cred


def revoke_credential(session: Session, cred: DoorCredential, *,
                      by: Membership | None = None) -> None:
    """A PIN, keycard or QR code stops working (online at once; controllers with their next
    list)."""
    subject = session.scalar(select(Membership.account_id).where(
        Membership.id == cred.membership_id, Membership.customer_id == cred.customer_id))
    session.delete(cred)
    session.flush()
    _credential_event(session, by, "revoke", cred, subject)


def _revoke_where(session: Session, membership: Membership, by: Membership | None,
                  *conditions: Any) -> None:
    for cred in list(session.scalars(select(DoorCredential).where(
            DoorCredential.membership_id == membership.id,
            DoorCredential.customer_id == membership.customer_id, *conditions))):
        session.delete(cred)
        session.flush()
        _credential_event(session, by, "revoke", cred, membership.account_id)


def pin_site(session: Session, membership: Membership,
             site_id: uuid.UUID | None = None) -> uuid.UUID:
    """The site a new PIN is for: the one given (of this customer), else the one site where
    the membership has an access that takes a PIN; several or none: the caller must say."""
    if site_id is not None:
        return load_owned(session, Site, membership.customer_id, site_id, "site").id
    sites = set(session.scalars(
        select(Access.site_id).join(AccessMember, AccessMember.access_id == Access.id)
        .where(AccessMember.membership_id == membership.id,
               Access.customer_id == membership.customer_id)
    ))
    if len(sites) != 1:
        raise Unprocessable("A PIN opens the doors of one site: name the site (site_id).",
                            slug="pin-site-required")
    return sites.pop()


def issue_pin(session: Session, membership: Membership, *,
              site_id: uuid.UUID | None = None,
              valid_from: dt.datetime | None = None,
              valid_to: dt.datetime | None = None,
              by: Membership | None = None) -> tuple[DoorCredential, str]:
    """A new random PIN for the membership at one site (``pin_site``), replacing its old PIN
    there. Unique in the customer (a keypad PIN identifies one person, and a PIN of one site
    is never another site's); returns the PIN to be sent, never stored in clear."""
    site_id = pin_site(session, membership, site_id)
    _revoke_where(session, membership, by, DoorCredential.kind == "pin",
                  DoorCredential.site_id == site_id)
    for _ in range(20):
        pin = _new_pin()
        try:
            return _add_credential(session, membership, "pin", pin, valid_from=valid_from,
                                   valid_to=valid_to, site_id=site_id, by=by), pin
        except IntegrityError:
            continue  # that PIN belongs to someone else in this customer: draw again
    raise Conflict("No free PIN could be drawn; try again.", slug="pin-space-exhausted")


def add_keycard(session: Session, membership: Membership, value: str, *,
                valid_from: dt.datetime | None = None,
                valid_to: dt.datetime | None = None,
                by: Membership | None = None) -> DoorCredential:
    number = normalise_keycard(value)
    if not re.fullmatch(r"[0-9A-F]{4,64}", number):
        raise ValidationFailed({"value": ["A card number: 4 to 64 hex digits."]})
    try:
        return _add_credential(session, membership, "keycard", number, valid_from=valid_from,
                               valid_to=valid_to, by=by)
    except IntegrityError:
        raise Conflict("That card is already enrolled.", slug="keycard-taken") from None


def issue_member_pin(session: Session, membership: Membership,
                     site_id: uuid.UUID | None = None, *,
                     by: Membership | None = None) -> DoorCredential:
    """A PIN for a member at one site, sent to them by e-mail: the admin never sees it."""
    if membership.account_id is None:
        raise Unprocessable("The member has not registered yet.", slug="member-pending")
    account = session.get(Account, membership.account_id)
    if account is None:
        raise NotFound("No such member.")
    cred, pin = issue_pin(session, membership, site_id=site_id, by=by)
    customer = session.get(Customer, membership.customer_id)
    site = session.get(Site, cred.site_id)
    mail.send(account.email, "Your door PIN",
              f"Your PIN for the doors of {customer.name if customer else 'your workplace'} "
              f"at {site.name if site else 'your site'} is: {pin}\n\n"
              "It opens that site's doors only. Keep it to yourself. Your administrator can "
              "issue a new one.")
    return cred


def load_credential(session: Session, customer_id: uuid.UUID,
                    credential_id: uuid.UUID) -> DoorCredential:
    return load_owned(session, DoorCredential, customer_id, credential_id, "credential")
