"""Who is on a site now (the muster list, "nödlista"), and the automatic check-out.

Both read the open entries of one site through the partial unique index ``uq_entries_open``
(customer_id, site_id, account_id) WHERE checked_out_at IS NULL: its size is the number of
people inside, not the table's, so the list is as fast with years of history as on the first
day. The queries below name the customer and repeat the index's WHERE clause word for word
so both databases can use it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
import zoneinfo
from typing import Any, NamedTuple

from sqlalchemy import Integer, Text, and_, case, func, literal, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops import entries, identity
from models import Account, Entry, Site
from models.tenancy import system_scope
from privacy import audit

log = logging.getLogger(__name__)


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


def on_site(session: Session, site: Site, *, with_identity: bool = False) -> list[Present]:
    """Everyone checked in at ``site`` now, earliest first. ``with_identity``: also the
    identity numbers in clear (an inspection; the caller audits each as read).

    A Core statement on the session's connection, not an ORM query: at 10,000 people the
    ORM's row handling cost more than the query (bench/onsite.py). It names the customer
    itself (and row-level security holds it on PostgreSQL), as every query of tenant data
    must without the ORM's automatic scoping.
    """
    cols = [_E.id, _E.account_id, _A.first_name, _A.last_name, _E.employer_name,
            _E.employer_org_nr, _E.checked_in_at]
    if with_identity:
        cols.append(_A.identity_number_enc)
    stmt = (
        select(*cols)
        .select_from(Entry.__table__.join(Account.__table__, _A.id == _E.account_id))
        .where(_E.customer_id == site.customer_id, _E.site_id == site.id,
               _E.checked_out_at.is_(None), _E.account_id.is_not(None))
        .order_by(_E.checked_in_at, _E.id)
    )
    session.flush()
    rows = session.connection().execute(stmt).all()
    if with_identity:
        return [Present(r[0], r[1], _name(r[2], r[3]), r[4], r[5], r[6],
                        identity.reveal(r[1], r[7])) for r in rows]
    return [Present(r[0], r[1], _name(r[2], r[3]), r[4], r[5], r[6]) for r in rows]


def on_site_json(session: Session, site: Site) -> tuple[int, str]:
    """(count, JSON array text) of the on-site list's items, as ``on_site`` gives them:
    ``{entry_id, person_name, employer_name, checked_in_at}``, earliest first.

    On PostgreSQL the database writes the JSON itself (json_agg over the same index scan):
    at 10,000 people, making Python objects of every row and encoding them again cost several
    times the query (bench/onsite.py). Times come out exactly as Python's isoformat() writes
    a UTC time (microseconds only when not zero), so both backends answer alike.
    """
    if session.get_bind().dialect.name != "postgresql":
        rows = on_site(session, site)
        return len(rows), json.dumps([
            {"entry_id": str(p.entry_id), "person_name": p.person_name,
             "employer_name": p.employer_name, "checked_in_at": p.checked_in_at.isoformat()}
            for p in rows], ensure_ascii=False)
    utc = func.timezone("UTC", _E.checked_in_at)
    micro = func.mod(func.cast(func.extract("microseconds", _E.checked_in_at), Integer), 1000000)
    iso = (func.to_char(utc, 'YYYY-MM-DD"T"HH24:MI:SS')
           + case((micro == 0, literal("")), else_=func.to_char(utc, ".US"))
           + literal("+00:00"))
    name = func.nullif(func.concat_ws(" ", func.nullif(_A.first_name, ""),
                                      func.nullif(_A.last_name, "")), "")
    item = func.json_build_object(
        literal("entry_id"), _E.id, literal("person_name"), name,
        literal("employer_name"), _E.employer_name, literal("checked_in_at"), iso)
    stmt = (
        select(func.count(),
               func.coalesce(func.cast(func.json_agg(aggregate_order_by(
                   item, _E.checked_in_at, _E.id)), Text), literal("[]")))
        .select_from(Entry.__table__.join(Account.__table__, _A.id == _E.account_id))
        .where(_E.customer_id == site.customer_id, _E.site_id == site.id,
               _E.checked_out_at.is_(None), _E.account_id.is_not(None))
    )
    session.flush()
    count, items = session.connection().execute(stmt).one()
    return int(count), str(items)


def _name(first: str | None, last: str | None) -> str | None:
    if first and last:
        return f"{first} {last}"
    return first or last or None


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
