"""One ``current_user`` for browsers (Flask-Login session cookie) and phones (bearer tokens).

Both kinds are rows in ``access_tokens``: the cookie carries a session secret, the phone a
device token, and each is looked up by its SHA-256. Revoking the row (logout, password change,
removing a device) ends it at the next request. Requests authenticated by a bearer token
never get a session cookie and need no CSRF token; cookie-authenticated unsafe requests must
carry ``X-CSRF-Token``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

from flask import Flask, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_user, logout_user

from entryfy.errors import Forbidden, Unauthorized
from entryfy.extensions import login_manager
from entryfy.ops import accounts as account_ops
from entryfy.web import db_session
from models import Account
from models.tenancy import NOBODY, TenantContext, set_context

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSRF_HEADER = "X-CSRF-Token"


class TokenAwareSessionInterface(SecureCookieSessionInterface):
    """A request that carries a bearer token is judged by that token alone: its cookie
    session is not read (a failed token does not fall back on an ambient cookie), and no
    session cookie is ever set on the response."""

    def open_session(self, app: Flask, request):
        if _bearer_secret(request) is not None:
            return self.session_class()
        return super().open_session(app, request)

    def should_set_cookie(self, app: Flask, sess) -> bool:
        if g.get("auth_method") == "token":
            return False
        return super().should_set_cookie(app, sess)

    def save_session(self, app, sess, response):
        if g.get("auth_method") == "token":
            return None
        return super().save_session(app, sess, response)


class Principal:
    """The signed-in person as Flask-Login's ``current_user``: ids only. Loading the Account
    row is left to the views that need it (``current_account()``), so a request such as a
    check-in pays for one sign-in statement and no ORM objects."""

    __slots__ = ("account_id", "method", "token_id")
    is_authenticated = True
    is_active = True  # only live sign-ins of active accounts become a Principal
    is_anonymous = False

    def __init__(self, account_id: uuid.UUID, token_id: uuid.UUID, method: str) -> None:
        self.account_id, self.token_id, self.method = account_id, token_id, method

    def get_id(self) -> str:
        return str(self.account_id)


def _signed_in(secret: str, kind: str, method: str) -> Principal | None:
    found = account_ops.sign_in_with_token(db_session(), secret, kind)
    if found is None:
        return None
    g.auth_method = method
    return Principal(found.account_id, found.token_id, method)


@login_manager.user_loader
def _load_from_cookie(user_id: str) -> Principal | None:
    secret = session.get("sid")
    if not secret:
        return None
    principal = _signed_in(secret, "session", "session")
    if principal is None:
        session.clear()
        return None
    if str(principal.account_id) != user_id:
        # The sign-in statement has already switched to the token's person: switch back.
        session.clear()
        g.pop("auth_method", None)
        set_context(db_session(), NOBODY)
        return None
    return principal


def _bearer_secret(req) -> str | None:
    scheme, _, secret = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


@login_manager.request_loader
def _load_from_bearer(req) -> Principal | None:
    secret = _bearer_secret(req)
    return None if secret is None else _signed_in(secret, "device", "token")


@login_manager.unauthorized_handler
def _unauthorized():
    secret = _bearer_secret(request) or session.get("sid")
    if secret and account_ops.frozen(db_session(), secret):
        raise Unauthorized("This account is frozen: it is being erased at its owner's "
                           "request, so nothing more is recorded for it.",
                           slug="account-frozen")
    raise Unauthorized("Sign in first.")


def csrf_token_for(secret: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"csrf:" + secret.encode(), hashlib.sha256).hexdigest()


# Endpoints authenticated by the credentials in their body, not by the cookie.
# A kiosk's bearer token is its own (not a person's): resolving current_user for the CSRF
# check would look it up as a device token and fail for nothing.
CSRF_EXEMPT = {"auth.login", "auth.register", "auth.issue_token", "auth.verify_email",
               "kiosk.kiosk_entry"}


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.endpoint in CSRF_EXEMPT:
        return
    # Resolve the user first: only a request that the *cookie* authenticated needs CSRF.
    if not current_user.is_authenticated or g.get("auth_method") != "session":
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.blueprint == "console":
        # The console's HTML forms cannot set a header: the token travels as a form field.
        sent = request.form.get("csrf_token", "")
    expected = csrf_token_for(session.get("sid", ""))
    if not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden(
            f"Missing or wrong CSRF token. A request signed in with the session cookie must "
            f"send the csrf_token from the sign-in answer (POST /api/v1/auth/login) in the "
            f"{CSRF_HEADER} header; bearer-token clients need none.", slug="csrf-failed")


def sign_in_browser(account: Account) -> str:
    """Start a fresh server-side session: a new session id (no fixation), returns CSRF token."""
    s = db_session()
    lifetime = dt.timedelta(hours=current_app.config["SESSION_LIFETIME_HOURS"])
    issued = account_ops.start_session(s, account, lifetime=lifetime, ip=request.remote_addr)
    session.clear()
    session["sid"] = issued.secret
    principal = Principal(account.id, issued.token.id, "session")
    login_user(principal)
    g.auth_method = "session"
    g.current_account = account
    set_context(s, TenantContext(account_id=account.id))
    return csrf_token_for(issued.secret)


def sign_out() -> None:
    token_id = current_token_id()
    if token_id is not None:
        account_ops.end_sign_in(db_session(), token_id)
    logout_user()
    session.clear()


def current_principal() -> Principal:
    if not current_user.is_authenticated:
        raise Unauthorized("Sign in first.")
    return current_user._get_current_object()


def current_account_id() -> uuid.UUID:
    return current_principal().account_id


def current_account() -> Account:
    """The signed-in person's Account row, loaded on first use in the request."""
    account: Account | None = g.get("current_account")
    if account is None:
        account = db_session().get(Account, current_principal().account_id)
        if account is None:  # erased between the sign-in statement and now
            raise Unauthorized("Sign in first.")
        g.current_account = account
    return account


def current_token_id() -> uuid.UUID | None:
    if not current_user.is_authenticated:
        return None
    return current_principal().token_id


def init_app(app: Flask) -> None:
    app.session_interface = TokenAwareSessionInterface()
    login_manager.init_app(app)
    # Our own session rows do what Flask-Login's session protection approximates.
    login_manager.session_protection = None
    # Without session protection the identifier Flask-Login computes on every request (a
    # SHA-512 of the client's address and user agent) is never compared, yet login_user()
    # writes it into the session cookie: a fingerprint of the person for nothing. Keep it
    # constant.
    login_manager._session_identifier_generator = lambda: ""

    app.before_request(_check_csrf)
