"""One index of the open shifts (revision 0020): uq_entries_open (customer_id, site_id,
account_id) WHERE checked_out_at IS NULL keeps one open entry per person and site, and every
query of open shifts (who is on site, the dashboard, the admins' open_only list) still reads
an index, not the table."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from entryfy.ops import entries as entry_ops
from entryfy.ops import onsite
from models import Entry
from tests.attendance import entry

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


def _plan(session, backend, stmt) -> str:
    sql = str(stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True}))
    if backend.name == "postgresql":
        # A tiny test table is cheaper to scan: tell the planner scans cost too much, so it
        # shows which index it would take.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(r[0] for r in session.execute(text("EXPLAIN " + sql)))
    return "\n".join(str(r[-1]) for r in session.execute(text("EXPLAIN QUERY PLAN " + sql)))


def test_entries_have_one_index_of_the_open_shifts(session):
    indexes = {i["name"]: i for i in inspect(session.connection()).get_indexes("entries")}
    assert "ix_entries_open" not in indexes
    assert indexes["uq_entries_open"]["column_names"] == ["customer_id", "site_id", "account_id"]
    assert indexes["uq_entries_open"]["unique"]


def _open(customer_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return (Entry.customer_id == customer_id, Entry.checked_out_at.is_(None))


def _history(session, backend, site, n: int = 3000) -> None:  # type: ignore[no-untyped-def]
    """``n`` closed shifts at the site, and (PostgreSQL) statistics that know it: what makes
    the open shifts' index the cheap one is that they are a sliver of the site's entries. In
    the test's own transaction, undone with it."""
    session.execute(insert(Entry), [
        {"id": uuid.uuid4(), "customer_id": site.customer_id, "site_id": site.id,
         "account_id": None, "checked_in_at": T0 - dt.timedelta(days=1, minutes=i),
         "checked_out_at": T0 - dt.timedelta(hours=12, minutes=i), "source": "app",
         "restricted": False, "auto_checkout": False, "created_at": T0} for i in range(n)])
    if backend.name == "postgresql":
        session.execute(text("ANALYZE entries"))


@pytest.mark.parametrize("query", ["on_site", "dashboard_counts", "open_only_list"])
def test_open_shift_queries_read_the_open_entries_index(session, backend, world, query):
    a = world.a
    entry(session, a.site, a.worker, checked_in_at=T0)
    _history(session, backend, a.site)
    if query == "on_site":
        stmt = select(Entry.id).where(Entry.customer_id == a.customer.id,
                                      onsite.open_at_site(a.site.id))
    elif query == "dashboard_counts":  # entryfy.ops.dashboard.on_site_now
        stmt = (select(Entry.site_id, func.count()).where(*_open(a.customer.id))
                .group_by(Entry.site_id))
    else:  # GET /customers/{id}/entries?open_only=true, its first page
        stmt = (entry_ops.customer_entries(a.customer.id, open_only=True)
                .order_by(Entry.checked_in_at.desc(), Entry.id.desc()).limit(50))
    plan = _plan(session, backend, stmt)
    if backend.name == "postgresql" or query != "open_only_list":
        assert "uq_entries_open" in plan, plan
    else:
        # SQLite plans without statistics: for a list in check-in order it walks the
        # customer's check-in index (as it did with ix_entries_open), still an index.
        assert "USING INDEX" in plan, plan


def _new(site, account_id, at):  # type: ignore[no-untyped-def]
    return Entry(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id,
                 account_id=account_id, checked_in_at=at, source="app", restricted=False)


def test_one_open_entry_per_person_and_site_still_holds(session, world):
    a = world.a
    entry(session, a.site, a.worker, checked_in_at=T0)
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(_new(a.site, a.worker.id, T0 + dt.timedelta(minutes=1)))
        session.flush()
    # Checked out, the person may open a new shift at the same site.
    session.execute(update(Entry).where(Entry.account_id == a.worker.id)
                    .values(checked_out_at=T0 + dt.timedelta(hours=1)))
    entry(session, a.site, a.worker, checked_in_at=T0 + dt.timedelta(hours=2))
    assert session.scalar(select(func.count()).select_from(Entry).where(
        Entry.account_id == a.worker.id, Entry.checked_out_at.is_(None))) == 1


def test_anonymised_open_entries_never_conflict(session, world):
    """A NULL account_id (retention or erasure anonymised the entry) is no person: two such
    open entries at one site stand side by side, as before the index lost that term."""
    a = world.a
    for minute in (0, 1):
        entry(session, a.site, None, checked_in_at=T0 + dt.timedelta(minutes=minute))
    assert session.scalar(select(func.count()).select_from(Entry).where(
        Entry.site_id == a.site.id, Entry.account_id.is_(None),
        Entry.checked_out_at.is_(None))) == 2
