"""Configuration from the environment. Secrets never get silent defaults outside development."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    pass


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# A development-only key, used only when ENTRYFY_ENV=development (the README's first command).
DEV_DATA_KEY = "ZW50cnlmeS1kZXZlbG9wbWVudC1vbmx5LWtleS0wMDA="
DEV_SECRET_KEY = "entryfy-development-only-secret-key"  # noqa: S105


def load(instance_path: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    env = os.environ.get("ENTRYFY_ENV", "production")
    overrides = overrides or {}
    testing = bool(overrides.get("TESTING"))
    dev = env == "development" or testing
    default_db = "sqlite:///" + str(Path(instance_path) / "entryfy.sqlite3")
    cfg: dict[str, Any] = {
        "ENV_NAME": env,
        "DATABASE_URL": os.environ.get("DATABASE_URL", default_db),
        # Migrations run as the owner of the tables; the app itself need not be one.
        "DATABASE_ADMIN_URL": os.environ.get("DATABASE_ADMIN_URL"),
        # The PostgreSQL role that owns no table and is subject to row-level security.
        "DATABASE_APP_ROLE": os.environ.get("DATABASE_APP_ROLE", "entryfy_app"),
        "DATABASE_POOL_SIZE": int(os.environ.get("DATABASE_POOL_SIZE", "5")),
        "DATABASE_MAX_OVERFLOW": int(os.environ.get("DATABASE_MAX_OVERFLOW", "5")),
        # Off behind PgBouncer in transaction pooling mode (docs/SCALING.md): no server-side
        # prepared statements, which live in a server connection the app does not keep.
        "DATABASE_PREPARED_STATEMENTS": _bool("DATABASE_PREPARED_STATEMENTS", True),
        "SECRET_KEY": os.environ.get("SECRET_KEY"),
        "ENTRYFY_DATA_KEY": os.environ.get("ENTRYFY_DATA_KEY"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: count in this process's memory instead (Flask-Limiter logs the switch
        # once, and switches back when Redis answers again), never fail the request.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Failed sign-ins: per account and per client address (Flask-Limiter strings).
        "LOGIN_FAILURE_LIMIT_ACCOUNT": os.environ.get(
            "LOGIN_FAILURE_LIMIT_ACCOUNT", "5 per 15 minutes"
        ),
        "LOGIN_FAILURE_LIMIT_IP": os.environ.get("LOGIN_FAILURE_LIMIT_IP", "30 per 15 minutes"),
        # Other secret checks (current password, e-mail codes, invitations): failures per
        # account and per client address (api.throttle).
        "SECRET_FAILURE_LIMIT_ACCOUNT": os.environ.get(
            "SECRET_FAILURE_LIMIT_ACCOUNT", "5 per 15 minutes"
        ),
        "SECRET_FAILURE_LIMIT_IP": os.environ.get("SECRET_FAILURE_LIMIT_IP", "30 per 15 minutes"),
        # Registrations (each sends a mail): per address and per client address.
        "REGISTER_LIMIT_ADDRESS": os.environ.get("REGISTER_LIMIT_ADDRESS", "3 per hour"),
        "REGISTER_LIMIT_IP": os.environ.get("REGISTER_LIMIT_IP", "20 per hour"),
        "SMTP_URL": os.environ.get("SMTP_URL"),
        "OUTBOX_DIR": os.environ.get("ENTRYFY_OUTBOX", str(Path(instance_path) / "outbox")),
        # Evidence outside the database: the erasure journal, published audit-chain heads.
        "WITNESS_URL": os.environ.get("ENTRYFY_WITNESS_URL",
                                      (Path(instance_path) / "witness").resolve().as_uri()),
        # Webhook targets on private/loopback addresses (tests, local development only).
        "WEBHOOKS_ALLOW_PRIVATE": _bool("ENTRYFY_WEBHOOKS_ALLOW_PRIVATE", False),
        "TOKEN_LIFETIME_DAYS": int(os.environ.get("TOKEN_LIFETIME_DAYS", "90")),
        "SESSION_LIFETIME_HOURS": int(os.environ.get("SESSION_LIFETIME_HOURS", "12")),
        # argon2id: RFC 9106 "second recommended" (64 MiB, t=3, p=4), above the OWASP minimum.
        "ARGON2_TIME_COST": int(os.environ.get("ARGON2_TIME_COST", "3")),
        "ARGON2_MEMORY_COST": int(os.environ.get("ARGON2_MEMORY_COST", "65536")),
        "ARGON2_PARALLELISM": int(os.environ.get("ARGON2_PARALLELISM", "4")),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_CONTENT_LENGTH", str(256 * 1024))),
        "SESSION_COOKIE_NAME": "entryfy_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", not dev),
        # Flask-Login's remember-me cookie is not used: sessions live in the database.
        "REMEMBER_COOKIE_DURATION": 0,
        "DEMO_DATA": _bool("ENTRYFY_DEMO", env == "development"),
        # flask-smorest / OpenAPI
        "API_TITLE": "Entryfy",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        # The docs page (/api/v1/docs) is api/docs.py's, with Swagger UI served from this app,
        # never from a CDN: flask-smorest's own UI routes stay off.
        "TESTING": False,
    }
    if os.environ.get("ENTRYFY_MAIL_AFTER_COMMIT") is not None:
        # Send mail right after the request's commit (default: only without SMTP_URL).
        cfg["MAIL_AFTER_COMMIT"] = _bool("ENTRYFY_MAIL_AFTER_COMMIT", False)
    cfg.update(overrides)
    if str(cfg["RATELIMIT_STORAGE_URI"]).startswith(("redis", "rediss")):
        # A Redis that hangs must not hang requests: fail fast, and fall back (above).
        cfg.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 0.5,
                                                     "socket_timeout": 0.5})
    if dev:
        cfg["SECRET_KEY"] = cfg["SECRET_KEY"] or DEV_SECRET_KEY
        cfg["ENTRYFY_DATA_KEY"] = cfg["ENTRYFY_DATA_KEY"] or DEV_DATA_KEY
    missing = [k for k in ("SECRET_KEY", "ENTRYFY_DATA_KEY") if not cfg.get(k)]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} must be set (ENTRYFY_ENV={env}). "
            "Generate one with: python -c \"import secrets,base64;"
            "print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())\""
        )
    cfg["DATABASE_ADMIN_URL"] = cfg["DATABASE_ADMIN_URL"] or cfg["DATABASE_URL"]
    return cfg
