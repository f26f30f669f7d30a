"""Vendor staff (support, platform admin): their accounts and their second factor (TOTP with
one-time recovery codes), and sign-in events the platform audits.

The TOTP secret is stored encrypted (AES-GCM, bound to the account id); a code is accepted at
most once (the time step it belongs to is recorded, and only a later step is accepted next);
recovery codes are stored as keyed hashes and each works once. Both claims are single atomic
UPDATEs, so two concurrent sign-ins cannot use the same code.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
import secrets

import pyotp
from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.db import rows_written
from entryfy.errors import Conflict, Unauthorized, ValidationFailed
from entryfy.ops import accounts as account_ops
from models import Account, Device, tenancy
from models.vocab import STAFF_ROLES
from privacy import audit

log = logging.getLogger(__name__)

ISSUER = "Entryfy"
TOTP_INTERVAL = 30
TOTP_DIGITS = 6
# Codes from the previous and the next time step are accepted too (clock drift, slow typing).
TOTP_WINDOW = 1
RECOVERY_CODE_COUNT = 10
# Unambiguous lower-case letters and digits (no 0/o, 1/l/i): 31 symbols, 10 of them ~ 49 bits.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10


@dataclasses.dataclass
class Enrolment:
    """What the person must see once, at enrolment: never stored in clear."""

    account: Account
    secret: str
    uri: str
    recovery_codes: list[str]


def _secret_context(account: Account) -> str:
    return f"account:{account.id}:totp"


def _recovery_hash(code: str) -> str:
    return security.keys().keyed_hash("recovery-code", code)


def _normalise(otp: str) -> str:
    return "".join(ch for ch in otp.strip().lower() if ch not in " -")


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def requires_second_factor(account: Account) -> bool:
    return account.is_staff or account.totp_secret_enc is not None


def enrol_second_factor(session: Session, account: Account) -> Enrolment:
    """A new TOTP secret and a new set of recovery codes; the old ones stop working."""
    if account.id is None:
        session.flush()
    secret = pyotp.random_base32()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    account.totp_secret_enc = security.keys().encrypt(secret, context=_secret_context(account))
    account.totp_last_step = None
    account.recovery_codes_hash = ",".join(_recovery_hash(_normalise(c)) for c in codes)
    account.updated_at = clock.now()
    session.flush()
    uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL).provisioning_uri(
        name=account.email, issuer_name=ISSUER
    )
    return Enrolment(account, secret, uri, codes)


def create_staff(session: Session, *, email: str, password: str, role: str,
                 first_name: str, last_name: str) -> Enrolment:
    """A vendor account with its second factor enrolled. Refuses an address already in use."""
    if role not in STAFF_ROLES:
        raise ValidationFailed({"role": [f"One of: {', '.join(STAFF_ROLES)}."]})
    email = account_ops.normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise ValidationFailed({"email": ["Not a valid email address."]})
    first_name, last_name = first_name.strip(), last_name.strip()
    if not (0 < len(first_name) <= 100 and 0 < len(last_name) <= 100):
        raise ValidationFailed({"name": ["First and last name: 1 to 100 characters each."]})
    account_ops.check_password_rules(password, email=email, names=(first_name, last_name))
    if account_ops.find_by_email(session, email) is not None:
        raise Conflict("An account with this email exists.", slug="email-taken")
    account = Account(
        email=email,
        password_hash=security.passwords().hash(password),
        first_name=first_name,
        last_name=last_name,
        staff_role=role,
        # Made by the vendor's operator for a vendor address: taken as proven.
        email_verified_at=clock.now(),
    )
    # The operator's CLI: no person's scope exists for an account not yet made (0017).
    with tenancy.system_scope(session, "the operator creates a vendor account"):
        session.add(account)
        session.flush()
        enrolment = enrol_second_factor(session, account)
    audit.record(
        session, action="staff.created", customer_id=None, actor_role="operator",
        object_type="account", object_id=account.id, subject_id=account.id,
    )
    return enrolment


def _matching_step(secret: str, code: str) -> int | None:
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)
    current = int(clock.now().timestamp()) // TOTP_INTERVAL
    found = None
    # Compare against every candidate (constant work whichever matches).
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.at(step * TOTP_INTERVAL), code):
            found = step
    return found


def _claim_step(session: Session, account: Account, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was. Atomic."""
    result = session.execute(
        update(Account)
        .where(Account.id == account.id,
               or_(Account.totp_last_step.is_(None), Account.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.expire(account, ["totp_last_step"])
    return (rows_written(result)) == 1


def _use_recovery_code(session: Session, account: Account, code: str) -> bool:
    """Spend one recovery code. Atomic: the stored list must be unchanged since it was read."""
    stored = account.recovery_codes_hash
    if not stored:
        return False
    digest = _recovery_hash(code)
    hashes = stored.split(",")
    matched = [h for h in hashes if hmac.compare_digest(h, digest)]
    if not matched:
        return False
    remaining = ",".join(h for h in hashes if h != digest) or None
    result = session.execute(
        update(Account)
        .where(Account.id == account.id, Account.recovery_codes_hash == stored)
        .values(recovery_codes_hash=remaining)
        .execution_options(synchronize_session=False)
    )
    session.expire(account, ["recovery_codes_hash"])
    if (rows_written(result)) != 1:
        return False
    audit.record(
        session, action="account.recovery_code_used", customer_id=None, actor_id=account.id,
        actor_role="self", object_type="account", object_id=account.id, subject_id=account.id,
    )
    return True


def second_factor_ok(session: Session, account: Account, otp: str) -> bool:
    """Spend ``otp`` (a TOTP code not used before, or an unused recovery code) if it is one
    of the account's. Fails closed: a secret this key cannot open matches nothing."""
    code = _normalise(otp)
    if account.totp_secret_enc and code.isdigit() and len(code) == TOTP_DIGITS:
        try:
            secret = security.keys().decrypt(account.totp_secret_enc,
                                             context=_secret_context(account))
        except (ValueError, InvalidTag):
            # A secret this key cannot open (key changed, row copied): fail closed.
            log.warning("TOTP secret of account %s cannot be decrypted", account.id)
            return False
        step = _matching_step(secret, code)
        return step is not None and _claim_step(session, account, step)
    return len(code) == _RECOVERY_LENGTH and _use_recovery_code(session, account, code)


def check_second_factor(session: Session, account: Account, otp: str | None) -> None:
    """For a caller that has already checked the password: vendor staff (and any account that
    enrolled one) must present a second factor. Sign-in itself judges both together
    (entryfy.ops.accounts.authenticate); a wrong code answers as a wrong password does."""
    if not requires_second_factor(account):
        return
    if otp is None or not otp.strip():
        raise Unauthorized(
            "A second factor is required for this account: send otp.", slug="otp-required"
        )
    if not second_factor_ok(session, account, otp):
        raise Unauthorized(account_ops.WRONG_CREDENTIALS, slug="invalid-credentials")


def remaining_recovery_codes(account: Account) -> int:
    return len([h for h in (account.recovery_codes_hash or "").split(",") if h])


def note_new_device(session: Session, account: Account, device: Device) -> None:
    """A sign-in from a device never seen on this account goes into the platform audit chain."""
    audit.record(
        session,
        action="account.new_device_sign_in",
        customer_id=None,
        actor_id=account.id,
        actor_role="self",
        object_type="device",
        object_id=device.id,
        subject_id=account.id,
    )
