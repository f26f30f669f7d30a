"""The human entrances: the landing page at ``/`` and the interactive API docs at
``/api/v1/docs``, served entirely by this app so they work with no network.

Swagger UI's files come from the ``flask-swagger-ui`` package (it ships Swagger UI's own
distribution, updated with each release); we use only its files, not its blueprint, so the
page is ours: no inline script, a Content-Security-Policy that allows nothing from elsewhere.
ReDoc was dropped rather than vendored: one offline UI is enough, and ``/api/v1/redoc`` now
leads to it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    redirect,
    render_template_string,
    send_from_directory,
    url_for,
)
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WsgiResponse

bp = Blueprint("docs-ui", __name__, static_folder=None)

_OWN = Path(__file__).parent / "static" / "docs"
# The files of Swagger UI that the page loads (the package ships more; serve only these).
_SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png",
                            "LICENSE"})
_OWN_FILES = frozenset({"swagger-init.js", "docs.css"})

# Everything the page needs comes from this origin; style attributes are Swagger UI's own
# (React sets them), and its icons are data: URIs.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _swagger_dist() -> Path:
    return Path(str(resources.files("flask_swagger_ui") / "dist"))


_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Entryfy API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{{ url_for('docs-ui.asset', name='favicon-32x32.png') }}">
<link rel="stylesheet" href="{{ url_for('docs-ui.asset', name='swagger-ui.css') }}">
<link rel="stylesheet" href="{{ url_for('docs-ui.asset', name='docs.css') }}">
</head>
<body data-spec-url="{{ url_for('api-docs.openapi_json') }}">
<nav class="entryfy-bar">
  <a href="{{ url_for('docs-ui.landing') }}">Entryfy</a>
  <a href="{{ url_for('api-docs.openapi_json') }}">openapi.json</a>
  <a href="{{ url_for('problems.problem_types') }}">problem types</a>
</nav>
<noscript>These docs need JavaScript; the document itself is at
  <a href="{{ url_for('api-docs.openapi_json') }}">openapi.json</a>.</noscript>
<div id="swagger-ui"></div>
<script src="{{ url_for('docs-ui.asset', name='swagger-ui-bundle.js') }}"></script>
<script src="{{ url_for('docs-ui.asset', name='swagger-init.js') }}"></script>
</body>
</html>
"""

_LANDING_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Entryfy</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{{ url_for('docs-ui.asset', name='docs.css') }}">
</head>
<body>
<nav class="entryfy-bar"><strong>Entryfy</strong></nav>
<main style="padding: 1rem; max-width: 48rem">
<p>Privacy-first workplace entry: doors, check-in and the personnel ledger.</p>
<ul>
  <li><a href="/console/">The console</a> (customer admins, operators, support)</li>
  <li><a href="{{ url_for('docs-ui.docs') }}">API docs</a> (interactive, Swagger UI)</li>
  <li><a href="{{ url_for('api-docs.openapi_json') }}">OpenAPI document</a></li>
  <li><a href="{{ url_for('problems.problem_types') }}">Problem types</a>: every error the API
    can answer, and what to do about it</li>
</ul>
<p>A first try? <code>entryfy demo</code> prints the demo logins and a walkthrough of
  check-in, door opening, the ledger and the register extract.</p>
</main>
</body>
</html>
"""


def _html(body: str, csp: str) -> Response:
    resp = Response(body, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = csp
    return resp


@bp.get("/")
def landing() -> Response:
    return _html(render_template_string(_LANDING_PAGE), DOCS_CSP)


@bp.get("/api/v1/docs")
def docs() -> Response:
    return _html(render_template_string(_DOCS_PAGE), DOCS_CSP)


@bp.get("/api/v1/redoc")
def redoc() -> WsgiResponse:
    return redirect(url_for("docs-ui.docs"), code=301)


@bp.get("/api/v1/docs/assets/<name>")
def asset(name: str) -> Response:
    if name in _OWN_FILES:
        folder = _OWN
    elif name in _SWAGGER_FILES:
        folder = _swagger_dist()
    else:
        raise NotFound()
    resp = send_from_directory(folder, name, max_age=3600)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
