"""Statements on the request hot path, run straight on the DBAPI cursor on PostgreSQL.

SQLAlchemy builds and compiles them (once per dialect); each execution then skips what it
adds per statement: the cache-key lookup, the execution context and the result wrapper,
which cost more CPU than psycopg's own round trip (about 0.3 ms against 0.13 ms here). They
run on the connection of the caller's session, inside its transaction, and fail like any
other statement: a database error comes out as SQLAlchemy's exception class for it
(IntegrityError, OperationalError, ...), and a lost connection is invalidated so the pool
does not hand it out again.

They run on psycopg's ``RawCursor``, compiled once with PostgreSQL's own ``$1`` placeholders:
the default cursor converts ``%(name)s`` placeholders by parsing the statement at every
execution when it is longer than psycopg's cache takes (4,096 bytes, or 50 parameters), and
the check-in's one statement is longer (about 0.08 ms of CPU per check-in, measured).

Only for fixed statements whose rows (a SELECT, or RETURNING) are a few plain columns (no
type conversions beyond what psycopg does itself), or that return none (``rowcount``). On
SQLite (the embedded default) they run through SQLAlchemy as usual.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, NamedTuple, cast

import psycopg
from sqlalchemy import Connection, Dialect, exc
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.sql.selectable import ExecutableReturnsRows

_CURSOR = "entryfy.hot_cursor"


def _cursor(info: dict[str, Any], dbapi_conn: Any) -> Any:
    # One cursor per pooled connection, kept in the pool's per-connection info: making a new
    # one costs about a third of a statement. A connection serves one thread at a time, and
    # a cursor of a replaced (reconnected) connection is never reused.
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.closed or cursor.connection is not dbapi_conn:
        cursor = info[_CURSOR] = psycopg.RawCursor(dbapi_conn)
    return cursor


def _dollar_dialect(dialect: Dialect) -> Dialect:
    """The connection's dialect compiling ``$1`` placeholders (``numeric_dollar``, which
    SQLAlchemy supports for every dialect) for the same server."""
    # Every concrete dialect is a DefaultDialect, whose constructor takes the paramstyle.
    dollar = cast("type[DefaultDialect]", type(dialect))(paramstyle="numeric_dollar")
    dollar.server_version_info = dialect.server_version_info
    return dollar


class _Compiled(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters' names in placeholder order ($1, $2, ...)
    static: dict[str, Any]  # values of the literals inside the statement
    row_type: type[Any]


class HotStatement:
    def __init__(self, stmt: ExecutableReturnsRows) -> None:
        self.stmt = stmt
        self._pg: _Compiled | None = None

    def _compiled_pg(self, conn: Connection) -> _Compiled:
        if self._pg is None:
            compiled = self.stmt.compile(dialect=_dollar_dialect(conn.dialect))
            # Values of the literals inside the statement (anonymous bound parameters); the
            # named ones come with each execution.
            static = {k: v for k, v in compiled.params.items() if v is not None}
            names = list(self.stmt.exported_columns.keys()) or ["_"]
            row_type = collections.namedtuple("HotRow", names, rename=True)  # type: ignore[misc]  # fields known only at run time
            self._pg = _Compiled(compiled.string, tuple(compiled.positiontup or ()), static,
                                 row_type)
        return self._pg

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The statement's rows (named tuples; attribute access by column label)."""
        if conn.dialect.name != "postgresql":
            return list(conn.execute(self.stmt, dict(params)).all())
        row_type = self._compiled_pg(conn).row_type
        return [row_type._make(r) for r in self._run_pg(conn, params, fetch=True)]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Any | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def rowcount(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """For a statement that returns no rows: how many rows it wrote."""
        if conn.dialect.name != "postgresql":
            return int(conn.execute(self.stmt, dict(params)).rowcount)
        return self._run_pg(conn, params, fetch=False)

    def _run_pg(self, conn: Connection, params: Mapping[str, Any], *, fetch: bool) -> Any:
        sql, names, static, _ = self._compiled_pg(conn)
        # A named parameter the caller left out is a KeyError here, as it was in psycopg.
        values = [params[n] if n in params else static[n] for n in names]
        dbapi_conn = conn.connection.dbapi_connection
        cursor = _cursor(conn.connection.info, dbapi_conn)
        try:
            cursor.execute(sql, values)
            return cursor.fetchall() if fetch else cursor.rowcount
        except conn.dialect.loaded_dbapi.Error as err:
            lost = conn.dialect.is_disconnect(err, dbapi_conn, cursor)
            if lost:
                conn.invalidate(err)
            raise exc.DBAPIError.instance(
                sql, values, err, conn.dialect.loaded_dbapi.Error,
                connection_invalidated=lost, dialect=conn.dialect,
            ) from err
