"""The HTTP layer: blueprints and schemas only. Business rules live below (entryfy.ops, privacy)."""

from __future__ import annotations

import http
import importlib
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from api import problems
from api.base import Problem

# Every blueprint module under api/ that exposes ``blp``; a new resource adds its name here.
BLUEPRINT_MODULES = [
    "api.auth",
    "api.me",
    "api.devices",
    "api.entries",
    "api.ledger",
    "api.privacy",
    "api.privacy_rights",
    "api.support",
    "api.doors",
    "api.controller",
    "api.door_control",
    "api.customers",
    "api.sites",
    "api.catalogue",
    "api.webhooks",
    "api.site_ops",
    "api.kiosk",
    "api.inspections",
]


class EntryfyApi(Api):
    ERROR_SCHEMA = Problem

    def _register_error_handlers(self) -> None:
        # problem+json instead of flask-smorest's own error body.
        problems.register(self._app)

    def _register_responses(self) -> None:
        """Document every error response as application/problem+json (RFC 9457)."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


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
    api.spec.components.security_scheme(
        "controllerKey",
        {"type": "apiKey", "in": "header", "name": "Authorization",
         "description": "Door controllers: `Authorization: Controller <key>` (docs/DOORS.md)"},
    )
    api.spec.options["security"] = [{"bearerAuth": []}, {"cookieAuth": []}]
    from api import body

    body.init_app(app)
    for name in BLUEPRINT_MODULES:
        module = importlib.import_module(name)
        api.register_blueprint(module.blp)
    from api import docs, openapi_docs

    app.register_blueprint(docs.bp)
    openapi_docs.install(api, app)
    return api
