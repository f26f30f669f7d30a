"""The tenant context under PgBouncer in transaction pooling mode (PostgreSQL only).

PgBouncer runs with one server connection per (database, user): every client connection of
the app's login shares it, transaction by transaction. Two customers' transactions and
requests, interleaved on that one server connection, must each see their own rows only, and
a transaction without a context nothing: the context lives in transaction-local settings
(``set_config(..., true)``), never in the session of the server connection. The app also must
not depend on other session state: psycopg's server-side prepared statements are off behind a
pooler (``DATABASE_PREPARED_STATEMENTS=0``), and the test shows why they must be.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import exc, select, text
from sqlalchemy.engine import make_url

from bench import services
from entryfy import create_app
from entryfy.db import Database, make_engine
from models import Site
from models.tenancy import NOBODY, TenantContext, set_context
from tests.conftest import APP_LOGIN_ROLE, TEST_CONFIG
from tests.factories import bearer

pytestmark = [pytest.mark.postgres_only, pytest.mark.scale]

_READ = text(
    "SELECT pg_backend_pid() AS pid,"
    " coalesce(current_setting('entryfy.customer_ids', true), '') AS ids,"
    " (SELECT count(*) FROM sites) AS sites"
)


@pytest.fixture
def pooled_url(backend) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app's login to the test database, through a private PgBouncer (transaction
    pooling, one server connection)."""
    if backend.name != "postgresql":
        pytest.skip("PgBouncer pools PostgreSQL connections")
    url = make_url(backend.app_url)
    with services.pgbouncer(url.host or "127.0.0.1", url.port or 5432, [APP_LOGIN_ROLE],
                            pool_size=1) as port:
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def _engine(url: str, *, prepared: bool = False):  # type: ignore[no-untyped-def]
    # Two connections per engine at most, so the clients outnumber the one server connection.
    return make_engine(url, pool_size=1, max_overflow=1, prepared_statements=prepared)


def _ctx(customer) -> TenantContext:  # type: ignore[no-untyped-def]
    return TenantContext(customer_ids=frozenset({customer.id}))


def test_interleaved_transactions_share_one_server_connection_without_leaks(
        pooled_url, committed, session, make):  # type: ignore[no-untyped-def]
    world = make.world()
    session.commit()
    one, two = Database(_engine(pooled_url)), Database(_engine(pooled_url))
    try:
        pids = set()
        # Eight rounds: more than psycopg's prepare threshold (5) of each statement.
        for _ in range(8):
            for db, tenant in ((one, world.a), (two, world.b), (two, world.a), (one, world.b)):
                with db.transaction(_ctx(tenant.customer)) as s:
                    row = s.execute(_READ).one()
                    ids = s.scalars(select(Site.id)).all()
                pids.add(row.pid)
                assert row.ids == str(tenant.customer.id)
                assert row.sites == 1
                assert ids == [tenant.site.id]
                # Right after another customer's transaction, on the same server connection:
                # no context, so nothing visible and no setting left over.
                with db.transaction(NOBODY) as s:
                    row = s.execute(_READ).one()
                pids.add(row.pid)
                assert (row.ids, row.sites) == ("", 0)
        # One server connection served all of it: the interleaving really happened there.
        assert len(pids) == 1
    finally:
        one.engine.dispose()
        two.engine.dispose()


def test_a_waiting_transaction_gets_the_connection_clean(
        pooled_url, committed, session, make):  # type: ignore[no-untyped-def]
    """Customer B's transaction starts while A's holds the only server connection; it runs
    there after A commits and sees B's site only."""
    world = make.world()
    session.commit()
    one, two = Database(_engine(pooled_url)), Database(_engine(pooled_url))
    seen: dict[str, object] = {}

    def customer_b() -> None:
        try:
            s = two.session()
            set_context(s, _ctx(world.b.customer))  # waits for the server connection
            seen["row"] = s.execute(_READ).one()
            seen["ids"] = s.scalars(select(Site.id)).all()
            s.commit()
            s.close()
        except Exception as err:  # reported by the assertion below
            seen["error"] = err

    try:
        with one.transaction(_ctx(world.a.customer)) as s:
            a_row = s.execute(_READ).one()
            waiting = threading.Thread(target=customer_b)
            waiting.start()
            time.sleep(0.5)
            # B is still queued in PgBouncer: the one server connection is A's until commit.
            assert waiting.is_alive()
            assert s.scalars(select(Site.id)).all() == [world.a.site.id]
        waiting.join(timeout=20)
        assert not waiting.is_alive()
        assert "error" not in seen, seen.get("error")
        b_row = seen["row"]
        assert b_row.pid == a_row.pid  # type: ignore[attr-defined]
        assert b_row.ids == str(world.b.customer.id)  # type: ignore[attr-defined]
        assert seen["ids"] == [world.b.site.id]
    finally:
        one.engine.dispose()
        two.engine.dispose()


def test_interleaved_requests_of_two_apps_see_their_own_customer(
        pooled_url, committed, session, make, tmp_path):  # type: ignore[no-untyped-def]
    """Two app instances (two app servers) on one pooled server connection, two customers'
    admins alternating between them: each sees its own sites, never the other's."""
    world = make.world()
    session.commit()
    apps = [create_app({**TEST_CONFIG, "DATABASE": Database(_engine(pooled_url)),
                        "OUTBOX_DIR": str(tmp_path / f"outbox{i}")}) for i in range(2)]
    try:
        clients = [a.test_client() for a in apps]
        headers = {t: bearer(clients[0], getattr(world, t).admin, device_id=f"device-{t}-0001")
                   for t in ("a", "b")}
        for _ in range(4):
            for client, t, other in ((clients[0], "a", "b"), (clients[1], "b", "a"),
                                     (clients[1], "a", "b"), (clients[0], "b", "a")):
                mine, theirs = getattr(world, t), getattr(world, other)
                r = client.get(f"/api/v1/customers/{mine.customer.id}/sites",
                               headers=headers[t])
                assert r.status_code == 200, r.get_json()
                assert [x["id"] for x in r.get_json()["items"]] == [str(mine.site.id)]
                r = client.get(f"/api/v1/customers/{theirs.customer.id}/sites",
                               headers=headers[t])
                assert r.status_code == 404
                assert r.headers["Content-Type"].startswith("application/problem+json")
    finally:
        for a in apps:
            a.extensions["entryfy.db"].engine.dispose()


def test_prepared_statements_break_under_transaction_pooling(
        pooled_url, committed):  # type: ignore[no-untyped-def]
    """Why DATABASE_PREPARED_STATEMENTS=0 behind PgBouncer (before 1.21): with psycopg's
    default, the fifth run of a statement with parameters prepares it as "_pg3_0" on the
    server connection; the other client's fifth run prepares its own "_pg3_0" on the same
    one, and fails."""

    def alternate(prepared: bool) -> None:
        one, two = _engine(pooled_url, prepared=prepared), _engine(pooled_url, prepared=prepared)
        try:
            for i in range(8):
                for engine in (one, two):
                    # Committed transactions, as the app's requests (a rollback makes psycopg
                    # forget what it prepared, which would hide the clash).
                    with engine.begin() as c:
                        c.execute(text("SELECT count(*) FROM sites WHERE radius_m > :r"),
                                  {"r": i}).scalar()
        finally:
            one.dispose()
            two.dispose()

    with pytest.raises(exc.DBAPIError, match='prepared statement "_pg3_0" already exists'):
        alternate(prepared=True)
    alternate(prepared=False)  # the app's setting behind a pooler: no clash
