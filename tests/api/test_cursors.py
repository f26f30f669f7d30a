"""A cursor from another list, or one the API never gave out, is the client's mistake (400),
never a database error: found by the fuzz on PostgreSQL, where a time where the audit trail's
sequence number goes failed inside the query."""

from __future__ import annotations

import base64
import json

import pytest

from tests.factories import bearer


def _cursor(values: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("values", [
    [{"t": "2026-03-02T07:04:00+00:00"}],  # a time where the audit trail keys by seq
    ["12"],                                # a string where an integer goes
    [True],                                # a boolean is no sequence number
])
def test_a_cursor_of_the_wrong_shape_is_400(client, world, values):
    h = bearer(client, world.a.admin, device_id="admin-phone")
    r = client.get(f"/api/v1/customers/{world.a.customer.id}/audit-events",
                   query_string={"cursor": _cursor(values)}, headers=h)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["errors"] == {"cursor": ["Not a cursor this API gave out."]}


def test_a_cursor_the_api_gave_out_still_pages(client, session, world):
    from privacy import audit

    for n in range(3):
        audit.record(session, action="site.update", customer_id=world.a.customer.id,
                     actor_id=world.a.admin.id, object_type="site", object_id=n)
    session.commit()
    h = bearer(client, world.a.admin, device_id="admin-phone")
    url = f"/api/v1/customers/{world.a.customer.id}/audit-events"
    first = client.get(url, query_string={"limit": 1}, headers=h).get_json()
    assert first["next_cursor"]
    r = client.get(url, query_string={"limit": 1, "cursor": first["next_cursor"]}, headers=h)
    assert r.status_code == 200 and r.get_json()["items"] != first["items"]


def test_an_empty_cursor_is_400_not_the_first_page(client, world):
    # The fuzz sent `cursor=` (an empty array serialised into the query) to the lockdowns list
    # and got the first page: an empty cursor is no page the API gave out.
    h = bearer(client, world.a.admin, device_id="admin-phone")
    for path in ("lockdowns", "sites", "audit-events"):
        r = client.get(f"/api/v1/customers/{world.a.customer.id}/{path}?cursor=", headers=h)
        assert r.status_code == 400, (path, r.get_json())
        assert r.mimetype == "application/problem+json"
        assert "cursor" in r.get_json()["errors"]
