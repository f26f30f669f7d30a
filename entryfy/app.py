"""The application factory."""

from __future__ import annotations

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
