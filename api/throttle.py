"""Throttles for every check of a secret: per account and per client, the same for known and
unknown accounts (the key is the address or account named, never whether it exists).

Each check counts against two shared limits: one keyed by the account (a hash of the e-mail
address in the body, or the signed-in account), one by the client's address. Only failed
checks count, told apart by the problem ``type`` of the answer, except where every attempt
costs something (registration sends mail). The limits are in the configuration
(``SECRET_FAILURE_LIMIT_*``, ``REGISTER_LIMIT_*``); sign-in keeps its own
(``LOGIN_FAILURE_LIMIT_*``, api.auth).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask_limiter.util import get_remote_address

from entryfy.errors import PROBLEM_BASE
from entryfy.extensions import limiter
from entryfy.security import sha256_hex


def email_key() -> str:
    """A hash of the e-mail address in the JSON body (the limiter's storage, e.g. Redis,
    holds no address in clear)."""
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str):
        return "no-email"
    return sha256_hex(email.strip().lower())


def account_key() -> str:
    """The signed-in account (these checks are made by a signed-in person)."""
    from flask_login import current_user

    if getattr(current_user, "is_authenticated", False):
        return str(current_user.get_id())
    return "anonymous"


def failed(*slugs: str) -> Callable[[Any], bool]:
    types = {PROBLEM_BASE + s for s in slugs}

    def deduct(response: Any) -> bool:
        if response.status_code < 400 or response.status_code == 429:
            return False
        body = response.get_json(silent=True)
        return isinstance(body, dict) and body.get("type") in types

    return deduct


def throttled(scope: str, *, per_account: str, per_client: str,
              account: Callable[[], str], when: Callable[[Any], bool] | None):
    """Decorate a view: ``scope`` names the shared counters (views checking the same secret
    share them); ``per_account``/``per_client`` name configuration keys with
    Flask-Limiter limit strings; ``when`` picks the answers that count (None: all)."""
    limits = [
        limiter.shared_limit(lambda: current_app.config[per_account], scope=f"{scope}-account",
                             key_func=account, deduct_when=when),
        limiter.shared_limit(lambda: current_app.config[per_client], scope=f"{scope}-client",
                             key_func=get_remote_address, deduct_when=when),
    ]

    def wrap(view):
        for lim in limits:
            view = lim(view)
        return view

    return wrap


def current_password_checks():
    """The signed-in person's current password (password change, e-mail change, a privacy
    request confirmed with it): a stolen token must not become a guessing machine."""
    return throttled("current-password", per_account="SECRET_FAILURE_LIMIT_ACCOUNT",
                     per_client="SECRET_FAILURE_LIMIT_IP", account=account_key,
                     when=failed("current-password-wrong"))

