"""The request's unit of work: one session per request, committed when the view succeeded,
rolled back otherwise. Views never call commit()."""

from __future__ import annotations

import logging

from flask import Flask, current_app, g
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from entryfy.db import Database, discard_after_commit, run_after_commit
from entryfy.errors import Conflict, EntryfyError

log = logging.getLogger(__name__)


def database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["entryfy.db"]


def db_session() -> Session:
    """The current request's session, created on first use."""
    s = g.get("_db_session")
    if s is None:
        s = g._db_session = database().session()
    return s


def keep_refusal() -> None:
    """Commit this request's writes even though it answers with a 4xx.

    For answers that *are* a refusal rather than a failure: a denied door opening is recorded
    as an access event, and the record must outlive the 403. Server errors still roll back.
    """
    g._keep_refusal = True


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit_or_rollback(response):  # type: ignore[no-untyped-def]
        s: Session | None = g.get("_db_session")
        if s is None:
            return response
        refusal_kept = g.pop("_keep_refusal", False) and 400 <= response.status_code < 500
        if response.status_code >= 400 and not refusal_kept:
            discard_after_commit(s)
            s.rollback()
            return response
        try:
            s.commit()
        except IntegrityError:
            discard_after_commit(s)
            s.rollback()
            log.info("commit refused by a database constraint", exc_info=False)
            from api.problems import problem_response

            return problem_response(
                Conflict("The change conflicts with existing data.", slug="constraint-violation")
            )
        except OperationalError:
            discard_after_commit(s)
            s.rollback()
            log.warning("commit failed: database unavailable or serialisation failure")
            from api.problems import problem_response

            return problem_response(EntryfyError(
                "The database is busy; try again.", slug="temporarily-unavailable",
                title="Temporarily unavailable",
            ), status=503)
        run_after_commit(s)
        return response

    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        s: Session | None = g.pop("_db_session", None)
        if s is not None:
            discard_after_commit(s)
            if exc is not None:
                s.rollback()
            s.close()
