"""Authentication endpoints: register, login/logout (browser), device tokens (phones)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select

from api import throttle
from api.base import Blueprint, InSchema, OutSchema, SingleLine
from api.me import AccountOut, account_payload
from entryfy import auth, clock
from entryfy.auth import current_account, current_token_id
from entryfy.errors import NotFound
from entryfy.extensions import limiter
from entryfy.ops import accounts as ops
from entryfy.ops import mailbox
from entryfy.web import db_session, keep_refusal
from models import AccessToken, Account
from models.tenancy import TenantContext, set_context

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-in")

NAME = [ma.validate.Length(min=1, max=100), SingleLine()]


class RegisterIn(InSchema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=256))
    first_name = ma.fields.String(required=True, validate=NAME)
    last_name = ma.fields.String(required=True, validate=NAME)
    phone = ma.fields.String(load_default=None, allow_none=True,
                             validate=ma.validate.Regexp(r"^\+?[0-9 ()-]{5,32}$"))


class LoginIn(InSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=256))
    otp = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))


class LoginOut(AccountOut):
    csrf_token = ma.fields.String()


class TokenIn(LoginIn):
    device_id = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=200))
    device_name = ma.fields.String(load_default=None,
                                   validate=[ma.validate.Length(max=100), SingleLine()])
    platform = ma.fields.String(load_default=None,
                                validate=ma.validate.OneOf(["ios", "android", "web", "other"]))


class TokenIssuedOut(OutSchema):
    id = ma.fields.UUID()
    token = ma.fields.String()
    expires_at = ma.fields.DateTime()


class TokenOut(OutSchema):
    id = ma.fields.UUID()
    kind = ma.fields.String()
    device_id = ma.fields.UUID(allow_none=True)
    device_name = ma.fields.Function(lambda t: t.device.name if t.device else None)
    platform = ma.fields.Function(lambda t: t.device.platform if t.device else None)
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    last_used_at = ma.fields.DateTime(allow_none=True)
    current = ma.fields.Function(lambda t: t.id == current_token_id())


def _failed(response) -> bool:
    return response.status_code == 401


# Failed sign-ins count against both the account and the client address, across the login
# and token endpoints alike; successful ones cost nothing.
login_limits = [
    limiter.shared_limit(
        lambda: current_app.config["LOGIN_FAILURE_LIMIT_ACCOUNT"],
        scope="login-account", key_func=throttle.email_key, deduct_when=_failed,
    ),
    limiter.shared_limit(
        lambda: current_app.config["LOGIN_FAILURE_LIMIT_IP"],
        scope="login-ip", key_func=get_remote_address, deduct_when=_failed,
    ),
]


def _throttled(view):
    for lim in login_limits:
        view = lim(view)
    return view


class RegisteredOut(OutSchema):
    detail = ma.fields.String()


class VerifyEmailIn(InSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))


def _sign_in(data: dict[str, Any]) -> Account:
    # A failed sign-in is kept (its audit event) although the answer is a 401.
    keep_refusal()
    return ops.authenticate(db_session(), data["email"], data["password"], data.get("otp"))


@blp.route("/register", methods=["POST"])
@throttle.throttled("register", per_account="REGISTER_LIMIT_ADDRESS",
                    per_client="REGISTER_LIMIT_IP", account=throttle.email_key, when=None)
@blp.arguments(RegisterIn)
@blp.response(202, RegisteredOut)
def register(data):
    """Register: 202 for every well-formed body, whether or not the address has an account.

    A code goes to the address (an address with an account gets a notice instead); the
    account can sign in once the code is entered at `verify-email`. The password policy
    (400 with the reasons): at least 10 characters, not common or breached, not built from
    the address, the names or the service's name."""
    ops.request_registration(db_session(), **data)
    return {"detail": "If the address can receive mail, a message is on its way: enter the "
                      "code it holds at /api/v1/auth/verify-email."}


@blp.route("/verify-email", methods=["POST"])
@throttle.throttled("email-code", per_account="SECRET_FAILURE_LIMIT_ACCOUNT",
                    per_client="SECRET_FAILURE_LIMIT_IP", account=throttle.email_key,
                    when=throttle.failed("code-invalid"))
@blp.arguments(VerifyEmailIn)
@blp.response(200, AccountOut)
@blp.problems("code-invalid")
def verify_email(data):
    """Prove the address with the code sent to it: activates a new account, or completes a
    change of address. A wrong, expired or replaced code: 422 `code-invalid`."""
    s = db_session()
    keep_refusal()  # a wrong try counts although the answer is an error
    account = mailbox.verify(s, data["email"], data["code"])
    set_context(s, TenantContext(account_id=account.id))
    return account_payload(account)


@blp.route("/login", methods=["POST"])
@_throttled
@blp.arguments(LoginIn)
@blp.response(200, LoginOut)
@blp.problems("invalid-credentials", "otp-required", "otp-invalid")
def login(data):
    """Sign in with the browser's session cookie.

    Answers the account and a `csrf_token`: send it in the `X-CSRF-Token` header on every
    POST, PUT, PATCH and DELETE made with the cookie. A wrong email and a wrong password get
    the same 401; repeated failures 429. Accounts with a second factor add `otp`.
    """
    account = _sign_in(data)
    csrf = auth.sign_in_browser(account)
    return {**account_payload(account), "csrf_token": csrf}


@blp.route("/logout", methods=["POST"])
@blp.response(204)
def logout():
    """Sign out of this browser session.

    The session ends at once on the server. Made with the cookie, so it needs `X-CSRF-Token`.
    """
    current_account()
    auth.sign_out()
    return ""


@blp.route("/tokens", methods=["GET"])
@blp.response(200, TokenOut(many=True))
def list_tokens():
    """The person's device tokens.

    One per device signed in, with when it was last used; never the token itself.
    """
    account = current_account()
    return list(
        db_session().scalars(
            select(AccessToken)
            .where(
                AccessToken.account_id == account.id,
                AccessToken.revoked_at.is_(None),
                AccessToken.expires_at > clock.now(),
            )
            .order_by(AccessToken.created_at.desc())
        )
    )


@blp.route("/tokens", methods=["POST"])
@_throttled
@blp.arguments(TokenIn)
@blp.response(201, TokenIssuedOut)
@blp.problems("invalid-credentials", "otp-required", "otp-invalid")
def issue_token(data):
    """Sign in on a device: a bearer token.

    For the mobile app and scripts: send `Authorization: Bearer <token>` afterwards (no CSRF
    token needed). `device_id` is any stable id of the device (8 to 200 characters); only a
    keyed hash of it is stored, and signing in again from it replaces that device's token.
    The token is shown once.
    """
    s = db_session()
    account = _sign_in(data)
    device, new = ops.register_device(
        s, account, device_id=data["device_id"], name=data.get("device_name"),
        platform=data.get("platform"),
    )
    if new:
        from entryfy.ops import staff

        staff.note_new_device(s, account, device)
    lifetime = dt.timedelta(days=current_app.config["TOKEN_LIFETIME_DAYS"])
    issued = ops.issue_device_token(s, account, device, lifetime=lifetime, ip=request.remote_addr)
    return {"id": issued.token.id, "token": issued.secret, "expires_at": issued.token.expires_at}


@blp.route("/tokens/<uuid:token_id>", methods=["DELETE"])
@blp.response(204)
def revoke(token_id: uuid.UUID):
    """Revoke one of the person's tokens.

    The device using it is signed out at once.
    """
    account = current_account()
    if ops.revoke_token(db_session(), account, token_id) is None:
        raise NotFound("No such token.")
    return ""
