"""problem+json (RFC 9457) for every error: business rules, HTTP errors, validation, 500s."""

from __future__ import annotations

import logging
from typing import Any, cast

from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response as WsgiResponse

from entryfy import web
from entryfy.errors import PROBLEM_BASE, EntryfyError

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"

_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "rule-violation",
    429: "too-many-requests",
    500: "internal-error",
}


def _body(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(err: EntryfyError, status: int | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    status = status or err.status
    body = _body(status, err.slug, err.title, err.detail, **err.extra)
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE, headers=headers)


def _flatten_messages(messages: Any) -> dict[str, Any]:
    """webargs nests messages by location ({"json": {...}}); clients want field -> messages."""
    if not isinstance(messages, dict):
        return {"_body": messages}
    if set(messages) <= {"json", "query", "querystring", "headers", "view_args", "path",
                         "form", "files", "cookies"}:
        flat: dict[str, Any] = {}
        for location, inner in messages.items():
            if isinstance(inner, dict):
                flat.update({str(k): v for k, v in inner.items()})
            else:
                flat[location] = inner
        return flat
    return {str(k): v for k, v in messages.items()}


def handle_http_exception(err: HTTPException) -> WsgiResponse:
    status = err.code or 500
    data = getattr(err, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if err.response is not None and status != 429:
        # Raised with a ready response (abort(response)): werkzeug types it by its sans-I/O
        # base class, but what abort() carries is a WSGI response.
        return cast(WsgiResponse, err.response)
    messages = data.get("messages")
    extra: dict[str, Any] = {}
    slug = _HTTP_SLUGS.get(status, "error")
    title = err.name
    detail = err.description or err.name
    if messages is not None:
        flat = _flatten_messages(messages)
        if set(flat) == {"json"} or "Invalid JSON body." in str(flat.get("json", "")):
            slug, title, detail = "malformed-json", "Malformed JSON", "The body is not valid JSON."
            extra["errors"] = flat
        else:
            slug, title = "validation-error", "The request is not valid"
            detail = "Some fields are not valid."
            extra["errors"] = flat
    elif status == 429:
        detail = "Too many attempts. Wait and try again."
        retry = None
        if err.response is not None:
            retry = err.response.headers.get("Retry-After")
        if retry:
            headers["Retry-After"] = retry
    elif status == 413:
        detail = "The request body is too large."
    body = _body(status, slug, title, detail, **extra)
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for k, v in headers.items():
        resp.headers[k] = v
    if status == 405 and hasattr(err, "valid_methods") and err.valid_methods:
        resp.headers["Allow"] = ", ".join(err.valid_methods)
    return resp


def handle_entryfy_error(err: EntryfyError) -> Response:
    if err.status == 503:
        # A dependency is down (e.g. the witness store): say when to try again.
        retry = str(err.extra.get("retry_after") or 30)
        return problem_response(err, headers={"Retry-After": retry})
    return problem_response(err)


def handle_unexpected(err: Exception) -> WsgiResponse:
    if isinstance(err, HTTPException):
        return handle_http_exception(err)
    from sqlalchemy.exc import DataError, DBAPIError

    if isinstance(err, DBAPIError) and err.connection_invalidated:
        # The database went away under a pooled connection (a restart; there is no
        # pre-ping, see entryfy.db): the pool is invalidated and the next request
        # reconnects, so this one may simply be retried.
        log.warning("database connection lost; pool invalidated")
        return problem_response(EntryfyError(
            "The database is busy; try again.", slug="temporarily-unavailable",
            title="Temporarily unavailable",
        ), status=503)
    if isinstance(err, DataError):
        # A value the database cannot store (out of range, bad encoding) that validation let
        # through: the client's input, so a 400, but logged as a validation gap to close.
        log.warning("database refused a value: %s", type(err.orig).__name__)
        return problem_response(EntryfyError("A value cannot be stored.", slug="invalid-value"))
    # The traceback goes to the log; the client learns nothing about internals.
    log.exception("unhandled error")
    return handle_http_exception(InternalServerError())


def register(app: Flask) -> None:
    web.answer_problems_with(app, web.ProblemAnswers(problem_response, handle_unexpected))
    app.register_error_handler(EntryfyError, handle_entryfy_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
