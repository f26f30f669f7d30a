"""Names beside ids in the admins' lists: one query per kind of name for a whole page, never
one per row (no N+1). The caller has already scoped the session to the customer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Account, Door, Site

# The first characters a spreadsheet reads as a formula: a CSV cell of typed text starting
# with one is written with an apostrophe before it (api.printing.cell, and the database-made
# lines of ops.onsite.on_site_csv).
FORMULA_START = frozenset("=+-@\t\r")


def full_name(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None


def person_names(session: Session, account_ids: Iterable[uuid.UUID | None]
                 ) -> dict[uuid.UUID, str | None]:
    ids = {i for i in account_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(Account.id, Account.first_name, Account.last_name)
                           .where(Account.id.in_(ids)))
    return {r.id: full_name(r.first_name, r.last_name) for r in rows}


def person_name(session: Session, account_id: uuid.UUID | None) -> str | None:
    """One person's name (None for none, e.g. an erased account's entry)."""
    return None if account_id is None else person_names(session, [account_id]).get(account_id)


def site_names(session: Session, site_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {i for i in site_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Site.id, Site.name).where(Site.id.in_(ids))).all())


def door_names(session: Session, door_ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    ids = {i for i in door_ids if i is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Door.id, Door.name).where(Door.id.in_(ids))).all())
