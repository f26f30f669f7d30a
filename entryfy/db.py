"""Engine and sessions, without Flask: the web app, the CLI, jobs and tests share this."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import sqlite3
import time
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from models import tenancy

log = logging.getLogger(__name__)

# The session of the innermost Database.transaction() running in this context (thread/task):
# entryfy.mail finds it there to write its outbox row in the same transaction.
_ACTIVE: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "entryfy_active_session", default=None
)


def active_session() -> Session | None:
    return _ACTIVE.get()


def rows_written(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run by ``Session.execute`` wrote. The session types
    its answer as a plain Result; for such statements it is a CursorResult, which counts."""
    return cast("CursorResult[Any]", result).rowcount


def run_after_commit(session: Session) -> None:
    """Run what the transaction asked for after its commit (``session.info["after_commit"]``:
    callables taking the session, e.g. delivering the mail it wrote). A failure there is
    logged, never raised: the change is committed and the outbox row stays for the worker."""
    hooks = session.info.pop("after_commit", None)
    for hook in hooks or ():
        try:
            hook(session)
        except Exception:
            log.warning("after-commit step failed; the worker will retry", exc_info=True)
            session.rollback()


def discard_after_commit(session: Session) -> None:
    session.info.pop("after_commit", None)


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// and postgresql:// spellings and use psycopg 3."""
    u = make_url(url)
    if u.drivername in ("postgres", "postgresql"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


# Does the work running in this context (a request, a job) write? On SQLite a writing
# transaction takes the write lock at its BEGIN (BEGIN IMMEDIATE) instead of at its first
# write: a transaction that read first and then writes cannot wait for the lock (SQLite
# answers "database is locked" at once when another writer committed since it read), while
# one that asks at its start waits its turn. Everything writes unless told otherwise; the web
# layer says "reads only" for GET/HEAD/OPTIONS (entryfy.web). Rails 8 does the same
# (IMMEDIATE transactions, a busy wait that lets other threads run).
_WRITES: contextvars.ContextVar[bool] = contextvars.ContextVar("entryfy_writes", default=True)

# How long a writer waits for SQLite's write lock before giving up ("database is locked").
SQLITE_LOCK_WAIT = 15.0
# The C-level busy handler, for the rare waits outside BEGIN IMMEDIATE (a read-only
# transaction that ends up writing). Short: it blocks the whole process under gevent.
SQLITE_BUSY_TIMEOUT_MS = 200
WROTE = "entryfy.wrote"


def set_writes(writes: bool) -> contextvars.Token[bool]:
    return _WRITES.set(writes)


def reset_writes(token: contextvars.Token[bool]) -> None:
    _WRITES.reset(token)


def _locked(err: BaseException) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text


def _begin_immediate(dbapi_conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting in Python between attempts (time.sleep yields to other
    threads, and to other greenlets under gevent, one of which may hold the lock)."""
    deadline = time.monotonic() + SQLITE_LOCK_WAIT
    delay = 0.002
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as err:
            if not _locked(err) or time.monotonic() > deadline:
                raise exc.OperationalError("BEGIN IMMEDIATE", None, err) from err
        time.sleep(random.uniform(delay / 2, delay))
        delay = min(delay * 2, 0.05)


def _install_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        # pysqlite's own transaction handling begins lazily before DML and never IMMEDIATE;
        # turn it off and send BEGIN ourselves (SQLAlchemy's documented pysqlite recipe,
        # which also makes SAVEPOINT work).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        # synchronous stays FULL (the default): with NORMAL a power cut could lose commits
        # already acknowledged to a client.
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        # This listener is installed on SQLite engines only: the driver's connection is sqlite3's.
        dbapi_conn = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        if _WRITES.get():
            _begin_immediate(dbapi_conn)
        else:
            dbapi_conn.execute("BEGIN")


def _track_writes(engine: Engine) -> None:
    @event.listens_for(engine, "after_cursor_execute")
    def _wrote(conn, _cursor, _stmt, _params, context, _many):
        if context is not None and (context.isinsert or context.isupdate or context.isdelete):
            conn.info[WROTE] = True

    @event.listens_for(engine, "begin")
    def _reset(conn: Connection) -> None:
        conn.info[WROTE] = False


def end_read_transaction(session: Session) -> None:
    """Before a slow step (password hashing, mail, a remote call): end the session's
    transaction when it has written nothing, so no lock and no snapshot is held through it
    (on SQLite a writing request holds the database's one write lock from its BEGIN). Loaded
    objects stay usable (expire_on_commit=False); the next statement begins a new
    transaction. A transaction that has written stays open: its writes commit with the
    request, as always."""
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    if session.connection().info.get(WROTE, True):
        return
    session.commit()


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5,
                app_role: str | None = None, prepared_statements: bool = True) -> Engine:
    url = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        # Several app threads share the file; wait for a lock instead of failing at once.
        # Waits for the write lock happen at BEGIN (see _begin_immediate), not in the driver.
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                  "check_same_thread": False}
    else:
        # Keep pools small: N workers x (pool + overflow) must stay below max_connections.
        # No pool_pre_ping: it is a round trip at every checkout, i.e. one more on every
        # request (a check-in makes seven). Connections go stale in two ways: idle ones cut by the
        # server or a firewall, which pool_recycle retires first; and a database restart,
        # which SQLAlchemy notices at the first failed statement: it invalidates that
        # connection and every older one in the pool, so only requests in flight fail, with
        # a 503 "try again" (api.problems), and the next ones reconnect.
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800,
                      # A request waits at most this long for a pooled connection, then
                      # answers 503 (entryfy.web): better than queueing until the client
                      # gives up.
                      pool_timeout=10,
                      # An unreachable server fails the connect instead of hanging it;
                      # keepalives notice a peer that vanished without closing the socket.
                      connect_args={"connect_timeout": 5, "keepalives": 1,
                                    "keepalives_idle": 30, "keepalives_interval": 10,
                                    "keepalives_count": 3})
        if not prepared_statements:
            # Behind a pooler in transaction mode (PgBouncer before 1.21, or without
            # max_prepared_statements) consecutive transactions of one connection run on
            # different server connections: a statement psycopg prepared on one (it does so
            # at its fifth run, as "_pg3_N") is missing on the next, or clashes with another
            # client's "_pg3_N" on the same server connection. prepare_threshold=None sends
            # every statement unprepared; nothing else here keeps state in the session (the
            # tenant settings are transaction-local, models.tenancy).
            kwargs["connect_args"]["prepare_threshold"] = None
    engine = create_engine(url, **kwargs)
    tenancy.install_engine(engine)
    if engine.dialect.name == "sqlite":
        _install_sqlite(engine)
    _track_writes(engine)
    return engine


class Database:
    """One engine and its session factory, with tenant scoping installed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = self._make_factory(engine)

    @staticmethod
    def _make_factory(bind: Engine | Connection, **kw: Any) -> sessionmaker[Session]:
        factory = sessionmaker(bind=bind, expire_on_commit=False, autoflush=True, **kw)
        tenancy.install(factory)
        return factory

    def session(self) -> Session:
        return self._factory()

    def bind_to(self, connection: Connection) -> None:
        """Tests: run every session inside ``connection``'s outer transaction, as savepoints."""
        self._factory = self._make_factory(
            connection, join_transaction_mode="create_savepoint"
        )

    def unbind(self) -> None:
        self._factory = self._make_factory(self.engine)

    @contextlib.contextmanager
    def transaction(self, ctx: tenancy.TenantContext = tenancy.NOBODY) -> Iterator[Session]:
        """A unit of work for the CLI and jobs: commit on success, roll back on error."""
        session = self.session()
        tenancy.set_context(session, ctx)
        token = set_writes(True)
        active = _ACTIVE.set(session)
        try:
            yield session
            session.commit()
            run_after_commit(session)
        except BaseException:
            discard_after_commit(session)
            session.rollback()
            raise
        finally:
            _ACTIVE.reset(active)
            session.close()
            reset_writes(token)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
