"""Who is on a site now (the muster list, "nödlista"), and the automatic check-out.

Both read the open entries of one site through the partial unique index ``uq_entries_open``
(customer_id, site_id, account_id) WHERE checked_out_at IS NULL: its size is the number of
people inside, not the table's, so the list is as fast with years of history as on the first
day. The queries below name the customer and repeat the index's WHERE clause word for word
so both databases can use it.

On PostgreSQL the list is read through ``entryfy_on_site`` (migration 0018), which checks the
database wall once per call instead of running the accounts policy's subquery for every
person (at 10,000 people that was most of the list's time, bench/onsite.py), and the
database writes the JSON and the CSV cells itself: no Python object per person.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, case, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops import entries, identity
from entryfy.ops.names import FORMULA_START, full_name
from models import Account, Entry, Site
from models.tenancy import system_scope
from privacy import audit

log = logging.getLogger(__name__)

# Rows per round trip when the list is streamed (CSV).
BATCH = 2000


def open_at_site(site_id: uuid.UUID) -> Any:
    """The index's own condition, for one site."""
    return and_(Entry.site_id == site_id, Entry.checked_out_at.is_(None),
                Entry.account_id.is_not(None))


class Present(NamedTuple):
    entry_id: uuid.UUID
    account_id: uuid.UUID
    person_name: str | None
    employer_name: str | None
    employer_org_nr: str | None
    checked_in_at: dt.datetime
    identity_number: str | None = None


_E = Entry.__table__.c
_A = Account.__table__.c
_COLUMNS = ("entry_id", "account_id", "first_name", "last_name", "employer_name",
            "employer_org_nr", "checked_in_at")


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _source(session: Session, site: Site, *, with_identity: bool = False) -> Any:
    """The site's open entries with their people's names, as a FROM clause with the columns
    ``_COLUMNS`` (and ``identity_number_enc``): ``entryfy_on_site`` on PostgreSQL, else the
    join. Either way it names the customer itself, as every query of tenant data must without
    the ORM's automatic scoping (row-level security holds it on PostgreSQL too)."""
    if _postgresql(session) and not with_identity:
        return func.entryfy_on_site(site.customer_id, site.id).table_valued(
            *_COLUMNS, name="present").render_derived()
    cols = [_E.id.label("entry_id"), _E.account_id, _A.first_name, _A.last_name,
            _E.employer_name, _E.employer_org_nr, _E.checked_in_at]
    if with_identity:
        cols.append(_A.identity_number_enc)
    return (
        select(*cols)
        .select_from(Entry.__table__.join(Account.__table__, _A.id == _E.account_id))
        .where(_E.customer_id == site.customer_id, _E.site_id == site.id,
               _E.checked_out_at.is_(None), _E.account_id.is_not(None))
        .subquery("present")
    )


def on_site(session: Session, site: Site, *, with_identity: bool = False) -> list[Present]:
    """Everyone checked in at ``site`` now, earliest first. ``with_identity``: also the
    identity numbers in clear (an inspection; the caller audits each as read).

    A Core statement on the session's connection, not an ORM query: at 10,000 people the
    ORM's row handling cost more than the query (bench/onsite.py).
    """
    src = _source(session, site, with_identity=with_identity)
    c = src.c
    stmt = select(*[c[n] for n in _COLUMNS]).order_by(c.checked_in_at, c.entry_id)
    if with_identity:
        stmt = stmt.add_columns(c.identity_number_enc)
    session.flush()
    rows = session.connection().execute(stmt).all()
    if with_identity:
        return [Present(r[0], r[1], full_name(r[2], r[3]), r[4], r[5], r[6],
                        identity.reveal(r[1], r[7])) for r in rows]
    return [Present(r[0], r[1], full_name(r[2], r[3]), r[4], r[5], r[6]) for r in rows]


def _iso_sql(col: Any, dialect: str) -> Any:
    """A stored UTC time as the text Python's isoformat() writes for it (microseconds only
    when not zero), so both databases answer alike and no datetime object is made per row.
    SQLite keeps the time naive as ``YYYY-MM-DD HH:MM:SS.ffffff`` (models.base.UTCDateTime)."""
    if dialect == "postgresql":
        # One to_char with the microseconds, dropped again when they are all zero.
        text = func.to_char(func.timezone("UTC", col), 'YYYY-MM-DD"T"HH24:MI:SS.US')
        return func.replace(text, ".000000", "") + literal("+00:00")
    frac = func.substr(col, 21)
    return (func.replace(func.substr(col, 1, 19), " ", "T")
            + case((func.coalesce(frac, "").in_(["", "000000"]), literal("")),
                   else_=literal(".") + frac)
            + literal("+00:00"))


def _uuid_sql(col: Any, dialect: str) -> Any:
    """A stored id as the text str(uuid) writes (SQLite keeps the 32 hex digits alone)."""
    if dialect == "postgresql":
        return func.cast(col, Text)
    return (func.substr(col, 1, 8) + "-" + func.substr(col, 9, 4) + "-"
            + func.substr(col, 13, 4) + "-" + func.substr(col, 17, 4) + "-"
            + func.substr(col, 21))


def _name_sql(first: Any, last: Any) -> Any:
    """``names.full_name`` in SQL: the non-empty parts joined by a space, else null."""
    first, last = func.nullif(first, ""), func.nullif(last, "")
    return case((and_(first.is_not(None), last.is_not(None)), first + " " + last),
                else_=func.coalesce(first, last))


def _has(value: Any, char: str, dialect: str) -> Any:
    return (func.strpos if dialect == "postgresql" else func.instr)(value, char) > 0


def _guard_sql(value: Any) -> Any:
    """printing.cell in SQL: typed text starting with a formula character (``FORMULA_START``)
    gets an apostrophe before it, so a spreadsheet shows it instead of running it."""
    return case((func.substr(value, 1, 1).in_(sorted(FORMULA_START)), literal("'") + value),
                else_=value)


def _quote_sql(value: Any, dialect: str) -> Any:
    """csv.writer's minimal quoting in SQL: quoted when the text holds a comma, a double
    quote or a line break, double quotes doubled; null is the empty cell."""
    quoted = case((or_(*[_has(value, ch, dialect) for ch in (",", '"', "\r", "\n")]),
                   literal('"') + func.replace(value, '"', '""') + literal('"')),
                  else_=value)
    return func.coalesce(quoted, literal(""))


# The on-site list's fields, in the order of its JSON items and CSV columns.
ON_SITE_COLUMNS = ("entry_id", "person_name", "employer_name", "checked_in_at")


def _cells(session: Session, site: Site) -> tuple[list[Any], list[Any]]:
    """The on-site list as text cells written by the database, ``(entry_id, person_name,
    employer_name, checked_in_at)``, and the columns that order it, earliest first."""
    dialect = session.get_bind().dialect.name
    c = _source(session, site).c
    return ([_uuid_sql(c.entry_id, dialect), _name_sql(c.first_name, c.last_name),
             c.employer_name, _iso_sql(c.checked_in_at, dialect)],
            [c.checked_in_at, c.entry_id])


def on_site_json(session: Session, site: Site) -> tuple[int, str]:
    """(count, JSON array text) of the on-site list's items, as ``on_site`` gives them:
    ``{entry_id, person_name, employer_name, checked_in_at}``, earliest first.

    The database writes the whole JSON, one row for the list: no Python object per person.
    At 10,000 people, making UUIDs and datetimes of every row and encoding them again cost
    several times the query, and the 10,000 dicts a list made woke Python's full garbage
    collection every few requests (bench/onsite.py: SQLite's p99 was three times its p50).
    """
    session.flush()
    cells, order = _cells(session, site)
    if not _postgresql(session):
        # SQLite 3.40 has no ORDER BY inside an aggregate: the rows come from a subquery in
        # order, which SQLite keeps (an aggregate's subquery with ORDER BY is never
        # flattened into it; tests/api/test_on_site.py orders several people).
        rows = select(*[cell.label(n) for cell, n in zip(cells, ON_SITE_COLUMNS, strict=True)]
                      ).order_by(*order).subquery("rows")
        item = func.json_object(*[x for n in ON_SITE_COLUMNS
                                  for x in (literal(n), rows.c[n])])
        count, items = session.connection().execute(
            select(func.count(), func.json_group_array(func.json(item)))).one()
        return int(count), str(items)
    item = func.json_build_object(*[x for n, cell in zip(ON_SITE_COLUMNS, cells, strict=True)
                                    for x in (literal(n), cell)])
    stmt = select(func.count(), func.coalesce(func.cast(func.json_agg(aggregate_order_by(
        item, *order)), Text), literal("[]")))
    count, items = session.connection().execute(stmt).one()
    return int(count), str(items)


def on_site_csv(session: Session, site: Site) -> Iterator[str]:
    """The on-site list's CSV rows (no header), earliest first, in pieces of ``BATCH`` rows
    read from a cursor (a server-side one on PostgreSQL): flat memory at any size. The
    database writes each line, defused and quoted (``_guard_sql``, ``_quote_sql``), so
    Python only joins them: the csv module's per-cell work was most of a 10,000-person
    list's time."""
    session.flush()
    cells, order = _cells(session, site)
    dialect = session.get_bind().dialect.name
    # Each cell computed once, in a materialised step: written inline, the quoting rule's
    # five looks at a cell repeated the name's whole expression each time (SQLite took
    # twice as long over it as Python's csv module).
    named = select(*[cell.label(n) for cell, n in zip(cells, ON_SITE_COLUMNS, strict=True)],
                   *[col.label(f"o{i}") for i, col in enumerate(order)]
                   ).cte("named").prefix_with("MATERIALIZED")
    c = named.c
    line = (c.entry_id + literal(",") + _quote_sql(_guard_sql(c.person_name), dialect)
            + literal(",") + _quote_sql(_guard_sql(c.employer_name), dialect) + literal(",")
            + c.checked_in_at + literal("\r\n"))
    stmt = select(line).order_by(c.o0, c.o1).execution_options(yield_per=BATCH)
    for part in session.connection().execute(stmt).scalars().partitions():
        yield "".join(part)


# ------------------------------------------------------------------ automatic check-out

def last_occurrence(now: dt.datetime, at: dt.time, zone: str) -> dt.datetime:
    """The latest moment not after ``now`` whose local time in ``zone`` is ``at``, in UTC.

    Local times are resolved by zoneinfo with fold=0: a time that happens twice when the
    clocks go back is the first of the two; a time that does not exist when they go forward
    (02:30 on the last Sunday of March in Stockholm) lands an hour later, at 03:30 local.
    """
    tz = zoneinfo.ZoneInfo(zone)
    local = now.astimezone(tz)
    for days_back in range(3):
        day = local.date() - dt.timedelta(days=days_back)
        candidate = dt.datetime.combine(day, at, tzinfo=tz).astimezone(dt.UTC)
        if candidate <= now:
            return candidate
    raise AssertionError("unreachable: one of three days has the time before now")


def auto_check_out(session: Session, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Close every entry still open at a site's automatic check-out time, at that time,
    marked ``auto_checkout``. Returns {site id: entries closed}.

    For each site with ``auto_checkout_time``, the cutoff is the latest occurrence of that
    local time (the site's time zone) not after ``now``: an entry checked in before it is
    closed at it, one checked in after it waits for the next day's. Idempotent (a second run
    finds nothing open before the same cutoff) and safe to run from several hosts: each
    UPDATE only touches rows still open. Runs in the named cross-tenant path; flushes, the
    caller commits. Each site's closing is audited in its customer's trail.
    """
    now = now or clock.now()
    closed: dict[str, int] = {}
    with system_scope(session, "auto-checkout"):
        sites = session.execute(
            select(Site.id, Site.customer_id, Site.timezone, Site.auto_checkout_time)
            .where(Site.auto_checkout_time.is_not(None))
            .order_by(Site.id)
        ).all()
        for site_id, customer_id, zone, at in sites:
            assert at is not None  # the query's filter
            cutoff = last_occurrence(now, at, zone)
            closed_now = list(session.scalars(
                update(Entry)
                .where(Entry.customer_id == customer_id, open_at_site(site_id),
                       Entry.checked_in_at < cutoff)
                .values(checked_out_at=cutoff, auto_checkout=True)
                .returning(Entry)
                .execution_options(synchronize_session=False)
            ))
            for entry in closed_now:  # the customer's integrations hear of it as of any other
                entries.emit_checked_out(session, entry)
            n = len(closed_now)
            if n:
                closed[str(site_id)] = n
                audit.record(session, action="entries.auto_checked_out",
                             customer_id=customer_id, actor_role="system",
                             object_type="site", object_id=site_id)
                log.info("auto check-out site=%s closed=%d", site_id, n)
        session.flush()
    return closed
