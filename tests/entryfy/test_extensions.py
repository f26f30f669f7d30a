"""Rate limits as declared, and the hot endpoints that skip the limiter's per-request work."""

from __future__ import annotations

import flask
import pytest

from entryfy.extensions import HOT_ENDPOINTS, check_hot_endpoints, declared_limits, limiter


def test_the_declared_limits_are_found_on_every_kind_of_view(app):
    limited = {e for e in app.view_functions if declared_limits(app, e)}
    # Function views and a class-based view's method alike; nothing else is limited.
    assert limited == {
        "auth.login", "auth.issue_token", "console.login", "privacy_rights.MyRequests",
        "privacy_rights.my_export", "privacy_rights.customer_export",
        "privacy_rights.outside_request", "privacy_rights.verify_outside_request",
        # Secret checks (api.throttle).
        "auth.register", "auth.verify_email", "me.Me", "me.change_password",
        "me.accept_invitation",
        "kiosk.kiosk_entry", "inspections.inspection_ledger",
    }
    assert not limited & HOT_ENDPOINTS


def test_an_app_whose_hot_endpoint_has_a_limit_does_not_start():
    app = flask.Flask("hot-check")
    bp = flask.Blueprint("entries", __name__)

    @bp.post("/entries")
    @limiter.limit("1 per minute")
    def check_in():
        return ""

    @bp.post("/doors/<door_id>/open")
    def open_door(door_id):
        return ""

    app.register_blueprint(bp)
    app.add_url_rule("/open", "doors.open_door", open_door)
    with pytest.raises(RuntimeError, match=r"entries\.check_in has a rate limit"):
        check_hot_endpoints(app)


def test_a_hot_endpoint_that_does_not_exist_is_named():
    with pytest.raises(RuntimeError, match="does not exist"):
        check_hot_endpoints(flask.Flask("empty"))
