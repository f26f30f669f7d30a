"""Automatic tenant scoping of every ORM query, and the PostgreSQL settings RLS reads.

A session carries a ``TenantContext`` in ``session.info["tenant"]``:

* ``customer_ids`` - the customers whose rows are visible (one for an admin request on
  ``/customers/<id>/...``, the person's own customers for ``/me/sites``, none by default);
* ``account_id`` - the signed-in person, who also sees their *own* rows in any tenant (rows
  of models that name a ``__subject_column__``: own memberships, entries, events);
* ``system`` - the named cross-tenant path for jobs (retention, offboarding, platform admin).

Without a context nothing of any tenant is visible: forgetting to scope fails closed.
On PostgreSQL the same context is written with ``set_config(..., is_local => true)`` at the
start of every transaction, so row-level security enforces it too and a pooled connection
never carries it into the next request. Two starts need no statement: a SAVEPOINT (the
settings are already the session's), and a new transaction on a clean pooled connection with
no context yet (unset settings read as "nothing visible"; the request's first statement,
the token lookup, runs so).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    String,
    Uuid,
    bindparam,
    cast,
    column,
    event,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import Select

from models.base import TenantMixin
from models.hot import HotStatement


@dataclasses.dataclass(frozen=True)
class TenantContext:
    customer_ids: frozenset[uuid.UUID] = frozenset()
    account_id: uuid.UUID | None = None
    system: bool = False

    def with_customers(self, ids: Iterable[uuid.UUID]) -> TenantContext:
        return dataclasses.replace(self, customer_ids=frozenset(ids))


NOBODY = TenantContext()
SYSTEM = TenantContext(system=True)


def get_context(session: Session) -> TenantContext:
    return session.info.get("tenant", NOBODY)


def set_context(session: Session, ctx: TenantContext) -> None:
    """Switch the session's tenant context, also inside a running transaction."""
    session.info["tenant"] = ctx
    if session.in_transaction():
        _apply_pg_settings(session, ctx)


def scope_to(session: Session, *customer_ids: uuid.UUID) -> None:
    set_context(session, get_context(session).with_customers(customer_ids))


@contextlib.contextmanager
def system_scope(session: Session, reason: str) -> Iterator[Session]:
    """The named path for jobs that must cross tenants. ``reason`` documents the caller."""
    previous = get_context(session)
    set_context(session, dataclasses.replace(previous, system=True))
    session.info.setdefault("system_reasons", []).append(reason)
    try:
        yield session
    except BaseException:
        session.info["tenant"] = previous
        # Put the database setting back too, in case the caller catches the error and goes on
        # in this transaction. If the transaction itself has failed, that attempt fails as
        # well; the settings die with the transaction, and the original error must surface.
        if session.in_transaction():
            with contextlib.suppress(DBAPIError):
                _apply_pg_settings(session, previous)
        raise
    set_context(session, previous)


NIL = uuid.UUID(int=0)


# Execution options for a statement that already pins one customer the caller checked access
# to (an admin's list of the customer's entries or door events): the ORM criteria keep "the
# customer is in the context" and leave out "or the person's own rows". That OR made
# PostgreSQL misjudge such a list (customer_id = X counted twice, the estimate squared): it
# read every row of the customer by bitmap and sorted them, 146 ms for 30,000 entries and
# growing with the customer, instead of walking the (customer_id, time) index for one page
# (under 1 ms; bench.data_at_size). Row-level security is unchanged.
CUSTOMER_ROWS_ONLY = {"tenant_customer_rows_only": True}


def _criteria_lambda(ctx: TenantContext, customer_rows_only: bool = False):
    # The SQL shape depends only on the class; the ids and the account travel as bound
    # parameters made outside the lambda, so SQLAlchemy caches one compiled form per class.
    ids = bindparam("tenant_customer_ids", sorted(ctx.customer_ids), expanding=True,
                    type_=Uuid())
    acct = bindparam("tenant_account_id", ctx.account_id or NIL, type_=Uuid())
    if customer_rows_only:
        return lambda cls: cls.customer_id.in_(ids)
    return lambda cls: (
        cls.customer_id.in_(ids)
        if cls.__subject_column__ is None
        else or_(cls.customer_id.in_(ids), getattr(cls, cls.__subject_column__) == acct)
    )


@functools.lru_cache(maxsize=1024)
def _criteria_option(ctx: TenantContext, customer_rows_only: bool = False):
    # Built once per context, not per statement: the option is immutable (its values are
    # bound parameters fixed at creation), and building it analyses the lambda each time.
    return with_loader_criteria(TenantMixin, _criteria_lambda(ctx, customer_rows_only),
                                include_aliases=True)


def sign(ids: str, acct: str, scope: str, signed_at: str) -> str:
    """The signature the database checks (models/rls.py, ``entryfy_scope_valid``)."""
    from entryfy import security

    return hmac.new(security.db_scope_key(), f"{ids}|{acct}|{scope}|{signed_at}".encode(),
                    hashlib.sha256).hexdigest()


def _pg_values(ctx: TenantContext) -> dict[str, str]:
    values = {
        "ids": ",".join(str(i) for i in sorted(ctx.customer_ids)),
        "acct": str(ctx.account_id) if ctx.account_id else "",
        "scope": "system" if ctx.system else "",
        # The wall clock, not entryfy.clock (tests freeze that): the database compares it
        # with the transaction's start, so a signature cannot be replayed later.
        "ts": str(int(time.time())),
    }
    try:
        values["sig"] = sign(values["ids"], values["acct"], values["scope"], values["ts"])
    except RuntimeError:
        # No key configured (a tool working as the tables' owner, which row-level security
        # does not restrict): unsigned settings, which the web role's policies ignore.
        values["sig"] = ""
    return values


_PG_SET = text(
    "SELECT set_config('entryfy.customer_ids', :ids, true),"
    " set_config('entryfy.account_id', :acct, true),"
    " set_config('entryfy.scope', :scope, true),"
    " set_config('entryfy.signed_at', :ts, true),"
    " set_config('entryfy.sig', :sig, true)"
)


def _apply_pg_settings(session: Session, ctx: TenantContext) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    session.connection().execute(_PG_SET, _pg_values(ctx))


def sign_in_statement(dialect: str, base: Select[Any], *, token_hash: ColumnElement[Any],
                      kind: ColumnElement[Any], at: ColumnElement[Any]) -> Select[Any]:
    """The one sign-in statement: ``base`` (SQLite; columns id, account_id, last_used_at,
    live) as is; on PostgreSQL one call of ``entryfy_sign_in`` (models/rls.py), a SECURITY
    DEFINER function that returns the same columns and, for a live token, switches the
    transaction to the person's own context (``TenantContext(account_id=...)``, else NOBODY),
    signed by the database: the app cannot know the account beforehand, and the web role
    sees no token row before it has a context (revision 0017), nor can it sign a context for
    an account whose token it does not hold. The caller then records the context with
    ``adopt_context``. No row for an unknown token; the context is then left as it was."""
    if dialect != "postgresql":
        return base
    fn = func.entryfy_sign_in(token_hash, kind, at).table_valued(
        column("id", Uuid()), column("account_id", Uuid()),
        column("last_used_at", DateTime(timezone=True)), column("live", Boolean()),
        column("context_set", String()), name="signed_in")
    return select(fn.c.id, fn.c.account_id, fn.c.last_used_at, fn.c.live, fn.c.context_set)


def adopt_context(session: Session, ctx: TenantContext) -> None:
    """Record ``ctx`` as the session's context when the running transaction's database
    settings already say so (``sign_in_statement``, or ``ScopedQuery``)."""
    session.info["tenant"] = ctx


class ScopedQuery:
    """Scope a session to the customers one query returns and run a second query in that
    scope, in one round trip on PostgreSQL: the row-level-security setting is written by
    the statement itself, ahead of the rows it guards.

    ``ids``: a Core SELECT of one column, customer ids; ``query``: the Core SELECT to run in
    their scope (at most one row). Both take their values from the same bound parameters.
    Built once (module level); ``run`` only binds values. The rest of the session's context
    (the person, a system scope) stays as it is.

    How the one statement keeps its order: the ids are aggregated in a subquery whose single
    row calls ``set_config``; ``query`` is a LATERAL subquery that refers to that row, so it
    can only run after it, and a LIMIT keeps the planner from flattening it into a join.
    Should the order ever differ, the guarded rows would be hidden, not shown (a setting not
    yet written reads as "nothing visible"), and every check-in test would fail.
    """

    def __init__(self, ids: Select[Any], query: Select[Any]) -> None:
        self._ids, self._query = ids, query
        self._pg = HotStatement(self._scoped_select(ids, query))

    @staticmethod
    def _scoped_select(ids: Select[Any], query: Select[Any]) -> Select[Any]:
        sub = ids.subquery("scope_ids")
        joined = func.coalesce(func.string_agg(cast(sub.c[0], String), literal(",")), "")
        # The database signs the narrowed scope itself, for customers the signed-in person
        # is a member of (``entryfy_scope_customers``, models/rls.py); it answers what it set.
        scope = (
            select(func.entryfy_scope_customers(joined).label("scoped_ids"))
            .select_from(sub)
            .subquery("scope")
        )
        target = query.where(scope.c.scoped_ids.is_not(None)).limit(1).lateral("target")
        return select(scope.c.scoped_ids, *target.c).select_from(scope.outerjoin(target, true()))

    def run(self, session: Session, params: dict[str, Any],
            conn: Connection | None = None) -> Any | None:
        """``query``'s row (None when it finds nothing), with the session scoped.
        ``conn``: the session's connection, when the caller holds it already."""
        conn = conn if conn is not None else session.connection()
        row: Any | None
        if conn.dialect.name == "postgresql":
            row = self._pg.rows(conn, params)[0]
            ids = frozenset(uuid.UUID(i) for i in row.scoped_ids.split(",") if i)
            if row[1] is None:  # the outer join found no row of ``query``
                row = None
        else:
            ids = frozenset(conn.execute(self._ids, params).scalars())
            row = conn.execute(self._query, params).first()
        adopt_context(session, get_context(session).with_customers(ids))
        return row


class ScopedInsert(ScopedQuery):
    """A ``ScopedQuery`` whose row also feeds an INSERT, in the same one statement
    (PostgreSQL only): ``write(found)`` builds the ``INSERT ... SELECT ... FROM found``
    (``found``: the scoped row as a CTE, its columns as ``query``'s), with its conditions
    in its WHERE clause and ending in ``RETURNING``. ``run`` answers ``query``'s row with
    one more column, ``written``: how many rows the INSERT returned.

    The INSERT reads the row after the scoping has run (it selects from it), and the row is
    computed once (a MATERIALIZED CTE) for both the INSERT and the answer. Should the
    scoping ever come later, the insert's row-level-security check would refuse it: an
    error, never a row in a wrong scope.
    """

    def __init__(self, ids: Select[Any], query: Select[Any],
                 write: Callable[[Any], Any]) -> None:
        self._ids, self._query = ids, query
        found = self._scoped_select(ids, query).cte("found").prefix_with("MATERIALIZED")
        written = write(found).cte("written")
        self._pg = HotStatement(select(
            found, select(func.count()).select_from(written).scalar_subquery().label("written")
        ))

    def run(self, session: Session, params: dict[str, Any],
            conn: Connection | None = None) -> Any | None:
        conn = conn if conn is not None else session.connection()
        if conn.dialect.name != "postgresql":
            raise NotImplementedError("ScopedInsert runs on PostgreSQL only")
        return super().run(session, params, conn)


def install(session_factory: type[Session] | object) -> None:
    """Attach the scoping events to a Session class or sessionmaker."""

    @event.listens_for(session_factory, "do_orm_execute")
    def _scope_orm(state: ORMExecuteState) -> None:
        if not (state.is_select or state.is_update or state.is_delete):
            return
        if state.execution_options.get("skip_tenant_scope"):
            return
        ctx = get_context(state.session)
        if ctx.system:
            return
        only = bool(state.execution_options.get("tenant_customer_rows_only"))
        state.statement = state.statement.options(_criteria_option(ctx, only))

    @event.listens_for(session_factory, "after_begin")
    def _set_pg(session: Session, transaction, connection) -> None:
        if connection.dialect.name != "postgresql":
            return
        if transaction.nested:
            # A SAVEPOINT inside the session's own transaction: the settings are already the
            # session's (set at its begin, and by set_context since).
            return
        ctx = get_context(session)
        if ctx == NOBODY and _fresh_transaction(session, connection):
            # Nothing to say: a new transaction on a clean connection reads every setting as
            # unset, which the policies treat as "nothing visible", exactly like NOBODY. The
            # request path begins this way (the token lookup) and set_context follows.
            return
        connection.execute(_PG_SET, _pg_values(ctx))


CLEAN_SETTINGS = "entryfy.clean_settings"
_PG_READ = text(
    "SELECT coalesce(current_setting('entryfy.customer_ids', true), '')"
    " || coalesce(current_setting('entryfy.account_id', true), '')"
    " || coalesce(current_setting('entryfy.scope', true), '')"
)


def _fresh_transaction(session: Session, connection) -> bool:
    """True when the transaction just begun is a new one on a pooled connection whose
    settings were found empty when it was opened (``install_engine``).

    Only ``set_config(..., is_local => true)`` ever writes the settings, so they end with
    every transaction; a fresh one starts unset. Not fresh: a session bound to a Connection
    (tests, anything joining an outer transaction that may carry another context), or a
    connection whose role or database defines defaults for the settings."""
    return isinstance(session.bind, Engine) and bool(connection.info.get(CLEAN_SETTINGS))


def install_engine(engine) -> None:
    """Check each new PostgreSQL connection once: are the tenancy settings empty by default?
    (``ALTER ROLE ... SET entryfy.scope = 'system'`` would make an unset transaction not
    NOBODY; then every transaction writes its settings, as before.)"""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _check_defaults(dbapi_conn, record) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(str(_PG_READ))
            record.info[CLEAN_SETTINGS] = cur.fetchone()[0] == ""
        finally:
            cur.close()
            dbapi_conn.rollback()
