"""Helpers for the attendance tests: valid identity numbers, entries, check-in requests."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from sqlalchemy.orm import Session

from entryfy.ops import identity
from models import Account, Entry, Site

_serial = itertools.count(100)


def luhn_digit(nine: str) -> str:
    total = 0
    for i, ch in enumerate(nine):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def personnummer(date: str = "19850101", serial: str | None = None) -> str:
    """A valid YYYYMMDD-NNNN for ``date`` (add 60 to the day for a samordningsnummer)."""
    serial = serial or f"{next(_serial) % 1000:03d}"
    return f"{date}-{serial}{luhn_digit(date[2:] + serial)}"


def give_identity_number(session: Session, account: Account, number: str | None = None) -> str:
    number = number or personnummer()
    identity.set_identity_number(session, account, number)
    session.commit()
    return number


def entry(session: Session, site: Site, account: Account | None, *, checked_in_at: dt.datetime,
          checked_out_at: dt.datetime | None = None, **kw: Any) -> Entry:
    e = Entry(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id,
              account_id=account.id if account else None, checked_in_at=checked_in_at,
              checked_out_at=checked_out_at, source=kw.pop("source", "app"),
              restricted=kw.pop("restricted", False), **kw)
    session.add(e)
    session.commit()
    return e


def at_site(site: Site, **kw: Any) -> dict[str, Any]:
    """A check-in body standing on the site's centre."""
    return {"site_id": str(site.id), "latitude": site.latitude, "longitude": site.longitude,
            **kw}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def entries_of(session: Session, account: Account) -> int:
    """How many entries the person has (counted per person: tests share a database)."""
    return session.query(Entry).filter(Entry.account_id == account.id).count()


def corrections_of(session: Session, entry_id: uuid.UUID) -> int:
    from models import EntryCorrection

    return session.query(EntryCorrection).filter(EntryCorrection.entry_id == entry_id).count()
