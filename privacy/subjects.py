"""Finding one person's rows in every table, through the data map.

A row is the person's when a ``ref()`` column points at their account, or an e-mail column
(``contact.email`` identifier, e.g. a pending invitation) holds their address; the account row
itself is theirs. ``ref()`` columns with subject "account" make the row *about* the person
(their membership, entry, device); other subjects ("admin", "actor", "staff") mean the person
appears in another role (an admin who corrected an entry, the actor of an audit event).

Plain Python over models/: export, erasure and request routing share it, so a new table with a
``ref()`` column is included everywhere without a list to update.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, false, func, or_, select
from sqlalchemy.orm import Session

from privacy import datamap
from privacy.datamap import ColumnEntry

ACCOUNTS = "accounts"


# ref() subjects that make a row the person's own (their membership is them as a member).
OWN_SUBJECTS = ("account", "member")


@dataclasses.dataclass(frozen=True)
class TableLinks:
    """How a table's rows link to a person, and what the data map says about its columns."""

    table: Table
    model: type[Any]
    own: tuple[str, ...]  # ref() columns whose subject is the person themselves
    roles: tuple[str, ...]  # ref() columns naming the person in another role (admin, actor)
    emails: tuple[str, ...]  # contact.email identifier columns (outside accounts)
    columns: tuple[ColumnEntry, ...]
    # ref() column -> the table it points at (None: no foreign key, an account id).
    targets: tuple[tuple[str, str | None], ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def tenant(self) -> bool:
        return bool(getattr(self.model, "__tenant__", False))

    @property
    def privacy(self) -> dict[str, Any]:
        return dict(getattr(self.model, "__privacy__", {}))

    @property
    def pk(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)

    def column(self, name: str) -> ColumnEntry:
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def _match(self, col: str, account_id: uuid.UUID, email: str | None
               ) -> ColumnElement[bool]:
        target = dict(self.targets).get(col)
        c = self.table.c[col]
        if target in (None, ACCOUNTS):
            return c == account_id
        # A reference to another of the person's rows (e.g. their membership).
        parent = links(target)
        return c.in_(select(parent.pk[0]).where(parent.own_criteria(account_id, email)))

    def criteria(self, account_id: uuid.UUID, email: str | None) -> ColumnElement[bool]:
        if self.name == ACCOUNTS:
            return self.table.c.id == account_id
        parts = [self._match(c, account_id, email) for c in self.roles]
        return or_(self.own_criteria(account_id, email), *parts)

    def own_criteria(self, account_id: uuid.UUID, email: str | None) -> ColumnElement[bool]:
        t = self.table
        if self.name == ACCOUNTS:
            return t.c.id == account_id
        parts: list[ColumnElement[bool]] = [self._match(c, account_id, email) for c in self.own]
        if email:
            parts += [func.lower(t.c[c]) == email.lower() for c in self.emails]
        return or_(*parts) if parts else false()

    def role_columns(self, row: dict[str, Any], account_id: uuid.UUID) -> list[str]:
        return [c for c in self.roles if row.get(c) == account_id]


def _target(col: Column[Any]) -> str | None:
    for fk in col.foreign_keys:
        return fk.column.table.name
    return None


@cache
def person_tables() -> tuple[TableLinks, ...]:
    """Every table that can hold rows about a person, parents before children."""
    by_table: dict[str, list[ColumnEntry]] = {}
    for entry in datamap.build():
        by_table.setdefault(entry.table, []).append(entry)
    models = datamap._models_by_table()
    out: list[TableLinks] = []
    from models.base import Base

    found: dict[str, TableLinks] = {}
    for table in Base.metadata.sorted_tables:
        cols = tuple(by_table.get(table.name, ()))
        refs = [c for c in cols if c.category == "reference.person"]
        own = [c.column for c in refs if c.subject in OWN_SUBJECTS]
        roles = tuple(c.column for c in refs if c.subject not in OWN_SUBJECTS)
        emails = tuple(c.column for c in cols if c.category == "contact.email"
                       and c.identifier and table.name != ACCOUNTS)
        targets = [(c.column, _target(table.c[c.column])) for c in refs]
        # Rows that cannot exist without one of the person's rows (ON DELETE CASCADE from it,
        # e.g. a correction of their entry, a token of their device) are theirs too.
        for col in table.c:
            if col.name in own or col.name in roles:
                continue
            for fk in col.foreign_keys:
                parent = found.get(fk.column.table.name)
                if fk.ondelete == "CASCADE" and parent is not None and parent.name != ACCOUNTS \
                        and (parent.own or parent.emails) and fk.column is parent.pk[0]:
                    own.append(col.name)
                    targets.append((col.name, parent.name))
        if table.name != ACCOUNTS and not (own or roles or emails):
            continue
        tl = TableLinks(table, models[table.name], tuple(own), roles, emails, cols,
                        tuple(targets))
        found[table.name] = tl
        out.append(tl)
    return tuple(out)


def links(name: str) -> TableLinks:
    for tl in person_tables():
        if tl.name == name:
            return tl
    raise KeyError(name)


def rows(session: Session, tl: TableLinks, account_id: uuid.UUID, email: str | None, *,
         customer_ids: set[uuid.UUID] | None = None) -> Iterator[dict[str, Any]]:
    """The person's rows of one table (the caller holds a system scope), as plain dicts; the
    key ``_own`` tells whether the row is about the person (else they appear in a role).

    ``customer_ids``: only these tenants' rows (tables with a customer_id).
    """
    own = tl.own_criteria(account_id, email)
    stmt = select(tl.table, own.label("_own")).where(tl.criteria(account_id, email))
    if customer_ids is not None and "customer_id" in tl.table.c:
        stmt = stmt.where(tl.table.c.customer_id.in_(sorted(customer_ids)))
    stmt = stmt.order_by(*tl.pk)
    for row in session.execute(stmt.execution_options(yield_per=500)):
        d = dict(row._mapping)
        d["_own"] = bool(d["_own"])
        yield d


def customers_concerned(session: Session, account_id: uuid.UUID,
                        email: str | None) -> set[uuid.UUID]:
    """The customers whose tenant data hold rows about the person."""
    found: set[uuid.UUID] = set()
    for tl in person_tables():
        if not tl.tenant:
            continue
        stmt = (select(tl.table.c.customer_id).where(tl.own_criteria(account_id, email))
                .distinct())
        found.update(session.scalars(stmt))
    return found


def jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value
