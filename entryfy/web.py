"""The request's unit of work: one session per request, committed when the view succeeded,
rolled back otherwise. Views never call commit().

Database outages and lost races (entryfy.dbfaults) never answer 500: a request that met one
runs again when that is safe (``RetryingApp``), else it answers 503 problem+json with
``Retry-After``. Whether it is safe:

* the failure came before COMMIT was sent (in a view, a before-request step, a flush): the
  transaction never committed, so running the whole request again changes nothing twice;
* or it came at COMMIT but the database certainly rolled back (deadlock victim,
  serialization failure, SQLite's lock): the same;
* or the request is idempotent by its method (GET, HEAD, OPTIONS, PUT, DELETE) or carries
  an ``Idempotency-Key``: running it again is what a client would do anyway.

Never when the connection died during COMMIT of a POST/PATCH without a key (it may have
committed: the client gets 503 and decides), when the request already did something outside
the database (sent mail), or when the response had started (a streamed body). A retry
reruns the whole request from its buffered body, with jittered backoff, a few times at most.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_request_context,
    request,
    stream_with_context,
)
from sqlalchemy import exc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WsgiResponse

from entryfy import mail
from entryfy.db import Database, discard_after_commit, run_after_commit, set_writes
from entryfy.dbfaults import Fault, classify, incidents
from entryfy.errors import Conflict, EntryfyError

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDEMPOTENT_METHODS = READ_METHODS | {"PUT", "DELETE"}
FAULT = "entryfy.db_fault"  # environ: (Fault, phase) of this attempt
SIDE_EFFECTS = "entryfy.side_effects"  # environ: the attempt did something outside the DB
ATTEMPTS = {"contention": 4, "unavailable": 2}  # attempts in all, per kind of fault


def database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["entryfy.db"]


def db_session() -> Session:
    """The current request's session, created on first use."""
    s = g.get("_db_session")
    if s is None:
        s = g._db_session = database().session()
    return s


def streamed(body: Iterator[Any]) -> Iterator[Any]:
    """A response body produced after the request's commit, from the request's session (a
    cursor read piece by piece), with the request context kept for it.

    Flask's app-context teardown (``_close`` below) runs when the view returns, before such a
    body is read: the session it closed starts a new transaction for the body's reads, and
    nothing else would end it (the connection stayed checked out until the garbage collector
    found it; a few exports at once emptied the pool). This closes it when the body ends,
    however it ends (read to the end, or the client gone).
    """
    s = db_session()

    def run() -> Iterator[Any]:
        try:
            yield from body
        finally:
            with contextlib.suppress(exc.SQLAlchemyError):
                s.close()

    return stream_with_context(run())


def settle() -> None:
    """Commit what this request has done so far (e.g. the sign-in's bookkeeping), so that a
    process working in units of work of its own (an erasure: freeze, journal, erase, check)
    neither waits on this session's locks nor is undone by its rollback. Still the one
    commit point: views call this, never ``commit()``."""
    s: Session | None = g.get("_db_session")
    if s is not None:
        s.commit()
        run_after_commit(s)  # e.g. the mail written so far: committed, so it goes now


def keep_refusal() -> None:
    """Commit this request's writes even though it answers with a 4xx.

    For answers that *are* a refusal rather than a failure: a denied door opening is recorded
    as an access event, and the record must outlive the 403. Server errors still roll back.
    """
    g._keep_refusal = True


def note_side_effect() -> None:
    """This request did something outside the database (e.g. sent mail): never rerun it."""
    if has_request_context():
        request.environ[SIDE_EFFECTS] = True


@dataclasses.dataclass(frozen=True)
class ProblemAnswers:
    """How the app answers with problem+json. The views' layer renders it (api.problems) and
    registers its renderers here (``answer_problems_with``), so this module, below the
    views, does not import them."""

    # (error, status=None, headers=None) -> a problem+json response
    problem: Callable[..., Response]
    # Any other exception: logged, answered with a 500 problem.
    unexpected: Callable[[Exception], WsgiResponse]


def answer_problems_with(app: Flask, answers: ProblemAnswers) -> None:
    app.extensions["entryfy.problem_answers"] = answers


def _answers() -> ProblemAnswers:
    answers: ProblemAnswers = current_app.extensions["entryfy.problem_answers"]
    return answers


def unavailable_response(fault: Fault) -> Response:
    return _answers().problem(EntryfyError(
        "The database is unavailable or busy; try again shortly.",
        slug="temporarily-unavailable", title="Temporarily unavailable",
    ), status=503, headers={"Retry-After": str(fault.retry_after)})


def _fault_response(err: BaseException, fault: Fault, phase: str) -> Response:
    request.environ[FAULT] = (fault, phase)
    s: Session | None = g.get("_db_session")
    if s is not None:
        # The connection may be gone; closing the session (teardown) then suffices.
        with contextlib.suppress(exc.SQLAlchemyError):
            s.rollback()
    return unavailable_response(fault)


def _handle_db_error(err: exc.SQLAlchemyError) -> WsgiResponse:
    fault = classify(err)
    if fault is None:
        return _answers().unexpected(err)
    return _fault_response(err, fault, "request")


def _no_write(data: bytes) -> None:
    raise NotImplementedError("write() is not supported: return the body instead")


class RetryingApp:
    """WSGI middleware: reruns a request whose attempt met a retryable database fault (see
    the module's docstring), from a buffered copy of its body; the last attempt's answer
    (a 503 with Retry-After, at worst) goes to the client."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    def _buffer(self, environ: dict[str, Any]) -> bytes | None:
        """The request body, read once so every attempt can have it; None when too large
        to keep (the app answers 413 for it anyway)."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        stream = environ.get("wsgi.input")
        if stream is None:
            return b""
        if length > self.max_body:
            return None
        if length:
            return bytes(stream.read(length))
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            data = bytes(stream.read(self.max_body + 1))
            environ["wsgi.input"] = io.BytesIO(data)
            return None if len(data) > self.max_body else data
        return b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        body = self._buffer(environ)
        pristine = dict(environ)
        writes = method not in READ_METHODS
        attempt = 0
        while True:
            env = dict(pristine)
            if body is not None:
                env["wsgi.input"] = io.BytesIO(body)
            # Reads take no write lock on SQLite (entryfy.db); left set after the request
            # on purpose: a streamed body may still read after this call returns.
            set_writes(writes)
            captured: list[Any] = []

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None,
                        _c: list[Any] = captured) -> Any:
                _c[:] = [status, headers, exc_info]
                return _no_write

            result = self.app(env, capture)
            found = env.get(FAULT)
            if found is None:
                start_response(*captured)
                return result
            fault, phase = found
            attempt += 1
            again = (attempt < ATTEMPTS[fault.kind] and body is not None
                     and not env.get(SIDE_EFFECTS)
                     and (phase != "commit" or fault.rolled_back
                          or method in IDEMPOTENT_METHODS or "HTTP_IDEMPOTENCY_KEY" in env))
            incidents.failed(fault, retried=again, phase=phase)
            if not again:
                start_response(captured[0], _retry_after_at_least(captured[1], fault),
                               *captured[2:])
                return result
            if hasattr(result, "close"):
                result.close()
            if fault.code == "sqlite-busy":
                # A read that turned into a write met SQLite's lock: ask for it at BEGIN.
                writes = True
            base = 0.05 if fault.kind == "contention" else 0.25
            time.sleep(random.uniform(base / 2, base) * 2 ** (attempt - 1))


def _retry_after_at_least(headers: list[tuple[str, str]], fault: Fault
                          ) -> list[tuple[str, str]]:
    """The fault's Retry-After, or a later one already set. Flask-Limiter rewrites the
    header on the endpoints it limits (the later of its own reset and ours, in whole seconds
    rounded down: "1" can come out "0", which asks for an immediate retry)."""
    kept = [(k, v) for k, v in headers if k.lower() != "retry-after"]
    given = [v for k, v in headers if k.lower() == "retry-after"]
    seconds = fault.retry_after
    if given and given[-1].isdigit():
        seconds = max(seconds, int(given[-1]))
    return [*kept, ("Retry-After", str(seconds))]


def init_app(app: Flask) -> None:
    mail.on_send(note_side_effect)
    # Wrapping wsgi_app is Flask's documented way to add middleware (the stubs call it a method).
    app.wsgi_app = RetryingApp(  # type: ignore[method-assign]  # see above
        app.wsgi_app, max_body=int(app.config.get("MAX_CONTENT_LENGTH") or 1 << 20)
    )
    app.register_error_handler(exc.DBAPIError, _handle_db_error)
    app.register_error_handler(exc.TimeoutError, _handle_db_error)

    @app.after_request
    def _commit_or_rollback(response):
        s: Session | None = g.get("_db_session")
        if s is None or FAULT in request.environ:
            return response
        refusal_kept = g.pop("_keep_refusal", False) and 400 <= response.status_code < 500
        if response.status_code >= 400 and not refusal_kept:
            discard_after_commit(s)
            # A refusal on a connection that has since died: nothing to undo.
            with contextlib.suppress(exc.SQLAlchemyError):
                s.rollback()
            return response
        try:
            s.commit()
        except IntegrityError:
            discard_after_commit(s)
            s.rollback()
            log.info("commit refused by a database constraint", exc_info=False)
            return _answers().problem(
                Conflict("The change conflicts with existing data.", slug="constraint-violation")
            )
        except (exc.DBAPIError, exc.TimeoutError) as err:
            fault = classify(err)
            if fault is None:
                raise
            discard_after_commit(s)
            return _fault_response(err, fault, "commit")
        incidents.succeeded()
        run_after_commit(s)
        return response

    @app.teardown_appcontext
    def _close(exc_: BaseException | None) -> None:
        s: Session | None = g.pop("_db_session", None)
        if s is not None:
            discard_after_commit(s)
            try:
                if exc_ is not None:
                    s.rollback()
                s.close()
            except exc.SQLAlchemyError as err:  # a dead connection: the pool replaces it
                log.debug("closing the session failed: %s", type(err).__name__)
