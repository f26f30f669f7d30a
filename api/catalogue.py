"""GET /api/v1/problems: the catalogue of problem types (entryfy.problem_types). JSON for
programs; a browser (Accept: text/html) gets a page with one anchor per slug. A problem's
``type`` is ``/api/v1/problems/<slug>``: that entry as JSON, or for a browser the page at its
anchor."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, redirect, render_template_string, request, url_for

from api.base import Blueprint, OutSchema
from entryfy.errors import NotFound
from entryfy.problem_types import CATALOGUE, type_url

blp = Blueprint("problems", __name__, url_prefix="/api/v1",
                description="The problem types errors answer with, and what to do.")


class ProblemTypeOut(OutSchema):
    slug = ma.fields.String(metadata={"description": "The stable end of `type`.",
                                      "example": "outside-geofence"})
    type = ma.fields.String(metadata={"description": "The `type` a problem carries.",
                                      "example": "/api/v1/problems/outside-geofence"})
    status = ma.fields.Integer(metadata={"description": "The HTTP status it comes with.",
                                         "example": 422})
    title = ma.fields.String(metadata={"description": "Its title.",
                                       "example": "Outside the site's area"})
    action = ma.fields.String(metadata={
        "description": "What to do about it.",
        "example": "`distance_m` says how far from the site you are; move closer.",
    })


class ProblemCatalogueOut(OutSchema):
    items = ma.fields.List(ma.fields.Nested(ProblemTypeOut),
                           metadata={"description": "Every problem type, by slug."})


def entry(slug: str) -> dict[str, Any]:
    p = CATALOGUE[slug]
    return {"slug": slug, "type": type_url(slug), "status": p.status, "title": p.title,
            "action": p.action}


def entries() -> list[dict[str, Any]]:
    return [entry(slug) for slug in sorted(CATALOGUE)]


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Entryfy problem types</title>
<link rel="stylesheet" href="{{ url_for('docs-ui.asset', name='docs.css') }}"></head>
<body><nav class="entryfy-bar"><a href="/">Entryfy</a>
<a href="{{ url_for('docs-ui.docs') }}">API docs</a></nav>
<main style="padding: 1rem; max-width: 56rem">
<h1>Problem types</h1>
<p>Every error is <code>application/problem+json</code> (RFC 9457); its <code>type</code>
leads here.</p>
<dl>
{% for p in items %}<dt id="{{ p.slug }}"><a href="#{{ p.slug }}"><code>{{ p.slug }}</code></a>
  &middot; {{ p.status }} &middot; {{ p.title }}</dt><dd>{{ p.action }}</dd>
{% endfor %}</dl></main></body></html>
"""


def render_html() -> str:
    return render_template_string(_PAGE, items=entries())


@blp.route("/problems", methods=["GET"])
@blp.response(200, ProblemCatalogueOut, example={"items": [{
    "slug": "outside-geofence", "type": "/api/v1/problems/outside-geofence", "status": 422,
    "title": "Outside the site's area",
    "action": "`distance_m` says how far from the site you are and `radius_m` how near you "
              "must be; move closer and try again."}]})
def problem_types():
    """Every problem type

    Every `type` an error can carry, with its status, title and what to do. Anyone may read
    it. A browser (`Accept: text/html`) gets the same as a page with one anchor per slug.
    """
    if _wants_html():
        from api.docs import DOCS_CSP

        resp = Response(render_html(), mimetype="text/html")
        resp.headers["Content-Security-Policy"] = DOCS_CSP
        return resp
    return {"items": entries()}



@blp.route("/problems/<slug>", methods=["GET"])
@blp.response(200, ProblemTypeOut, example=entry("outside-geofence"))
def problem_type(slug: str):
    """One problem type

    Where a problem's `type` leads: its status, title and what to do. A browser
    (`Accept: text/html`) is sent to its entry on the catalogue page.
    """
    if slug not in CATALOGUE:
        raise NotFound("No such problem type.")
    if _wants_html():
        return redirect(url_for("problems.problem_types") + "#" + slug, code=303)
    return entry(slug)
