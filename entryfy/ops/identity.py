"""Swedish identity numbers (personnummer, samordningsnummer) for the personnel ledger.

The personnel ledger (personalliggare, Skatteverket) must show each worker's identity number,
so the person gives it once (PATCH /me). It is validated (date, Luhn check digit), normalised
to ``YYYYMMDD-NNNN``, stored only encrypted (AES-GCM, bound to the account id so a ciphertext
copied onto another account does not decrypt), shown to the person masked, and shown in clear
only in a customer's ledger, where every read is audited by the caller.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy.orm import Session

from entryfy import clock, security
from entryfy.errors import ValidationFailed
from models import Account

# YYMMDD or YYYYMMDD, optional separator ("-", or "+" for a person aged 100 or more), NNNN.
_PATTERN = re.compile(r"^(\d{2})?(\d{6})([-+]?)(\d{4})$")
# A samordningsnummer (coordination number) is a personnummer with 60 added to the day.
COORDINATION_DAY_OFFSET = 60


def luhn_ok(ten_digits: str) -> bool:
    """The Luhn check digit of a Swedish ten-digit number: personnummer, samordningsnummer and
    organisation numbers alike."""
    total = 0
    for i, ch in enumerate(ten_digits):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def normalise(raw: str, *, today: dt.date | None = None) -> str:
    """``raw`` as ``YYYYMMDD-NNNN``; raises ValidationFailed for anything that is not one."""
    today = today or clock.now().date()
    value = raw.strip().replace(" ", "")

    def fail(msg: str) -> ValidationFailed:
        return ValidationFailed({"identity_number": [msg]})

    m = _PATTERN.match(value)
    if not m:
        raise fail("Use 10 or 12 digits: YYMMDD-NNNN or YYYYMMDD-NNNN.")
    century, yymmdd, sep, tail = m.groups()
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:6])
    day = dd - COORDINATION_DAY_OFFSET if dd > COORDINATION_DAY_OFFSET else dd
    if century is not None:
        year = int(century + yymmdd[:2])
        if sep == "+":
            raise fail("The '+' separator belongs to the 10-digit form only.")
    else:
        # The 10-digit form leaves out the century: the latest one that puts the birth date
        # in the past, a hundred years earlier when written with '+' (aged 100 or more).
        year = (today.year // 100) * 100 + yy
        try:
            if dt.date(year, mm, max(day, 1)) > today:
                year -= 100
        except ValueError:
            raise fail("The date in the number does not exist.") from None
        if sep == "+":
            year -= 100
    try:
        born = dt.date(year, mm, day)
    except ValueError:
        raise fail("The date in the number does not exist.") from None
    if born > today or year < 1850:
        raise fail("The date in the number does not exist.")
    if not luhn_ok(yymmdd + tail):
        raise fail("The check digit is wrong.")
    return f"{year:04d}{mm:02d}{dd:02d}-{tail}"


def mask(normalised: str) -> str:
    """Keep the date, hide the birth number: enough for the person to recognise it."""
    return normalised[:8] + "-****"


def _context(account: Account) -> str:
    return f"account:{account.id}:identity_number"


def set_identity_number(session: Session, account: Account, raw: str | None) -> None:
    """Validate and store (encrypted) the person's number; None removes it."""
    if raw is None:
        account.identity_number_enc = None
        account.identity_number_hash = None
    else:
        number = normalise(raw)
        account.identity_number_enc = security.keys().encrypt(number, context=_context(account))
        account.identity_number_hash = lookup_hash(number)
    account.updated_at = clock.now()
    session.flush()


def lookup_hash(normalised: str) -> str:
    """The keyed hash a kiosk looks the person up by (the number normalised first)."""
    return security.keys().keyed_hash("identity-number", normalised)


def reveal(account_id: object, ciphertext: str | None) -> str | None:
    """The number in clear. Callers outside the person's own view must audit the read."""
    if ciphertext is None:
        return None
    return security.keys().decrypt(ciphertext, context=f"account:{account_id}:identity_number")


def masked(account: Account) -> str | None:
    number = reveal(account.id, account.identity_number_enc)
    return mask(number) if number else None


def backfill_lookup_hashes(session: Session, *, batch: int = 500) -> int:
    """Give every account that has an identity number but no lookup hash its hash (numbers
    stored before kiosks existed, migration 0016). One batch; returns how many were done, 0
    when none is left. Flushes; the caller commits."""
    from sqlalchemy import select

    rows = list(session.scalars(
        select(Account).where(Account.identity_number_enc.is_not(None),
                              Account.identity_number_hash.is_(None))
        .order_by(Account.id).limit(batch)))
    for account in rows:
        number = reveal(account.id, account.identity_number_enc)
        account.identity_number_hash = lookup_hash(number) if number else None
    session.flush()
    return len(rows)
