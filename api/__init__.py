"""The HTTP layer: blueprints and schemas only. Business rules live below (entryfy.ops, privacy)."""

from __future__ import annotations

import importlib

from flask import Flask
from flask_smorest import Api

from api import problems

# Every blueprint module under api/ that exposes ``blp``; a new resource adds its name here.
BLUEPRINT_MODULES = [
    "api.auth",
    "api.me",
]


class EntryfyApi(Api):
    def _register_error_handlers(self) -> None:
        # problem+json instead of flask-smorest's own error body.
        problems.register(self._app)


def init_api(app: Flask) -> Api:
    api = EntryfyApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Entryfy: privacy-first workplace entry. Errors are "
                "application/problem+json (RFC 9457).",
            },
        },
    )
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"}
    )
    api.spec.components.security_scheme(
        "cookieAuth", {"type": "apiKey", "in": "cookie", "name": "entryfy_session"}
    )
    api.spec.options["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(name)
        api.register_blueprint(module.blp)
    return api
