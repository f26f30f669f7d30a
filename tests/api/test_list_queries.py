"""The admin entry list's query, as it must stay for lists at size (bench.data_at_size):

* a later page bounds the time column on its own (an index condition), besides the
  (time, id) comparison, so a page deep in the past reads one page of the index;
* on PostgreSQL each page is planned for its own values (a generic plan of a prepared
  statement read a whole busy site and sorted it);
* pinned to the customer, it leaves out the ORM's "or the person's own rows" branch (which
  made PostgreSQL read and sort the whole customer), and still shows that customer's rows
  only: never the admin's own entries at another customer;
* on PostgreSQL, a small customer's pages beside a large customer's read one page of the
  (customer_id, time) index, not all its rows plus a sort: the policy's customer test must
  not shrink the estimate below a page (models/rls.py, ``policy_sql``).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import event, text

from models import Entry, Membership
from tests.factories import bearer


def _entry(session, tenant, account, at: dt.datetime) -> Entry:  # type: ignore[no-untyped-def]
    m = session.query(Membership).filter_by(customer_id=tenant.customer.id,
                                            account_id=account.id).one()
    e = Entry(id=uuid.uuid4(), customer_id=tenant.customer.id, site_id=tenant.site.id,
              account_id=account.id, membership_id=m.id, checked_in_at=at,
              checked_out_at=at + dt.timedelta(hours=8), source="app", restricted=False,
              created_at=at)
    session.add(e)
    return e


def test_pages_of_the_admin_list_query_shape_and_rows(app, client, session, world, make,
                                                      database):  # type: ignore[no-untyped-def]
    a, b = world.a, world.b
    # A's admin also works at B, with entries there: they must never show in A's list.
    make.membership(b.customer, a.admin, "member")
    t0 = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
    mine = [_entry(session, a, a.worker, t0 + dt.timedelta(days=i)) for i in range(5)]
    _entry(session, b, a.admin, t0 + dt.timedelta(days=10))
    _entry(session, b, b.worker, t0 + dt.timedelta(days=11))
    session.commit()
    h = bearer(client, a.admin, device_id="admin-phone")
    url = f"/api/v1/customers/{a.customer.id}/entries"

    statements: list[str] = []
    before: list[str] = []  # the statement before each list query

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if "FROM entries" in statement and "ORDER BY entries.checked_in_at DESC" in statement:
            statements.append(" ".join(statement.split()))
            before.append(conn.info.get("list_queries.last", ""))
        conn.info["list_queries.last"] = statement

    engine = database.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        got, cursor = [], None
        for _ in range(3):
            r = client.get(url, query_string={"limit": 2, **({"cursor": cursor} if cursor
                                                              else {})}, headers=h)
            assert r.status_code == 200, r.get_json()
            got += [x["id"] for x in r.get_json()["items"]]
            cursor = r.get_json()["next_cursor"]
            if cursor is None:
                break
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # Newest first, every one of A's entries once, none of B's (the admin's own included).
    assert got == [str(e.id) for e in reversed(mine)]
    assert len(statements) == 3
    first, later = statements[0], statements[1:]
    for sql in statements:
        # The customer's rows only: no "OR entries.account_id = <me>" branch.
        assert "entries.account_id =" not in sql, sql
    assert "entries.checked_in_at <=" not in first
    custom = "SET LOCAL plan_cache_mode = force_custom_plan"
    assert before == ([custom] * 3 if database.dialect == "postgresql" else [b for b in before
                                                                          if b != custom])
    for sql in later:
        # The bound on its own, before the (time, id) comparison: an index condition.
        assert "entries.checked_in_at <=" in sql, sql
        assert "entries.checked_in_at <" in sql.split("entries.checked_in_at <=", 1)[1], sql


def test_another_customers_list_stays_404(client, world):  # type: ignore[no-untyped-def]
    h = bearer(client, world.a.admin, device_id="admin-phone")
    r = client.get(f"/api/v1/customers/{world.b.customer.id}/entries", headers=h)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("application/problem+json")


# The rows in SQL, as the owner (one statement each; an ORM insert of 60,000 rows is slow).
# Every 31st row is the small customer's: 2,000 of 62,000, spread through the table.
_BULK = {
    "entries": (
        "INSERT INTO entries (id, customer_id, site_id, account_id, membership_id,"
        " checked_in_at, checked_out_at, source, restricted, auto_checkout, created_at)"
        " SELECT gen_random_uuid(), c, s, a, m, t, t + interval '8 hours', 'app', false, false, t"
        " FROM (SELECT CASE WHEN i % 31 = 0 THEN :ca ELSE :cb END AS c,"
        " CASE WHEN i % 31 = 0 THEN :sa ELSE :sb END AS s,"
        " CASE WHEN i % 31 = 0 THEN :aa ELSE :ab END AS a,"
        " CASE WHEN i % 31 = 0 THEN :ma ELSE :mb END AS m,"
        " timestamptz '2026-06-01' - i * interval '7 minutes' AS t"
        " FROM generate_series(1, 62000) i) g"),
    "access_events": (
        "INSERT INTO access_events (id, customer_id, account_id, membership_id, occurred_at,"
        " outcome, source, direction, recorded_at)"
        " SELECT gen_random_uuid(), c, a, m, t, 'granted', 'app', 'in', t"
        " FROM (SELECT CASE WHEN i % 31 = 0 THEN :ca ELSE :cb END AS c,"
        " CASE WHEN i % 31 = 0 THEN :aa ELSE :ab END AS a,"
        " CASE WHEN i % 31 = 0 THEN :ma ELSE :mb END AS m,"
        " timestamptz '2026-06-01' - i * interval '7 minutes' AS t"
        " FROM generate_series(1, 62000) i) g"),
}
_LIST = {"entries": ("entries", "ix_entries_customer_in", "checked_in_at"),
         "access_events": ("access-events", "ix_access_events_customer_time", "occurred_at")}


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", ["entries", "access_events"])
def test_a_small_customers_page_beside_a_large_one_reads_one_index_page(
        app, committed, backend, make, table):  # type: ignore[no-untyped-def]
    if backend.name != "postgresql":
        pytest.skip("the plan of PostgreSQL's row-level security")
    small, large = make.tenant(), make.tenant()
    ids = {"ca": small.customer.id, "cb": large.customer.id, "sa": small.site.id,
           "sb": large.site.id, "aa": small.worker.id, "ab": large.worker.id,
           "ma": small.worker_membership.id, "mb": large.worker_membership.id}
    path, index, at = _LIST[table]
    with backend.admin_engine.begin() as c:
        c.execute(text(_BULK[table]), ids)
        expected = [str(x) for x in c.execute(text(
            f"SELECT id FROM {table} WHERE customer_id = :ca ORDER BY {at} DESC, id DESC"
            " LIMIT 100"), ids).scalars()]
    with backend.admin_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f"ANALYZE {table}"))  # what the planner knows of the two customers
    client = app.test_client()
    h = bearer(client, small.admin, device_id="admin-phone")
    plans: list[str] = []

    def explain(conn, cursor, statement, params, *args):  # type: ignore[no-untyped-def]
        # The list's own statement, explained on its connection: the login role, the
        # request's signed scope, its plan_cache_mode and the same parameters.
        if f"FROM {table}" in statement and f"ORDER BY {table}.{at} DESC" in statement:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + statement, params)
            plans.append("\n".join(r[0] for r in cursor.fetchall()))

    event.listen(app.extensions["entryfy.db"].engine, "before_cursor_execute", explain)
    try:
        got, cursor = [], None
        for _ in range(2):
            r = client.get(f"/api/v1/customers/{small.customer.id}/{path}",
                           query_string={"limit": 50, **({"cursor": cursor} if cursor else {})},
                           headers=h)
            assert r.status_code == 200, r.get_json()
            got += [x["id"] for x in r.get_json()["items"]]
            cursor = r.get_json()["next_cursor"]
    finally:
        event.remove(app.extensions["entryfy.db"].engine, "before_cursor_execute", explain)
        with backend.admin_engine.begin() as c:
            c.execute(text(f"DELETE FROM {table}"))
        with backend.admin_engine.connect().execution_options(
                isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f"ANALYZE {table}"))  # no stale statistics for the next tests
    # The same rows as ever: the small customer's 100 newest, newest first, none of the other.
    assert got == expected
    assert len(plans) == 2
    for plan in plans:
        # One page of the customer's index, newest first; no read of all its rows, no sort
        # of them (an incremental sort of the page's equal times by id is fine).
        assert f"Index Scan Backward using {index} on {table}" in plan, plan
        assert "Bitmap Heap Scan" not in plan, plan
        assert not [line for line in plan.splitlines()
                    if line.strip().startswith("->  Sort") or line.startswith("Sort")], plan
