"""Driving the console with Flask's test client: forms carry the CSRF token of the page."""

from __future__ import annotations

import re
from typing import Any

from tests.factories import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def console_login(client: Any, email: str, password: str = PASSWORD, otp: str | None = None,
                  **headers: str) -> Any:
    page = client.get("/console/login", headers=headers)
    data = {"csrf_token": token(page.get_data(as_text=True)), "email": email,
            "password": password}
    if otp:
        data["otp"] = otp
    return client.post("/console/login", data=data, headers=headers)


def post_form(client: Any, page_url: str, to: str | None = None, **data: Any) -> Any:
    """GET the page, then POST ``data`` with the page's CSRF token to ``to`` (default: the
    page itself)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return client.post(to or page_url, data={"csrf_token": token(page.get_data(as_text=True)),
                                                 **data})
