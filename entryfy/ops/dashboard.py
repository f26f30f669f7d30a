"""What the console's dashboard shows: who is on site now (open entries, with names), what
waits for the customer (pending data-subject requests, open tickets) and the open alerts
(door controllers gone quiet, refused attempts at the doors in the last day).

Small on purpose: the site operations work (#16) brings the full on-site list API; this is the
dashboard's summary, a bounded number of names per site and a count, in three queries whatever
the number of sites or people (no N+1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops.names import full_name
from models import AccessEvent, Account, Controller, DataRequestPart, Entry, Site, Ticket


@dataclasses.dataclass
class OnSite:
    site: Site
    count: int
    people: list[tuple[uuid.UUID, str | None, str | None, dt.datetime]]  # entry, name, employer, in


def on_site_now(session: Session, customer_id: uuid.UUID, *, per_site: int = 25
                ) -> list[OnSite]:
    """Every site of the customer with its open entries: the count and the latest
    ``per_site`` people (restricted rows left out, as in every admin list)."""
    sites = list(session.scalars(select(Site).where(Site.customer_id == customer_id)
                                 .order_by(Site.name, Site.id)))
    if not sites:
        return []
    open_ = (Entry.customer_id == customer_id, Entry.checked_out_at.is_(None),
             Entry.restricted.is_(False))
    counts = dict(session.execute(select(Entry.site_id, func.count()).where(*open_)
                                  .group_by(Entry.site_id)).all())
    ranked = (select(Entry.id, Entry.site_id, Entry.account_id, Entry.employer_name,
                     Entry.checked_in_at,
                     func.row_number().over(partition_by=Entry.site_id,
                                            order_by=(Entry.checked_in_at.desc(),
                                                      Entry.id.desc())).label("rank"))
              .where(*open_).subquery())
    rows = session.execute(
        select(ranked, Account.first_name, Account.last_name)
        .outerjoin(Account, Account.id == ranked.c.account_id)
        .where(ranked.c.rank <= per_site)
        .order_by(ranked.c.site_id, ranked.c.rank))
    people: dict[uuid.UUID, list[tuple[uuid.UUID, str | None, str | None, dt.datetime]]] = {}
    for r in rows:
        people.setdefault(r.site_id, []).append(
            (r.id, full_name(r.first_name, r.last_name), r.employer_name, r.checked_in_at))
    return [OnSite(s, counts.get(s.id, 0), people.get(s.id, [])) for s in sites]


def waiting(session: Session, customer_id: uuid.UUID) -> dict[str, int]:
    """Counts of what waits for the customer's admins."""
    pending = session.scalar(select(func.count()).select_from(DataRequestPart).where(
        DataRequestPart.customer_id == customer_id, DataRequestPart.status == "pending"))
    tickets = session.scalar(select(func.count()).select_from(Ticket).where(
        Ticket.customer_id == customer_id, Ticket.status != "closed"))
    return {"requests": pending or 0, "tickets": tickets or 0}


@dataclasses.dataclass
class Alerts:
    offline: list[tuple[str, dt.datetime | None]]  # controller name, offline since (first 20)
    offline_count: int
    denied_last_day: int

    @property
    def any(self) -> bool:
        return bool(self.offline_count or self.denied_last_day)


def alerts(session: Session, customer_id: uuid.UUID, *, shown: int = 20) -> Alerts:
    """What needs a look: controllers the worker's offline check flagged (entryfy.jobs), and
    refused door attempts in the last 24 hours (the index on customer and time serves it)."""
    offline = Controller.customer_id == customer_id, Controller.offline_since.is_not(None)
    names = session.execute(select(Controller.name, Controller.offline_since).where(*offline)
                            .order_by(Controller.offline_since, Controller.name).limit(shown))
    count = session.scalar(select(func.count()).select_from(Controller).where(*offline)) or 0
    denied = session.scalar(select(func.count()).select_from(AccessEvent).where(
        AccessEvent.customer_id == customer_id,
        AccessEvent.occurred_at >= clock.now() - dt.timedelta(days=1),
        AccessEvent.outcome == "denied")) or 0
    return Alerts([(n, since) for n, since in names], count, denied)
