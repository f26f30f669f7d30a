"""Sign-in, sign-out, the language switch and the console's front door."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from entryfy import auth
from entryfy.console import LANG_COOKIE, LANGUAGES, bp
from entryfy.console.tenancy import console_customers
from entryfy.errors import EntryfyError
from entryfy.extensions import limiter
from entryfy.ops import accounts as account_ops
from entryfy.web import db_session, keep_refusal
from models.vocab import STAFF_ROLES


def _safe_next(target: str | None) -> str | None:
    # Only a path inside the console: never an absolute or scheme-relative address.
    if not target or not target.startswith("/console/") or urlsplit(target).netloc:
        return None
    return target


def _login_key() -> str:
    from entryfy.security import sha256_hex

    email = request.form.get("email", "")
    return sha256_hex(account_ops.normalise_email(email)) if email else "no-email"


def _failed(response) -> bool:
    return response.status_code == 401


def _limits(view):
    # The same budgets as the API's sign-in (config LOGIN_FAILURE_LIMIT_*), shared with it by
    # scope, so a guesser gains nothing by switching between the two doors.
    from flask import current_app
    from flask_limiter.util import get_remote_address

    view = limiter.shared_limit(lambda: current_app.config["LOGIN_FAILURE_LIMIT_ACCOUNT"],
                                scope="login-account", key_func=_login_key,
                                deduct_when=_failed)(view)
    return limiter.shared_limit(lambda: current_app.config["LOGIN_FAILURE_LIMIT_IP"],
                                scope="login-ip", key_func=get_remote_address,
                                deduct_when=_failed)(view)


@bp.route("/login", methods=["GET", "POST"])
@_limits
def login():
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("console.home"))
        return render_template("console/login.html", next=request.args.get("next", ""))
    s = db_session()
    email = request.form.get("email", "").strip()
    try:
        # Password and second factor judged together, as at the API's sign-in.
        account = account_ops.authenticate(s, email, request.form.get("password", ""),
                                           request.form.get("otp") or None)
    except EntryfyError as err:
        keep_refusal()  # the failed sign-in's audit event outlives the 401
        needs_otp = err.slug.endswith("otp-required") or bool(request.form.get("otp"))
        message = (_("Enter the code from your authenticator app.")
                   if err.slug.endswith("otp-required") else _("Wrong e-mail, password or code."))
        return render_template("console/login.html", error=message, email=email,
                               needs_otp=needs_otp, next=request.form.get("next", "")), 401
    auth.sign_in_browser(account)
    return redirect(_safe_next(request.form.get("next")) or url_for("console.home"))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        auth.sign_out()
    return redirect(url_for("console.login"))


@bp.route("/language", methods=["POST"])
def language():
    lang = request.form.get("lang")
    target = _safe_next(request.form.get("next")) or url_for("console.home")
    response = make_response(redirect(target))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax",
                            httponly=True, secure=request.is_secure)
    return response


@bp.route("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("console.login"))
    account = auth.current_account()
    if account.staff_role in STAFF_ROLES:
        return redirect(url_for("console.support_tickets"))
    customers = console_customers(account.id)
    if len(customers) == 1:
        return redirect(url_for("console.dashboard", customer_id=customers[0][0].id))
    return render_template("console/choose.html", customers=customers)
