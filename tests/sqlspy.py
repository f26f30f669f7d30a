"""What a piece of code sends to the database, in order, for statement-count tests.

Statements through SQLAlchemy are seen by its ``before_cursor_execute`` event; the hot ones
(models.hot) run straight on the DBAPI cursor on PostgreSQL, past every SQLAlchemy event, so
they are seen by wrapping ``HotStatement._run_pg``. A test counting one without the other
would miss the door opening's and the check-in's main statements on PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from models.hot import HotStatement


def _head(sql: str, words: int | None) -> str:
    return sql if words is None else " ".join(sql.split()[:words])


@contextlib.contextmanager
def statements(monkeypatch: pytest.MonkeyPatch, engine: Engine | None = None, *,
               words: int | None = None) -> Iterator[list[str]]:
    """Every statement run inside the block: the hot ones, and with ``engine`` those through
    SQLAlchemy too (not the savepoints of the test's own nesting). ``words``: only the first
    so many words of each."""
    seen: list[str] = []
    run = HotStatement._run_pg

    def spy(self: HotStatement, conn: Any, params: Any, *, fetch: Any) -> Any:
        seen.append(_head(self._compiled_pg(conn).sql, words))
        return run(self, conn, params, fetch=fetch)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "SAVEPOINT" not in statement:
            seen.append(_head(statement, words))

    monkeypatch.setattr(HotStatement, "_run_pg", spy)
    if engine is not None:
        event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        if engine is not None:
            event.remove(engine, "before_cursor_execute", count)
        monkeypatch.setattr(HotStatement, "_run_pg", run)
