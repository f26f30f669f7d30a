"""models.hot: statements run on the DBAPI cursor behave like SQLAlchemy's own executions:
rows by label, inside the session's transaction, SQLAlchemy's exception classes, and a lost
connection invalidated rather than returned to the pool."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import bindparam, exc, insert, select, text

from models import Customer
from models.hot import HotStatement

BY_ID = HotStatement(
    select(Customer.id, Customer.name.label("called"))
    .where(Customer.id == bindparam("customer_id"))
)
ADD = HotStatement(
    insert(Customer.__table__)
    .values(id=bindparam("id"), name=bindparam("name"), org_nr=bindparam("org_nr"),
            status="active", created_at=bindparam("at"))
    .returning(Customer.__table__.c.id)
)


def _add(session, *, id=None, org_nr="5560000001"):
    from entryfy import clock

    return ADD.first(session.connection(), {
        "id": id or uuid.uuid4(), "name": "Hot AB", "org_nr": org_nr, "at": clock.now(),
    })


def test_rows_by_label_in_the_sessions_transaction(session, make):
    t = make.tenant()
    session.flush()
    row = BY_ID.first(session.connection(), {"customer_id": t.customer.id})
    assert (row.id, row.called) == (t.customer.id, t.customer.name)
    assert BY_ID.first(session.connection(), {"customer_id": uuid.uuid4()}) is None
    # A row written through the cursor is the session's: visible to it, gone on rollback.
    new_id = _add(session).id
    assert session.get(Customer, new_id).name == "Hot AB"
    session.rollback()
    assert session.get(Customer, new_id) is None


def test_rowcount_of_a_statement_without_rows(session):
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.connection().dialect.name
    upsert = (postgresql if dialect == "postgresql" else sqlite).insert
    add_unless_taken = HotStatement(
        upsert(Customer.__table__)
        .values(id=bindparam("id"), name="Hot AB", org_nr="5560000003", status="active",
                created_at=bindparam("at"))
        .on_conflict_do_nothing()
    )
    from entryfy import clock

    values = {"id": uuid.uuid4(), "at": clock.now()}
    assert add_unless_taken.rowcount(session.connection(), values) == 1
    assert add_unless_taken.rowcount(session.connection(), values) == 0  # taken: nothing
    session.rollback()


def test_a_constraint_violation_is_sqlalchemys_integrity_error(session):
    first = _add(session).id
    with pytest.raises(exc.IntegrityError):
        _add(session, id=first, org_nr="5560000002")
    session.rollback()


def test_a_lost_connection_is_invalidated(backend, committed):
    if backend.name != "postgresql":
        pytest.skip("SQLite runs these through SQLAlchemy itself")
    s = committed.session()
    try:
        conn = s.connection()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with backend.admin_engine.begin() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.OperationalError) as raised:
            BY_ID.first(conn, {"customer_id": uuid.uuid4()})
        assert raised.value.connection_invalidated
        assert conn.invalidated
        s.rollback()
    finally:
        s.close()
    # The pool hands out a working connection next.
    s = committed.session()
    try:
        assert BY_ID.first(s.connection(), {"customer_id": uuid.uuid4()}) is None
    finally:
        s.close()


def test_a_long_statement_with_repeated_names_and_percent_signs(session, make):
    """Longer than psycopg's parse cache takes (4,096 bytes, 50 parameters), like the
    check-in's: a name used twice binds one value, a literal '%' stays a character, and
    the literals inside the statement keep their values."""
    from sqlalchemy import and_, literal, or_

    t = make.tenant()
    session.flush()
    c = Customer.__table__.c
    # 100 distinct literals and one named parameter used in every branch.
    branches = [and_(c.id == bindparam("customer_id"), c.name != f"not {i} % of it")
                for i in range(100)]
    stmt = HotStatement(
        select(c.id, literal("100%").label("share"), c.name.like("%").label("named"))
        .where(or_(*branches), c.id == bindparam("customer_id"))
    )
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        sql = stmt._compiled_pg(conn).sql
        assert len(sql) > 4096 and "$101" in sql and "%(" not in sql
    row = stmt.first(conn, {"customer_id": t.customer.id})
    assert (row.id, row.share, row.named) == (t.customer.id, "100%", True)
    assert stmt.first(conn, {"customer_id": uuid.uuid4()}) is None
    with pytest.raises((KeyError, exc.StatementError)):  # PostgreSQL's, SQLite's
        stmt.first(conn, {})
