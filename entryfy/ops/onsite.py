"""Who is on a site now (the muster list, "nödlista"), and the automatic check-out.

Both read the open entries of one site through the partial unique index ``uq_entries_open``
(site_id, account_id) WHERE checked_out_at IS NULL AND account_id IS NOT NULL: its size is
the number of people inside, not the table's, so the list is as fast with years of history
as on the first day. The queries below repeat the index's WHERE clause word for word so both
databases can use it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
import zoneinfo
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops import identity
from models import Account, Entry, Site
from models.tenancy import system_scope
from privacy import audit

log = logging.getLogger(__name__)


def open_at_site(site_id: uuid.UUID) -> Any:
    """The index's own condition, for one site."""
    return and_(Entry.site_id == site_id, Entry.checked_out_at.is_(None),
                Entry.account_id.is_not(None))


@dataclasses.dataclass(frozen=True)
class Present:
    entry_id: uuid.UUID
    account_id: uuid.UUID
    first_name: str | None
    last_name: str | None
    employer_name: str | None
    employer_org_nr: str | None
    checked_in_at: dt.datetime
    identity_number: str | None = None

    @property
    def person_name(self) -> str | None:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or None


def on_site(session: Session, site: Site, *, with_identity: bool = False) -> list[Present]:
    """Everyone checked in at ``site`` now, earliest first. ``with_identity``: also the
    identity numbers in clear (an inspection; the caller audits each as read)."""
    cols = [Entry.id, Entry.account_id, Account.first_name, Account.last_name,
            Entry.employer_name, Entry.employer_org_nr, Entry.checked_in_at]
    if with_identity:
        cols.append(Account.identity_number_enc)
    stmt = (
        select(*cols)
        .join(Account, Account.id == Entry.account_id)
        .where(Entry.customer_id == site.customer_id, open_at_site(site.id))
        .order_by(Entry.checked_in_at, Entry.id)
    )
    out = []
    for r in session.execute(stmt):
        out.append(Present(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6],
            identity.reveal(r[1], r[7]) if with_identity else None,
        ))
    return out


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
            n = session.execute(
                update(Entry)
                .where(Entry.customer_id == customer_id, open_at_site(site_id),
                       Entry.checked_in_at < cutoff)
                .values(checked_out_at=cutoff, auto_checkout=True)
                .execution_options(synchronize_session=False)
            ).rowcount
            if n:
                closed[str(site_id)] = n
                audit.record(session, action="entries.auto_checked_out",
                             customer_id=customer_id, actor_role="system",
                             object_type="site", object_id=site_id)
                log.info("auto check-out site=%s closed=%d", site_id, n)
        session.flush()
    return closed
