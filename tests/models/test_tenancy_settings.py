"""The per-transaction PostgreSQL settings on an engine-bound session (as in production):
a new transaction without a context sends no set_config, and still sees nothing of any
tenant; a savepoint keeps the session's settings."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select, text

from models import Site
from models.tenancy import CLEAN_SETTINGS, NOBODY, TenantContext, set_context

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def pg(backend):
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    return backend


def _set_configs(engine):
    seen: list[str] = []

    def _count(conn, cursor, statement, *args):
        if "set_config('entryfy.customer_ids'" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", _count)


def test_no_context_sends_nothing_and_sees_nothing(pg, committed, session, make):
    t = make.tenant()
    session.commit()
    s = committed.session()
    seen, stop = _set_configs(committed.engine)
    try:
        # Raw SQL: no ORM criteria, only row-level security decides.
        assert s.execute(text("SELECT count(*) FROM sites")).scalar() == 0
        assert s.connection().info[CLEAN_SETTINGS] is True
        assert seen == []
        set_context(s, TenantContext(customer_ids=frozenset({t.customer.id})))
        assert len(seen) == 1
        assert s.scalar(select(Site.id).where(Site.id == t.site.id)) == t.site.id
        with s.begin_nested():
            # The savepoint inherits the settings: nothing sent, the site still visible.
            assert s.execute(text("SELECT count(*) FROM sites")).scalar() == 1
        assert len(seen) == 1
        s.rollback()
        set_context(s, NOBODY)  # between transactions: nothing to send
        # A new transaction (on the same pooled connection): the last one's settings are gone.
        assert s.execute(text("SELECT count(*) FROM sites")).scalar() == 0
        assert len(seen) == 1
    finally:
        stop()
        s.close()
