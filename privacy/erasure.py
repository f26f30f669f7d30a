"""Erasure (GDPR Art. 17): a preview, the erasure itself with proof per row, and re-applying
recorded erasures after a restore from backup.

Each of the person's rows (found through the data map, privacy.subjects) gets one outcome:

* ``withheld`` - a legal hold in the processing registry keeps it (the personnel ledger under
  skatteförfarandelagen), or it is part of the hash-chained audit trail, which holds only
  references. Rows with a ``restricted`` column are marked restricted: storage and legal
  claims only. The rule is named.
* ``anonymised`` - the table asks for it (``__privacy__["erasure"] = "anonymise"``: request
  records kept to demonstrate compliance), or the person only appears in another role (the
  admin who corrected an entry), or held rows still need the row: the person's values and
  links are cleared, the rest stays.
* ``deleted`` - everything else.

The account row is erased last: deleted when nothing kept refers to it; otherwise its contact
data, credentials and activity are cleared and only what a legal hold needs (name, identity
number for the ledger) is kept, withheld under that rule.

Proof is written as ``ErasureRecord`` rows (table, row id, outcome, rule, column names), never
the data, under an ``Erasure`` tombstone holding the account id and a keyed hash of the
e-mail address. What erasing again after a restore needs lives outside the database, in the
witness journal (privacy.journal, privacy.erasure_flow.reapply): a backup older than the
erasure holds no tombstone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, Table, delete, select, update
from sqlalchemy.orm import Session

from entryfy import clock, security
from models import Account, Erasure, ErasureRecord
from models.tenancy import system_scope
from privacy import datamap, registry, subjects
from privacy.subjects import ACCOUNTS, TableLinks

log = logging.getLogger(__name__)

# Append-only, hash-chained: changing a record would break the chain for everyone.
CHAINED = {"audit_events": "the hash-chained audit trail holds references only, no values"}
# Tables whose rows are the request process itself: erased only with the platform part.
REQUEST_TABLES = {"data_requests", "data_request_parts", "data_request_events",
                  "request_verifications"}
# Categories kept on a withheld account for the rules that hold rows referring to it.
ACCOUNT_EMAIL_DOMAIN = "erased.invalid"


@dataclasses.dataclass
class Action:
    table: str
    row_id: str
    customer_id: uuid.UUID | None
    outcome: str  # deleted | anonymised | withheld
    rule: str | None
    columns: list[str]
    reason: str
    values: dict[str, Any] = dataclasses.field(default_factory=dict)
    pk: dict[str, Any] = dataclasses.field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "row_id": self.row_id,
            "customer_id": str(self.customer_id) if self.customer_id else None,
            "outcome": self.outcome,
            "rule": self.rule,
            "columns": self.columns,
            "reason": self.reason,
        }


@dataclasses.dataclass
class Plan:
    account_id: uuid.UUID
    actions: list[Action]

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for a in self.actions:
            t = out.setdefault(a.table, {"deleted": 0, "anonymised": 0, "withheld": 0})
            t[a.outcome] += 1
        return out

    def public(self) -> dict[str, Any]:
        return {
            "account_id": str(self.account_id),
            "counts": self.counts(),
            "rows": [a.public() for a in self.actions],
            "withheld": [a.public() for a in self.actions if a.outcome == "withheld"],
        }


def email_hash(email: str) -> str:
    return security.keys().keyed_hash("erasure-email", email.strip().lower())


def _rule(key: str | None) -> registry.RetentionRule | None:
    if not key:
        return None
    try:
        return registry.retention_rule(key)
    except KeyError:
        return None


def anchor_columns(table: Table) -> list[str]:
    """The times a legal hold counts from: when the row was written and every personal time
    in it (an entry is kept while any note about it is within the period)."""
    cols = ["created_at"] if "created_at" in table.c else []
    by_name = {c.column: c for c in datamap.build() if c.table == table.name}
    for col in table.c:
        entry = by_name.get(col.name)
        # A time column is a models.base.UTCDateTime (a TypeDecorator: its own python_type is
        # ``object``), stored through a DateTime.
        if entry is not None and entry.personal and \
                isinstance(getattr(col.type, "impl", col.type), DateTime):
            cols.append(col.name)
    return cols


class HoldScope:
    """Whether a legal hold's duty reaches one row (registry ``RetentionRule.applies_to``).

    The personnel-ledger duty (skatteförfarandelagen) exists only where the site keeps a
    ledger: an entry at a site with a ledger id (and a correction of such an entry) is held;
    an entry anywhere else is ordinary attendance data and is erased like any other row."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._ledger_sites: set[Any] | None = None
        self._entry_sites: dict[Any, Any] = {}

    @staticmethod
    def ledger_sites_stmt() -> Any:
        """The one statement of where the ledger duty exists: sites with a ledger id."""
        from models import Site

        return select(Site.id).where(Site.ledger_id.is_not(None), Site.ledger_id != "")

    @classmethod
    def reach_sql(cls, key: str | None, table: Table) -> Any:
        """:meth:`reaches` as SQL over ``table`` (offboarding's purge); None: every row."""
        if key != "personnel_ledger":
            return None
        from models import Entry

        if "site_id" in table.c:
            return table.c.site_id.in_(cls.ledger_sites_stmt())
        if "entry_id" in table.c:
            ledger_entries = select(Entry.id).where(Entry.site_id.in_(cls.ledger_sites_stmt()))
            if "customer_id" in table.c:
                # The row's own customer named too: the entries' index of a site leads with it.
                ledger_entries = ledger_entries.where(
                    Entry.customer_id == table.c.customer_id).correlate(table)
            return table.c.entry_id.in_(ledger_entries)
        return None

    def ledger_sites(self) -> set[Any]:
        if self._ledger_sites is None:
            self._ledger_sites = set(self.session.scalars(self.ledger_sites_stmt()))
        return self._ledger_sites

    def reaches(self, key: str, table: str, row: dict[str, Any]) -> bool:
        if key != "personnel_ledger":
            return True
        site_id = row.get("site_id")
        if site_id is None and row.get("entry_id") is not None:
            if row["entry_id"] not in self._entry_sites:
                from models import Entry

                self._entry_sites[row["entry_id"]] = self.session.scalar(
                    select(Entry.site_id).where(Entry.id == row["entry_id"]))
            site_id = self._entry_sites[row["entry_id"]]
        return site_id in self.ledger_sites()


def _held(tl: TableLinks, row: dict[str, Any], now: dt.datetime,
          scope: HoldScope | None = None) -> str | None:
    """The retention key of a legal hold that keeps this row now, or None."""
    key = tl.privacy.get("retention")
    rule = _rule(key)
    if rule is None or not rule.legal_hold or key is None:
        return None
    if scope is not None and not scope.reaches(key, tl.name, row):
        return None
    times = [row[c] for c in anchor_columns(tl.table) if row.get(c) is not None]
    anchor = max(times) if times else now
    return key if rule.held(anchor, now) else None


def _hold_text(key: str) -> str:
    rule = _rule(key)
    return (rule.applies_to or rule.description) if rule else key


def _cleared_value(tl: TableLinks, name: str, row: dict[str, Any]) -> Any:
    col = tl.table.c[name]
    if col.nullable:
        return None
    if name == "email":
        return f"erased-{row['id']}@{ACCOUNT_EMAIL_DOMAIN}"
    python_type = getattr(col.type, "python_type", str)
    if python_type is str:
        return ""
    if python_type is bool:
        return False
    raise ValueError(f"cannot clear {tl.name}.{name}")


def _pk(tl: TableLinks, row: dict[str, Any]) -> dict[str, Any]:
    return {c.name: row[c.name] for c in tl.pk}


def _row_id(pk: dict[str, Any]) -> str:
    return ":".join(str(v) for v in pk.values())[:64]


def _anonymise_values(tl: TableLinks, row: dict[str, Any], columns: Iterable[str]
                      ) -> dict[str, Any]:
    return {c: _cleared_value(tl, c, row) for c in columns}


def _decide(tl: TableLinks, row: dict[str, Any], account_id: uuid.UUID, email: str | None,
            now: dt.datetime, scope: HoldScope | None = None) -> Action:
    pk = _pk(tl, row)
    cid = row.get("customer_id")
    base: dict[str, Any] = {"table": tl.name, "row_id": _row_id(pk), "customer_id": cid,
                            "pk": pk}
    if tl.name in CHAINED:
        return Action(**base, outcome="withheld", rule=tl.privacy.get("retention"), columns=[],
                      reason=CHAINED[tl.name])
    if tl.privacy.get("erasure") == "keep":
        return Action(**base, outcome="withheld", rule=tl.privacy.get("retention"), columns=[],
                      reason="kept until its own retention period ends; holds references "
                             "only, no values about you")
    held = _held(tl, row, now, scope)
    if held:
        values = {"restricted": True} if "restricted" in tl.table.c else {}
        return Action(**base, outcome="withheld", rule=held,
                      columns=[c.column for c in tl.columns if c.personal],
                      reason=f"kept under legal hold ({held}: {_hold_text(held)}); "
                             "restricted to storage and legal claims" if values else
                             f"kept under legal hold ({held}: {_hold_text(held)})",
                      values=values)
    own = bool(row.get("_own"))
    mode = tl.privacy.get("erasure", "delete")
    if not own:
        cols = tl.role_columns(row, account_id)
        if all(tl.table.c[c].nullable for c in cols):
            return Action(**base, outcome="anonymised", rule=tl.privacy.get("retention"),
                          columns=cols, reason="you appear in another role: the link to you "
                          "is removed, the record stays", values=dict.fromkeys(cols))
        return Action(**base, outcome="withheld", rule=tl.privacy.get("retention"), columns=cols,
                      reason="the record cannot exist without this link")
    if mode == "anonymise":
        cols = [c.column for c in tl.columns if c.personal]
        return Action(**base, outcome="anonymised", rule=tl.privacy.get("retention"),
                      columns=cols, reason="the record is kept without anything about you, to "
                      "demonstrate how your request was handled",
                      values=_anonymise_values(tl, row, cols))
    return Action(**base, outcome="deleted", rule=tl.privacy.get("retention"), columns=[],
                  reason="erased")


def plan(session: Session, account_id: uuid.UUID, email: str | None, *,
         customer_ids: set[uuid.UUID] | None = None, platform: bool = True,
         now: dt.datetime | None = None) -> Plan:
    """What erasure would do. ``customer_ids``: these tenants' rows (None: every tenant);
    ``platform``: also the vendor's data (the account, its devices, requests ...)."""
    now = now or clock.now()
    actions: list[Action] = []
    holds = HoldScope(session)
    with system_scope(session, "erasure: rows linked to one person"):
        # Children first: a parent is only decided once we know what still needs it.
        for tl in reversed(subjects.person_tables()):
            if tl.name == ACCOUNTS:
                continue
            tenantish = tl.tenant or ("customer_id" in tl.table.c and tl.name in CHAINED)
            if tl.name in REQUEST_TABLES:
                if not platform:
                    continue
                scope = None
            elif tenantish:
                scope = customer_ids
            else:
                if not platform:
                    continue
                scope = None
            found: Iterable[dict[str, Any]]
            if tl.name in CHAINED and scope is not None:
                # The platform's own chain (customer_id NULL) goes with the platform part.
                wanted = set(scope)
                found = (r for r in subjects.rows(session, tl, account_id, email)
                         if r.get("customer_id") in wanted
                         or (platform and r.get("customer_id") is None))
            else:
                found = subjects.rows(session, tl, account_id, email, customer_ids=scope)
            for row in found:
                actions.append(_decide(tl, row, account_id, email, now, holds))
        _protect_parents(session, actions)
        if platform:
            acc = account_action(session, account_id, actions, holds)
            if acc is not None:
                actions.append(acc)
    return Plan(account_id, actions)


def _protect_parents(session: Session, actions: list[Action]) -> None:
    """A row that a withheld row needs (FK with ON DELETE CASCADE) is anonymised, not deleted."""
    kept: dict[str, set[str]] = {}
    for a in actions:
        if a.outcome == "withheld":
            kept.setdefault(a.table, set()).add(a.row_id)
    if not kept:
        return
    tables = {tl.name: tl for tl in subjects.person_tables()}
    needed: set[tuple[str, str]] = set()
    for table_name, ids in kept.items():
        t: Table = tables[table_name].table
        if "id" not in t.c:
            continue
        for fk in t.foreign_keys:
            if fk.ondelete != "CASCADE" or fk.column.table.name not in tables:
                continue
            col = fk.parent
            stmt = select(col).where(t.c.id.in_([uuid.UUID(i) for i in ids]),
                                     col.is_not(None)).distinct()
            needed.update((fk.column.table.name, str(v)) for v in session.scalars(stmt))
    for a in actions:
        if a.outcome == "deleted" and (a.table, a.row_id) in needed:
            tl = tables[a.table]
            row = dict(session.execute(select(tl.table).where(
                *[tl.table.c[k] == v for k, v in a.pk.items()])).one()._mapping)
            cols = [c.column for c in tl.columns if c.personal and tl.table.c[c.column].nullable]
            a.outcome, a.columns = "anonymised", cols
            a.reason = "a record kept under legal hold needs this one; your data in it cleared"
            a.values = _anonymise_values(tl, row, cols)


def account_action(session: Session, account_id: uuid.UUID, planned: list[Action],
                   scope: HoldScope | None = None) -> Action | None:
    """The account row: deleted, or cleared except what a legal hold needs."""
    tl = subjects.links(ACCOUNTS)
    row_obj = session.execute(select(tl.table).where(tl.table.c.id == account_id)).first()
    if row_obj is None:
        return None
    row = dict(row_obj._mapping)
    gone = {(a.table, a.row_id) for a in planned
            if a.outcome == "deleted" or (a.outcome == "anonymised" and a.values)}
    holds: set[str] = set()
    others = False
    # Rows in any table still pointing at the account through a foreign key after the plan.
    from models.base import Base

    by_name = {tl.name: tl for tl in subjects.person_tables()}
    now = clock.now()
    for t in Base.metadata.sorted_tables:
        for fk in t.foreign_keys:
            if fk.column.table.name != ACCOUNTS or t.name == ACCOUNTS:
                continue
            stmt = select(t).where(fk.parent == account_id)
            for r in session.execute(stmt):
                m = dict(r._mapping)
                rid = _row_id({c.name: m[c.name] for c in t.primary_key.columns})
                if (t.name, rid) in gone:
                    continue
                held = _held(by_name[t.name], m, now, scope) if t.name in by_name else None
                if held:
                    holds.add(held)
                else:
                    # A customer kept it (denied its part): the account stays, emptied.
                    others = True
    pk = {"id": account_id}
    base: dict[str, Any] = {"table": ACCOUNTS, "row_id": str(account_id), "customer_id": None,
                            "pk": pk}
    if not holds and not others:
        return Action(**base, outcome="deleted", rule="account_lifetime", columns=[],
                      reason="your account is deleted")
    keep_categories: set[str] = set()
    for key in holds:
        for p in registry.purposes():
            if key in p.retention_keys:
                keep_categories.update(p.data_categories)
    # A hold keeps who the person is (name, identity number), never how to reach them.
    keep = [c.column for c in tl.columns if c.personal and c.category.startswith("identity.")
            and c.category in keep_categories]
    clear = [c.column for c in tl.columns if c.personal and c.column not in keep]
    values = _anonymise_values(tl, row, clear)
    if "is_active" in tl.table.c:
        values["is_active"] = False
    if holds:
        rule = sorted(holds)[0]
        return Action(**base, outcome="withheld", rule=rule, columns=keep, values=values,
                      reason=f"kept only as the ledger needs it ({', '.join(sorted(holds))}): "
                             "contact data, password and activity erased, sign-in disabled")
    return Action(**base, outcome="anonymised", rule="account_lifetime", columns=clear,
                  values=values, reason="records a customer keeps still refer to this account; "
                  "everything about you in it erased")


def preview(session: Session, account: Account) -> dict[str, Any]:
    p = plan(session, account.id, account.email)
    return p.public()


def execute(session: Session, account_id: uuid.UUID, *, request_id: uuid.UUID | None = None,
            customer_id: uuid.UUID | None = None, platform: bool = True,
            erasure: Erasure | None = None, email: str | None = None
            ) -> tuple[Erasure, Plan]:
    """Erase one customer's part (``customer_id``) or the platform part (``platform``).

    Flushes; the caller commits. Records the proof under an ``Erasure`` tombstone.
    """
    now = clock.now()
    with system_scope(session, "erasure"):
        acc = session.execute(
            select(Account.email).where(Account.id == account_id)
        ).scalar_one_or_none()
        # ``email``: the address as it was before an earlier round erased it (invitations
        # and other rows found by address).
        email = email or (acc if acc and not acc.endswith("@" + ACCOUNT_EMAIL_DOMAIN)
                          else None)
        p = plan(session, account_id, email,
                 customer_ids={customer_id} if customer_id else (set() if platform else None),
                 platform=platform, now=now)
        if erasure is None:
            erasure = Erasure(id=uuid.uuid4(), request_id=request_id, account_id=account_id,
                              email_hash=email_hash(email) if email else None,
                              customer_id=customer_id, performed_at=now, withheld=0)
            session.add(erasure)
        else:
            erasure.reapplied_at = now
        session.flush()
        apply(session, p)
        erasure.withheld = (erasure.withheld or 0) + sum(
            1 for a in p.actions if a.outcome == "withheld")
        session.add_all(ErasureRecord(
            id=uuid.uuid4(), erasure_id=erasure.id, recorded_at=now, table_name=a.table,
            row_id=a.row_id, outcome=a.outcome, rule=a.rule,
            columns=",".join(a.columns) or None) for a in p.actions)
        session.flush()
    log.info("erasure %s done: %d rows (customer=%s)", erasure.id, len(p.actions), customer_id)
    return erasure, p


def apply(session: Session, p: Plan) -> None:
    tables = {tl.name: tl for tl in subjects.person_tables()}
    # The plan lists children first; the account row is last.
    for a in p.actions:
        t = tables[a.table].table
        where = [t.c[k] == v for k, v in a.pk.items()]
        if a.outcome == "deleted":
            session.execute(delete(t).where(*where))
        elif a.values:
            session.execute(update(t).where(*where).values(**a.values))
    session.expire_all()
