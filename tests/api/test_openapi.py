"""The OpenAPI document: valid, complete, and honest about errors."""

from __future__ import annotations

from openapi_spec_validator import validate


def _spec(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def test_document_is_valid_openapi(client):
    validate(_spec(client))


def test_every_route_is_documented(app, client):
    spec = _spec(client)
    documented = {
        (path, method.upper())
        for path, ops in spec["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    }
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint.startswith(
                ("api-docs.", "docs-ui.")):
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<uuid:{arg}>", "{" + arg + "}").replace(
                f"<{arg}>", "{" + arg + "}").replace(f"<string:{arg}>", "{" + arg + "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if (path, method) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []


def test_errors_are_documented_as_problem_json(client):
    spec = _spec(client)
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert "application/problem+json" in default["content"]
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem)


def test_docs_pages_are_served_from_the_app_itself(client):
    import re

    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    # Nothing from another host: no CDN (the page was blank offline when it used one).
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", html) == []
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "<script>" not in html  # no inline script: the CSP forbids it
    for src in re.findall(r"(?:src|href)=\"([^\"]+)\"", html):
        if src.startswith("/api/v1/docs/assets/"):
            asset = client.get(src)
            assert asset.status_code == 200, src
            assert len(asset.get_data()) > 100, src
            asset.close()
    assert client.get("/api/v1/docs/assets/../config.py").status_code == 404
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
    r = client.get("/api/v1/redoc")
    assert (r.status_code, r.headers["Location"]) == (301, "/api/v1/docs")


def test_landing_page_links_docs_and_console(client):
    r = client.get("/")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    for link in ("/api/v1/docs", "/console/", "/api/v1/openapi.json", "/api/v1/problems"):
        assert f'href="{link}"' in html


def test_method_not_allowed_is_problem_json(client):
    r = client.put("/api/v1/auth/login", json={})
    assert r.status_code == 405
    assert r.mimetype == "application/problem+json"
