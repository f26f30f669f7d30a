"""The hot paths' statements, counted for one request each and pinned per backend, so they
cannot creep up unnoticed: the device sign-in (password), the check-in and a door opening.

On PostgreSQL what counts is round trips to the server, BEGIN and COMMIT included: libpq's
own trace of the request's connection (each exchange ends with the server's ReadyForQuery),
since the hot statements (models.hot) run on the DBAPI cursor, past SQLAlchemy's events. On
SQLite, an embedded library with no round trips, the statements SQLAlchemy executes plus
BEGIN and COMMIT (sent outside its cursor events).

The requests run with real commits (the ``committed`` fixture): inside the suite's outer
transaction a commit would be a SAVEPOINT.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

from entryfy.db import Database
from entryfy.extensions import limiter
from tests.attendance import at_site, give_identity_number, key
from tests.doorkit import INSIDE, access, door
from tests.factories import PASSWORD, bearer

API = "/api/v1"


def _label(sql: str) -> str:
    """A statement's first words (enough to tell which it is)."""
    return " ".join(sql.replace('"', "").split()[:3])


def _pg_trips(trace: str) -> list[str]:
    """One label per round trip in a libpq trace: the statement the client sent (a simple
    Query, or the Parse of an extended one; a prepared statement's later runs send only
    Bind/Execute, shown as "(prepared)"), closed by the server's ReadyForQuery."""
    trips: list[str] = []
    sent: str | None = None
    for line in trace.splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        side, message = fields[0], fields[2]
        rest = fields[3] if len(fields) > 3 else ""
        if side == "F" and message == "Query" and sent is None:
            sent = _label(rest.strip().strip('"'))
        elif side == "F" and message == "Parse" and sent is None:
            # Parse "name" "sql" ...: the statement is the second quoted string.
            quoted = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
            sent = _label(quoted[1] if len(quoted) > 1 else rest)
        elif side == "F" and message in ("Bind", "Execute") and sent is None:
            sent = "(prepared)"
        elif side == "B" and message == "ReadyForQuery":
            trips.append(sent or "?")
            sent = None
    return trips


@contextmanager
def counted(database: Database, backend_name: str) -> Iterator[list[str]]:
    """The round trips (PostgreSQL) or statements (SQLite) of what runs inside, in order."""
    engine: Engine = database.engine
    seen: list[str] = []
    if backend_name == "postgresql":
        from psycopg import pq

        traced: dict[int, tuple[Any, int | None]] = {}
        conns: dict[int, Any] = {}

        def start(dbapi_conn: Any, record: Any, proxy: Any) -> None:
            f = tempfile.TemporaryFile()  # noqa: SIM115  (closed at check-in)
            dbapi_conn.pgconn.trace(f.fileno())
            dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS
                                              | pq.Trace.REGRESS_MODE)
            # Every statement with its text in the trace: psycopg prepares one it has run a
            # few times on this connection (then only its name goes out); the round trips
            # are the same either way.
            traced[id(dbapi_conn)] = (f, dbapi_conn.prepare_threshold)
            conns[id(dbapi_conn)] = dbapi_conn
            dbapi_conn.prepare_threshold = None

        def stop(dbapi_conn: Any, record: Any) -> None:
            found = traced.pop(id(dbapi_conn), None)
            if found is None:
                return
            dbapi_conn.pgconn.untrace()
            f, dbapi_conn.prepare_threshold = found
            f.seek(0)
            seen.extend(_pg_trips(f.read().decode("utf-8", "replace")))
            f.close()

        event.listen(engine, "checkout", start)
        event.listen(engine, "checkin", stop)
        try:
            yield seen
        finally:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)
            for ident in list(traced):
                stop(conns[ident], None)
        return

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(_label(sql))

    def begin(conn: Any) -> None:
        seen.append("BEGIN")

    def commit(conn: Any) -> None:
        seen.append("COMMIT")

    def rollback(conn: Any) -> None:
        seen.append("ROLLBACK")

    hooks = {"before_cursor_execute": statement, "begin": begin, "commit": commit,
             "rollback": rollback}
    for name, fn in hooks.items():
        event.listen(engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in hooks.items():
            event.remove(engine, name, fn)


# What each request sends today, per backend. A change here is a change of the hot path:
# measure it (bench/checkin.py, bench/doors.py) before updating these lists.
SIGN_IN = {
    # 12 round trips: the e-mail look-up in a transaction of its own, ended before the
    # password is hashed (no lock held through it); then the account's bookkeeping, the
    # device and the token.
    "postgresql": [
        "BEGIN", "SELECT set_config('entryfy.customer_ids', $1,",
        "SELECT accounts.email, accounts.password_hash,",
        "SELECT set_config('entryfy.customer_ids', $1,", "COMMIT",
        "BEGIN", "SELECT set_config('entryfy.customer_ids', $1,", "UPDATE accounts SET",
        "SELECT devices.account_id, devices.device_hash,", "UPDATE devices SET",
        "INSERT INTO access_tokens", "COMMIT",
    ],
    "sqlite": [
        "BEGIN", "SELECT accounts.email, accounts.password_hash,", "COMMIT",
        "BEGIN", "UPDATE accounts SET", "SELECT devices.account_id, devices.device_hash,",
        "UPDATE devices SET", "INSERT INTO access_tokens", "COMMIT",
    ],
}
CHECK_IN = {
    # 5 round trips: the sign-in (one SECURITY DEFINER call that also signs the scope), one
    # scoped look-up of site, membership and replayed key, the insert.
    "postgresql": [
        "BEGIN", "SELECT signed_in.id, signed_in.account_id,",
        "SELECT scope.scoped_ids, target.id,", "INSERT INTO entries", "COMMIT",
    ],
    "sqlite": [
        "BEGIN", "SELECT access_tokens.id, access_tokens.account_id,",
        "SELECT memberships.customer_id FROM", "SELECT sites.id, sites.customer_id,",
        "INSERT INTO entries", "COMMIT",
    ],
}
DOOR_OPEN = {
    # 6 round trips: sign-in, one scoped look-up of the door, its site, the person's membership
    # and whether a webhook listens (ops.doors.phone.door_opening), the accesses, the access
    # event. No webhook delivery statement: nobody listens here.
    "postgresql": [
        "BEGIN", "SELECT signed_in.id, signed_in.account_id,",
        "SELECT scope.scoped_ids, target.d_site_id,", "SELECT accesses.id, accesses.name,",
        "INSERT INTO access_events", "COMMIT",
    ],
    "sqlite": [
        "BEGIN", "SELECT access_tokens.id, access_tokens.account_id,",
        "SELECT memberships.customer_id FROM", "SELECT doors.site_id AS",
        "SELECT accesses.id, accesses.name,", "INSERT INTO access_events", "COMMIT",
    ],
}


@pytest.fixture
def tenant(committed, make, session):
    # Tests with real commits are not wrapped by conftest's _isolated, which resets the rate
    # limits: the sign-ins here must not meet earlier tests' counts.
    if limiter.enabled:
        limiter.reset()
    t = make.tenant()
    give_identity_number(session, t.worker)
    session.close()  # the test's own session holds no connection while requests are counted
    return t


def test_device_sign_in(app, committed, backend, tenant):
    client = app.test_client()
    body = {"email": tenant.worker.email, "password": PASSWORD, "device_id": "phone-0001-test",
            "device_name": "Test phone", "platform": "android"}
    # The same device again: the second sign-in of a known device, as a phone signs in.
    assert client.post(f"{API}/auth/tokens", json=body).status_code == 201
    with counted(committed, backend.name) as seen:
        r = client.post(f"{API}/auth/tokens", json=body)
    assert r.status_code == 201, r.get_json()
    assert seen == SIGN_IN[backend.name]


REFUSED_SIGN_IN = {
    # The look-up as above, then the refusal's audit event (kept although the answer is a
    # 401; here the chain's first, so its head is inserted), never a device or a token.
    "postgresql": [
        "BEGIN", "SELECT set_config('entryfy.customer_ids', $1,",
        "SELECT accounts.email, accounts.password_hash,",
        "SELECT set_config('entryfy.customer_ids', $1,", "COMMIT",
        "BEGIN", "SELECT pg_advisory_xact_lock(hashtext($1))",
        "SELECT audit_chain_heads.chain, audit_chain_heads.customer_id,",
        "INSERT INTO audit_chain_heads", "INSERT INTO audit_events", "COMMIT",
    ],
    "sqlite": [
        "BEGIN", "SELECT accounts.email, accounts.password_hash,", "COMMIT",
        "BEGIN", "SELECT audit_chain_heads.chain, audit_chain_heads.customer_id,",
        "INSERT INTO audit_chain_heads", "INSERT INTO audit_events", "COMMIT",
    ],
}


def test_a_refused_sign_in(app, committed, backend, tenant):
    """A wrong password: the look-up, then the refusal's audit event, never the device."""
    client = app.test_client()
    body = {"email": tenant.worker.email, "password": "wrong-password-1", "device_id":
            "phone-0002-test", "device_name": "Test phone", "platform": "android"}
    with counted(committed, backend.name) as seen:
        r = client.post(f"{API}/auth/tokens", json=body)
    assert r.status_code == 401, r.get_json()
    assert seen == REFUSED_SIGN_IN[backend.name]


def test_check_in(app, committed, backend, tenant, make):
    client = app.test_client()
    h = bearer(client, tenant.worker)
    # A first check-in elsewhere: the token's last use is written once, then not for a while.
    other = make.site(tenant.customer)
    assert client.post(f"{API}/entries", headers={**h, **key()},
                       json=at_site(other)).status_code == 201
    with counted(committed, backend.name) as seen:
        r = client.post(f"{API}/entries", headers={**h, **key()}, json=at_site(tenant.site))
    assert r.status_code == 201, r.get_json()
    assert seen == CHECK_IN[backend.name]


def test_door_open(app, committed, backend, tenant, session):
    d = door(session, tenant.site)
    access(session, [d], [tenant.worker_membership], ["app"])
    session.close()
    client = app.test_client()
    h = bearer(client, tenant.worker)
    # A first opening: the token's last use is written once, then not for a while.
    assert client.post(f"{API}/doors/{d.id}/open", headers=h, json=INSIDE).status_code == 200
    with counted(committed, backend.name) as seen:
        r = client.post(f"{API}/doors/{d.id}/open", headers=h, json=INSIDE)
    assert r.status_code == 200, r.get_json()
    assert seen == DOOR_OPEN[backend.name]


def test_the_pg_trace_reader():
    # The reader itself, on a trace as libpq writes it: one label per exchange.
    trace = "\n".join([
        'F\t10\tQuery\t "BEGIN"', 'B\t10\tCommandComplete\t "BEGIN"', "B\t5\tReadyForQuery\t T",
        'F\t21\tParse\t "" "SELECT $1 FROM x" 1 NNNN', "F\t4\tSync",
        "B\t4\tParseComplete", "B\t5\tReadyForQuery\t T",
        'F\t22\tBind\t "" "_pg3_0" 1 1', "F\t4\tSync", "B\t5\tReadyForQuery\t T",
        'F\t11\tQuery\t "COMMIT"', "B\t5\tReadyForQuery\t I",
    ])
    assert _pg_trips(trace) == ["BEGIN", "SELECT $1 FROM", "(prepared)", "COMMIT"]
