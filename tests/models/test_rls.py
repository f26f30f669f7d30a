"""PostgreSQL row-level security, the second wall: raw SQL through the app's database role
sees nothing without a tenant, only that tenant's rows with one, and cannot write across.

The table list comes from models.base.tenant_models(), so a tenant table added later is
checked too; the data comes from the isolation cast (one object of every kind the API can
make, for two customers).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Connection, exc, text

from models import tenancy
from models.base import tenant_models
from tests import isolation

SET = text("SELECT set_config('entryfy.customer_ids', :ids, true),"
           " set_config('entryfy.account_id', :acct, true),"
           " set_config('entryfy.scope', :scope, true),"
           " set_config('entryfy.signed_at', :ts, true),"
           " set_config('entryfy.sig', :sig, true)")


@pytest.fixture
def pg(backend):
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    return backend


@pytest.fixture
def cast(pg, client, session, world):
    return isolation.make_cast(client, session, world, isolation.openapi(client))


def _conn(session) -> Connection:
    """The app role's connection that holds the test's data (one outer transaction)."""
    session.commit()
    return session.connection()


def _as(conn: Connection, *, ids: str = "", acct: str = "", scope: str = "",
        ts: str | None = None, sig: str | None = None) -> None:
    """Write the settings, signed as the app signs them unless ``sig`` is given."""
    ts = ts if ts is not None else str(int(time.time()))
    sig = sig if sig is not None else tenancy.sign(ids, acct, scope, ts)
    conn.execute(SET, {"ids": ids, "acct": acct, "scope": scope, "ts": ts, "sig": sig})


def _tables() -> list[tuple[str, str | None]]:
    # A tenant model is a TenantMixin (tenant_models() is typed by Base).
    return sorted((m.__tablename__, m.__subject_column__)  # type: ignore[attr-defined]  # see above
                  for m in tenant_models())


def _count(conn: Connection, table: str, where: str = "", **params: str) -> int:
    sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
    return conn.execute(text(sql), params).scalar_one()


def test_app_role_owns_nothing_and_cannot_bypass(pg, session):
    conn = _conn(session)
    user = conn.execute(text("SELECT current_user")).scalar_one()
    role = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = "
                             "current_user")).one()
    assert tuple(role) == (False, False)
    for table, _ in _tables():
        owner, rls, forced = conn.execute(text(
            "SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity "
            "FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}).one()
        assert owner != user, table
        assert rls and forced, f"{table}: row-level security is off"


def test_without_a_tenant_raw_sql_sees_nothing(cast, session):
    conn = _conn(session)
    _as(conn, scope="system")
    populated = {t for t, _ in _tables() if _count(conn, t)}
    # The cast put rows into the core tables at least, so "nothing" below means something.
    assert {"sites", "memberships", "entries"} <= populated
    _as(conn)
    seen = {t: _count(conn, t) for t, _ in _tables()}
    assert seen == dict.fromkeys(seen, 0)


def test_with_tenant_a_only_as_rows(cast, session):
    world, _, _ = cast
    a, b = str(world.a.customer.id), str(world.b.customer.id)
    conn = _conn(session)
    _as(conn, scope="system")
    expected = {t: _count(conn, t, "customer_id = CAST(:c AS uuid)", c=a) for t, _ in _tables()}
    assert sum(1 for n in expected.values() if n) >= 3
    _as(conn, ids=a)
    for table, _ in _tables():
        assert _count(conn, table) == expected[table], table
        assert _count(conn, table, "customer_id = CAST(:c AS uuid)", c=b) == 0, table
    # Both customers set: both visible (the /me/sites case).
    _as(conn, ids=f"{a},{b}")
    assert _count(conn, "sites") == 2


def test_a_person_sees_own_rows_in_every_tenant(cast, session, make):
    world, _, _ = cast
    a, b = world.a, world.b
    make.membership(b.customer, a.worker, "member")
    conn = _conn(session)
    _as(conn, acct=str(a.worker.id))
    rows = conn.execute(text("SELECT customer_id, account_id FROM memberships")).all()
    assert {str(c) for c, _ in rows} == {str(a.customer.id), str(b.customer.id)}
    assert {str(x) for _, x in rows} == {str(a.worker.id)}
    # Tables without a subject column stay closed to the person alone.
    assert _count(conn, "sites") == 0


def test_writes_across_the_wall_are_refused(cast, session):
    world, _, _ = cast
    a, b = world.a, world.b
    conn = _conn(session)
    _as(conn, ids=str(a.customer.id))
    nested = conn.begin_nested()
    with pytest.raises(exc.ProgrammingError, match="row-level security"):
        conn.execute(text(
            "INSERT INTO sites (id, customer_id, created_at, name, latitude, longitude, "
            "radius_m, geofence, timezone, store_coarse_position) VALUES (gen_random_uuid(), "
            "CAST(:b AS uuid), now(), 'Planted', 59.0, 18.0, 100, 'enforce', "
            "'Europe/Stockholm', false)"), {"b": str(b.customer.id)})
    nested.rollback()
    moved = conn.execute(text("UPDATE sites SET name = 'Renamed' WHERE id = CAST(:s AS uuid)"),
                         {"s": str(b.site.id)})
    assert moved.rowcount == 0
    gone = conn.execute(text("DELETE FROM memberships WHERE customer_id = CAST(:b AS uuid)"),
                        {"b": str(b.customer.id)})
    assert gone.rowcount == 0
    # Moving one's own row into another customer is refused too (WITH CHECK).
    nested = conn.begin_nested()
    with pytest.raises(exc.ProgrammingError, match="row-level security"):
        conn.execute(text("UPDATE sites SET customer_id = CAST(:b AS uuid) "
                          "WHERE id = CAST(:s AS uuid)"),
                     {"b": str(b.customer.id), "s": str(a.site.id)})
    nested.rollback()
    _as(conn, scope="system")
    assert _count(conn, "sites", "name IN ('Planted', 'Renamed')") == 0
    assert _count(conn, "memberships", "customer_id = CAST(:b AS uuid)",
                  b=str(b.customer.id)) == 2


@pytest.mark.postgres_only
def test_system_scope_surfaces_the_real_error_and_restores_scope(backend, session):
    """A failing statement inside system_scope raises its own error, not 'transaction aborted'."""
    from sqlalchemy.exc import DBAPIError

    from models.tenancy import NOBODY, get_context, set_context, system_scope

    if backend.name != "postgresql":
        pytest.skip("PostgreSQL only")
    set_context(session, NOBODY)
    with pytest.raises(DBAPIError) as info, system_scope(session, "test"):
        session.execute(text("SELECT 1/0"))
    assert "division by zero" in str(info.value)
    assert get_context(session) == NOBODY
    session.rollback()


# ------------------------------------------------------------------ the wall the web role
# cannot widen (revision 0011): the settings count only when signed with a key it cannot read.

def _everything_hidden(conn: Connection) -> dict[str, int]:
    return {t: _count(conn, t) for t, _ in _tables() if _count(conn, t)}


def test_the_web_role_setting_system_scope_sees_nothing(cast, session):
    world, _, _ = cast
    conn = _conn(session)
    _as(conn, scope="system")
    assert _count(conn, "sites") >= 2  # signed by the app: the named system path works
    # What an SQL injection or a stolen DATABASE_URL can do: write the settings itself, in
    # a request signed for one customer...
    _as(conn, ids=str(world.a.customer.id))
    assert _count(conn, "sites") == 1
    conn.execute(text("SELECT set_config('entryfy.scope', 'system', true)"))
    assert _everything_hidden(conn) == {}
    conn.execute(text("SELECT set_config('entryfy.customer_ids', :a, true)"),
                 {"a": f"{world.a.customer.id},{world.b.customer.id}"})
    assert _everything_hidden(conn) == {}
    conn.execute(text("SELECT set_config('entryfy.account_id', :w, true)"),
                 {"w": str(world.a.worker.id)})
    assert _everything_hidden(conn) == {}
    # A forged signature, and a signature made for another scope, count for nothing.
    _as(conn, scope="system", sig="0" * 64)
    assert _everything_hidden(conn) == {}
    ts = str(int(time.time()))
    _as(conn, ids=str(world.a.customer.id), ts=ts,
        sig=tenancy.sign(str(world.b.customer.id), "", "", ts))
    assert _everything_hidden(conn) == {}


def test_a_signature_cannot_be_replayed_later(cast, session):
    conn = _conn(session)
    old = str(int(time.time()) - 3600)  # a system signature seen an hour ago
    _as(conn, scope="system", ts=old)
    assert _everything_hidden(conn) == {}


def test_the_web_role_cannot_read_the_key_or_sign(pg, session):
    conn = _conn(session)
    for sql in ("SELECT * FROM entryfy_private.scope_key",
                "SELECT entryfy_private.sign('x')"):
        nested = conn.begin_nested()
        with pytest.raises(exc.ProgrammingError, match="permission denied"):
            conn.execute(text(sql))
        nested.rollback()


def test_database_signs_only_what_the_caller_may_have(cast, session, make):
    world, _, _ = cast
    a, b = world.a, world.b
    conn = _conn(session)
    # The sign-in function: an unknown token signs nobody in.
    _as(conn)
    conn.execute(text("SELECT entryfy_enter_account('no-such-hash', 'device', now())"))
    assert conn.execute(text("SELECT current_setting('entryfy.account_id')")).scalar() == ""
    assert _everything_hidden(conn) == {}
    # A signed person may narrow to their own customers, not to others'.
    _as(conn, acct=str(a.worker.id))
    got = conn.execute(text("SELECT entryfy_scope_customers(:ids)"),
                       {"ids": str(b.customer.id)}).scalar()
    assert got == ""
    assert _count(conn, "sites") == 0
    got = conn.execute(text("SELECT entryfy_scope_customers(:ids)"),
                       {"ids": str(a.customer.id)}).scalar()
    assert got == str(a.customer.id)
    assert _count(conn, "sites", "customer_id = CAST(:c AS uuid)", c=str(a.customer.id)) >= 1
    assert _count(conn, "sites", "customer_id = CAST(:c AS uuid)", c=str(b.customer.id)) == 0
    # Without a signed context, narrowing signs nothing.
    conn.execute(text("SELECT set_config('entryfy.sig', '', true)"))
    assert conn.execute(text("SELECT entryfy_scope_customers(:ids)"),
                        {"ids": str(a.customer.id)}).scalar() == ""


def test_customers_are_visible_only_to_their_scope_and_members(cast, session):
    world, _, _ = cast
    a, b = world.a, world.b
    conn = _conn(session)
    _as(conn, scope="system")
    assert _count(conn, "customers") >= 2
    for settings in ({}, {"scope": "system", "sig": "f" * 64}):
        _as(conn, **settings)
        assert _count(conn, "customers") == 0
    conn.execute(text("SELECT set_config('entryfy.scope', 'system', true)"))
    assert _count(conn, "customers") == 0
    _as(conn, ids=str(a.customer.id))
    assert conn.execute(text("SELECT id FROM customers")).scalars().all() == [a.customer.id]
    # A signed-in person sees the customers they are a member of, no other.
    _as(conn, acct=str(b.worker.id))
    assert conn.execute(text("SELECT id FROM customers")).scalars().all() == [b.customer.id]
    # Nor can the web role write a customer outside its scope.
    _as(conn, ids=str(a.customer.id))
    assert conn.execute(text("UPDATE customers SET name = 'Renamed' WHERE id = CAST(:b AS uuid)"),
                        {"b": str(b.customer.id)}).rowcount == 0
