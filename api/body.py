"""What every API request body must be, and what every API response carries.

A body is JSON (another content type: 415), nested at most ``MAX_DEPTH`` deep (Python's
parser would otherwise recurse until it fails: a 4 KB body of brackets was a 500), and its
strings are Unicode text (a lone surrogate such as ``"\\ud800"`` parses, then breaks every
encoder and the database: 400). The checks sit in the one JSON loader that both Flask
(``request.get_json``, e.g. the limiter's keys) and webargs (the schemas) use.

Every response of the API says ``Cache-Control: no-store`` (tokens and personal data must not
be kept by a browser or proxy) and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider

from entryfy.errors import EntryfyError

MAX_DEPTH = 32
API_PREFIX = "/api/"
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
# In UTF-8 text a surrogate can only arrive as a \u escape (the decoder refuses encoded ones).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


class BodyError(json.JSONDecodeError):
    """Not JSON this API accepts; a JSONDecodeError, so every caller treats it as bad JSON."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, "<body>", 0)
        self.msg = msg


def _check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return  # cannot be deeper, whatever the strings hold
    depth = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise BodyError(f"Nested deeper than {MAX_DEPTH} levels.")
        elif tok in "]}":
            depth -= 1


def loads(data: str | bytes | bytearray) -> Any:
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    _check_depth(text)
    value = json.loads(text)
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BodyError("A string holds a lone surrogate: not valid Unicode.") from None
    return value


class SafeJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def is_json(mimetype: str | None) -> bool:
    return bool(mimetype) and bool(_JSON_TYPE.match(mimetype or ""))


# Endpoints whose body a standard fixes as something else: RFC 8058's one-click unsubscribe
# is a form post (`List-Unsubscribe=One-Click`) that mail clients send, and its token rides
# in the query string, so the body is never read.
FORM_BODY_ENDPOINTS = frozenset({"privacy.newsletter_unsubscribe"})


def _refuse_other_content_types() -> Response | None:
    if not request.path.startswith(API_PREFIX) or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    if request.endpoint in FORM_BODY_ENDPOINTS:
        return None
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", "").lower()
    if has_body and not is_json(request.mimetype):
        from api.problems import problem_response

        return problem_response(EntryfyError(
            "Send the body as JSON (Content-Type: application/json).",
            slug="unsupported-media-type", title="Unsupported Media Type"), status=415)
    return None


def _headers(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith(API_PREFIX):
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.json = SafeJSONProvider(app)
    app.before_request(_refuse_other_content_types)
    app.after_request(_headers)
