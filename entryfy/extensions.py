"""Flask extensions, created unbound and initialised in create_app."""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_qualified_name, get_remote_address
from flask_login import LoginManager

login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

# The two requests a phone makes at every entry. They declare no rate limit, so the limiter
# has nothing to check; resolving that anew on every request cost a check-in a twentieth of
# its CPU. Every other endpoint goes through the limiter as usual. ``check_hot_endpoints``
# refuses to start an app where one of these has gained a limit.
HOT_ENDPOINTS = frozenset({"entries.check_in", "doors.open_door"})


@limiter.request_filter
def _hot_endpoint() -> bool:
    return request.endpoint in HOT_ENDPOINTS


def declared_limits(app: Flask, endpoint: str) -> list[object]:
    """Every rate limit that applies to ``endpoint``: on its view (or its class-based view's
    methods), its blueprint, the application, or the defaults."""
    manager = limiter.limit_manager
    view = app.view_functions[endpoint]
    callables = [view]
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        callables += [getattr(view_class, m.lower()) for m in view_class.methods or ()]
    blueprint = endpoint.rpartition(".")[0]
    with app.app_context():  # limits given as callables read the app's config
        found: list[object] = [*manager.application_limits, *manager.default_limits]
        for fn in callables:
            found += manager.decorated_limits(get_qualified_name(fn))
        if blueprint:
            found += manager.blueprint_limits(app, blueprint)
    return found


def check_hot_endpoints(app: Flask) -> None:
    for endpoint in sorted(HOT_ENDPOINTS):
        if endpoint not in app.view_functions:
            raise RuntimeError(f"HOT_ENDPOINTS names {endpoint!r}, which does not exist")
        if declared_limits(app, endpoint):
            raise RuntimeError(f"{endpoint} has a rate limit: take it out of HOT_ENDPOINTS")
