"""The console: a server-rendered view layer beside ``api/`` for customer admins, operators
and support staff (``/console/``).

It is HTTP only, like ``api/``: every page loads through the same checks
(``api.access.require_customer``, ``require_staff``) and calls the same operations
(``entryfy.ops``, ``privacy``); no rule is written twice. Sign-in is the API's cookie session
(``entryfy.auth.sign_in_browser``), so the JSON endpoints a page links to (the ledger CSV, door
signs) work with the same cookie. Every form carries the session's CSRF token, checked by
``entryfy.auth`` for every unsafe request the cookie authenticates; the sign-in form has its own
token in the (signed) Flask session.

Pages work without JavaScript; the vendored htmx (``static/htmx.min.js``, 0BSD) boosts links
and forms and refreshes the dashboard's "on site now". The Content-Security-Policy allows
scripts and styles from this origin only (no inline script or style anywhere).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import zoneinfo
from typing import Any

from babel.dates import format_date as babel_format_date
from babel.dates import format_datetime as babel_format_datetime
from flask import Blueprint, Flask, g, redirect, render_template, request, session, url_for
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from entryfy.errors import EntryfyError, Forbidden
from models.vocab import LANGUAGES

LANG_COOKIE = "entryfy_lang"

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def select_locale() -> str:
    """The language switch (a cookie) first, then Accept-Language; English otherwise."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


# ------------------------------------------------------------------ CSRF

def csrf_token() -> str:
    """The token a form must send back: the signed-in session's (entryfy.auth checks it), or
    before sign-in one kept in the signed Flask session (login CSRF)."""
    from entryfy.auth import csrf_token_for

    sid = session.get("sid")
    if sid and current_user.is_authenticated:
        return csrf_token_for(sid)
    token = session.get("login_csrf")
    if not token:
        token = session["login_csrf"] = secrets.token_urlsafe(24)
    return str(token)


@bp.before_request
def _anonymous_csrf() -> None:
    # Signed-in requests are checked by entryfy.auth before this runs; a form posted without
    # a session (the sign-in form) must carry the token given with the form.
    if request.method in ("GET", "HEAD", "OPTIONS") or current_user.is_authenticated:
        return
    sent = request.form.get("csrf_token", "")
    expected = session.get("login_csrf", "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise Forbidden("Missing or wrong CSRF token.", slug="csrf-failed")


# ------------------------------------------------------------------ formatting

def _zone(tz: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(tz or "Europe/Stockholm")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("Europe/Stockholm")


def when(value: dt.datetime | None, tz: str | None = None, fmt: str = "short") -> str:
    """A time in the site's time zone, in the page's language (Swedish: 2026-11-30 08:05)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    locale = str(get_locale() or "en")
    pattern = "yyyy-MM-dd HH:mm" if locale == "sv" and fmt == "short" else fmt
    return babel_format_datetime(value, pattern, tzinfo=_zone(tz), locale=locale)


def day(value: dt.date | dt.datetime | None, tz: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.astimezone(_zone(tz)).date()
    return babel_format_date(value, "medium", locale=str(get_locale() or "en"))


def method_labels() -> dict[str, str]:
    """Opening methods as people read them (a method without a label here shows its code)."""
    return {"app": _("App"), "app_pin": _("App + PIN"), "qr": _("QR code"),
            "qr_pin": _("QR code + PIN"), "pin": _("PIN"), "keycard": _("Keycard")}


def method_name(method: str | None) -> str:
    return method_labels().get(method, method) if method else ""


def local_input(value: dt.datetime | None, tz: str | None = None) -> str:
    """The value of an <input type="datetime-local"> in the site's time zone."""
    if value is None:
        return ""
    return value.astimezone(_zone(tz)).strftime("%Y-%m-%dT%H:%M")


def parse_local(text: str | None, tz: str | None) -> dt.datetime | None:
    """An <input type="datetime-local"> value, read in the site's time zone, as UTC."""
    if not text:
        return None
    try:
        naive = dt.datetime.fromisoformat(text)
    except ValueError:
        from entryfy.errors import ValidationFailed

        raise ValidationFailed({"time": [_("Not a date and time.")]}) from None
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=_zone(tz))
    return naive.astimezone(dt.UTC)


# ------------------------------------------------------------------ errors

def _error_page(status: int, title: str, detail: str):
    return render_template("console/error.html", status=status, title=title,
                           detail=detail), status


@bp.errorhandler(EntryfyError)
@bp.errorhandler(HTTPException)
def _on_error(err: Exception):
    if isinstance(err, EntryfyError):
        if err.status == 401:
            return redirect(url_for("console.login", next=request.path))
        return _error_page(err.status, _(err.title), err.detail)
    if isinstance(err, HTTPException):
        return _error_page(err.code or 500, err.name, err.description or "")
    raise err


def init_console(app: Flask) -> None:
    from entryfy.console import (  # noqa: F401  (the modules register their pages)
        access_pages,
        admin_pages,
        auth_pages,
        case_pages,
        support_pages,
    )

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "console/translations")
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.after_request
    def _console_headers(response):
        if request.blueprint == "console":
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "same-origin"
            if request.endpoint != "console.static":
                response.headers["Cache-Control"] = "no-store"
            response.vary.add("Accept-Language")
            response.vary.add("Cookie")
        return response

    app.jinja_env.globals.update(csrf_token=csrf_token, when=when, day=day,
                                 method_name=method_name,
                                 local_input=local_input, LANGUAGES=LANGUAGES)


def page_context() -> dict[str, Any]:
    return {"locale": str(get_locale() or "en"), "customer": g.get("console_customer"),
            "role": g.get("console_role")}


@bp.context_processor
def _context() -> dict[str, Any]:
    return page_context()
