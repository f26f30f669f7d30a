"""Engine and sessions, without Flask: the web app, the CLI, jobs and tests share this."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
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


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5,
                app_role: str | None = None) -> Engine:
    url = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        # Several app threads share the file; wait for a lock instead of failing at once.
        kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
    else:
        # Keep pools small: N workers x (pool + overflow) must stay below max_connections.
        # No pool_pre_ping: it is a round trip at every checkout, i.e. one more on every
        # request (a check-in makes seven). Connections go stale in two ways: idle ones cut by the
        # server or a firewall, which pool_recycle retires first; and a database restart,
        # which SQLAlchemy notices at the first failed statement: it invalidates that
        # connection and every older one in the pool, so only requests in flight fail, with
        # a 503 "try again" (api.problems), and the next ones reconnect.
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)
    engine = create_engine(url, **kwargs)
    tenancy.install_engine(engine)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()
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
        token = _ACTIVE.set(session)
        try:
            yield session
            session.commit()
            run_after_commit(session)
        except BaseException:
            discard_after_commit(session)
            session.rollback()
            raise
        finally:
            _ACTIVE.reset(token)
            session.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
