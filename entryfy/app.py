"""The application factory."""

from __future__ import annotations

import gc
import os
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from entryfy import config as config_mod
from entryfy import security
from entryfy.db import Database, make_engine


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask("entryfy", instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config_mod.load(app.instance_path, test_config))
    from entryfy import logs

    logs.configure()

    proxies = int(os.environ.get("ENTRYFY_TRUSTED_PROXIES", "0"))
    if proxies:
        # Wrapping wsgi_app is Flask's documented way to add middleware (the stubs call it a
        # method).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]  # see above
            app.wsgi_app, x_for=proxies, x_proto=proxies)

    security.configure(
        passwords=security.Passwords(
            app.config["ARGON2_TIME_COST"],
            app.config["ARGON2_MEMORY_COST"],
            app.config["ARGON2_PARALLELISM"],
        ),
        keys=security.DataKeys(app.config["ENTRYFY_DATA_KEY"]),
    )

    from entryfy import mail

    app.extensions["entryfy.mail"] = mail.Mailer(app.config["SMTP_URL"], app.config["OUTBOX_DIR"])
    if "MAIL_AFTER_COMMIT" in app.config:
        app.extensions["entryfy.mail"].deliver_after_commit = app.config["MAIL_AFTER_COMMIT"]
    mail.configure(app.extensions["entryfy.mail"])
    from entryfy import outbox

    outbox.install()

    from entryfy import witness

    app.extensions["entryfy.witness"] = witness.from_url(app.config["WITNESS_URL"])
    witness.configure(app.extensions["entryfy.witness"])

    db = app.config.get("DATABASE") or Database(
        make_engine(
            app.config["DATABASE_URL"],
            pool_size=app.config["DATABASE_POOL_SIZE"],
            max_overflow=app.config["DATABASE_MAX_OVERFLOW"],
            prepared_statements=app.config["DATABASE_PREPARED_STATEMENTS"],
        )
    )
    app.extensions["entryfy.db"] = db

    from entryfy import auth, web
    from entryfy.extensions import limiter

    web.init_app(app)
    auth.init_app(app)
    limiter.init_app(app)

    from api import init_api

    init_api(app)
    from api import health

    app.register_blueprint(health.blp)
    from entryfy.console import init_console

    init_console(app)
    from entryfy.extensions import check_hot_endpoints

    check_hot_endpoints(app)

    from entryfy.cli import register_flask_commands

    register_flask_commands(app)
    return app


def freeze_startup_heap() -> None:
    """Move everything the process has made so far (the app, its routes, schemas, mappers,
    the OpenAPI document) out of the garbage collector's sight, for a serving process.

    A request that makes many objects (a 10,000-person list is 10,000 rows) wakes Python's
    full collection every few requests, and a full collection walks every object alive:
    at this app's size that was about 120 ms added to one request in five
    (bench/onsite.py: SQLite's on-site list at p99 183 ms against p50 57 ms; 64 ms
    after). These objects live as long as the process anyway. Called once, after
    ``create_app``, by wsgi.py; not by create_app itself, so the tests' many apps stay
    collectable."""
    gc.collect()
    gc.freeze()

