"""The admin entry list's query, as it must stay for lists at size (bench.data_at_size):

* a later page bounds the time column on its own (an index condition), besides the
  (time, id) comparison, so a page deep in the past reads one page of the index;
* on PostgreSQL each page is planned for its own values (a generic plan of a prepared
  statement read a whole busy site and sorted it);
* pinned to the customer, it leaves out the ORM's "or the person's own rows" branch (which
  made PostgreSQL read and sort the whole customer), and still shows that customer's rows
  only: never the admin's own entries at another customer.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import event

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
