"""Proof that a person receives mail at an address: a one-time code sent there.

Used at registration (the account cannot sign in until its address is proven) and for a
change of address (the new address takes effect only when proven). A six-digit code, kept
only as a keyed hash, lives 30 minutes and takes five tries; a new code replaces the
account's previous one. The HTTP layer also throttles the checks per address and per client
(api.throttle), so the tries across codes stay few.

Every wrong answer is the same (``code-invalid``): wrong code, expired, used up, replaced,
or an address nobody asked for, so the check tells nothing about which addresses have
accounts. The caller commits a wrong try although it answers with an error
(``entryfy.web.keep_refusal``): a try that rolled back would not count.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from entryfy import clock, mail, security
from entryfy.errors import Conflict, Unprocessable
from models import Account, EmailVerification, tenancy
from privacy import audit

CODE_LIFETIME = dt.timedelta(minutes=30)
CODE_MAX_ATTEMPTS = 5


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _code_hash(verification_id: uuid.UUID, code: str) -> str:
    return security.keys().keyed_hash("email-code", f"{verification_id}:{code}")


def one_line(text: str) -> str:
    """Text fit for a mail header: a name with a line break in it (stored before such names
    were refused) must not end the header."""
    return " ".join(text.split())


def send_code(session: Session, account: Account, email: str, purpose: str) -> None:
    """A new code for ``account`` to ``email``; the account's earlier codes stop working."""
    email = normalise_email(email)
    session.execute(delete(EmailVerification)
                    .where(EmailVerification.account_id == account.id)
                    .execution_options(synchronize_session=False))
    code = f"{secrets.randbelow(10**6):06d}"
    row = EmailVerification(id=uuid.uuid4(), account_id=account.id, email=email,
                            purpose=purpose, code_hash="", attempts=0,
                            expires_at=clock.now() + CODE_LIFETIME)
    row.code_hash = _code_hash(row.id, code)
    session.add(row)
    session.flush()
    minutes = int(CODE_LIFETIME.total_seconds() // 60)
    if purpose == "register":
        subject = "Confirm your e-mail address for Entryfy"
        why = "Someone - hopefully you - registered an Entryfy account with this address."
    else:
        subject = "Confirm your new e-mail address for Entryfy"
        why = "Someone - hopefully you - asked to move an Entryfy account to this address."
    mail.send(email, subject,
              f"{why}\n\nYour code: {code}\n\nIt works for {minutes} minutes and "
              f"{CODE_MAX_ATTEMPTS} tries. If it was not you, ignore this message: nothing "
              "happens without the code, and never tell the code to anyone.")


def _wrong() -> Unprocessable:
    return Unprocessable("The code is wrong, has expired or was replaced by a newer one.",
                         slug="code-invalid")


def verify(session: Session, email: str, code: str) -> Account:
    """Check ``code`` for ``email``; on success the address is proven (registration: the
    account may sign in; change: the account's address becomes ``email``).

    In the system scope: the code is all the caller has, so no person's scope exists yet to
    find its row in (revision 0017 keeps codes and accounts behind the database wall)."""
    with tenancy.system_scope(session, "mailbox proof: a code finds its account"):
        return _verify(session, email, code)


def _verify(session: Session, email: str, code: str) -> Account:
    email = normalise_email(email)
    code = code.strip()
    now = clock.now()
    rows = list(session.scalars(
        select(EmailVerification)
        .where(func.lower(EmailVerification.email) == email,
               EmailVerification.expires_at > now,
               EmailVerification.attempts < CODE_MAX_ATTEMPTS)
        .order_by(EmailVerification.created_at)
        .with_for_update()
    ))
    matched = None
    for row in rows:  # every candidate is compared: the work does not say which matched
        if hmac.compare_digest(row.code_hash, _code_hash(row.id, code)):
            matched = row
    if matched is None:
        for row in rows:
            row.attempts += 1
        session.flush()
        raise _wrong()
    account = session.get(Account, matched.account_id)
    if account is None or not account.is_active:  # pragma: no cover - cascade
        raise _wrong()
    if matched.purpose == "register":
        if normalise_email(account.email) != email:
            raise _wrong()
        account.email_verified_at = now
        action = "account.email_verified"
    else:
        other = session.scalar(select(Account.id).where(func.lower(Account.email) == email,
                                                        Account.id != account.id))
        if other is not None:
            # Only the holder of a code sent to this address learns it is taken meanwhile.
            session.delete(matched)
            session.flush()
            raise Conflict("An account with this email exists.", slug="email-taken")
        old = account.email
        account.email = email
        account.email_verified_at = now
        action = "account.email_changed"
        mail.send(old, "Your Entryfy e-mail address was changed",
                  "The e-mail address of your Entryfy account was changed to another "
                  "address just now. If you did not do this, contact the vendor's support at "
                  "once.")
    account.updated_at = now
    session.execute(delete(EmailVerification)
                    .where(EmailVerification.account_id == account.id)
                    .execution_options(synchronize_session=False))
    session.flush()
    audit.record(session, action=action, customer_id=None, actor_id=account.id,
                 actor_role="self", object_type="account", object_id=account.id,
                 subject_id=account.id)
    return account
