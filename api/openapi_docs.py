"""Completes the OpenAPI document for people reading it: every field and parameter described
with an example (from its schema's metadata, else from api/glossary.py by name), every
operation with a summary and a description (its docstring), request and response examples
(built from the field examples unless the view gives its own), and the problem+json error
responses that apply to it, each with an example from the problem catalogue.

Which errors apply: 400 when it takes input; 401 and 403 unless it is public (403: a role
check or a missing CSRF token); 404 when the path names an object; 429 when a rate limit is
declared on it; and the business-rule problems (409, 422, ...) its view declares with
``@blp.problems("slug", ...)`` (api.base.Blueprint).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Flask

from api.glossary import lookup
from entryfy.problem_types import CATALOGUE, type_url

PROBLEM_MIMETYPE = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
GENERIC = {400: "validation-error", 401: "unauthorized", 403: "role-required",
           404: "not-found", 429: "too-many-requests"}
_TYPE_EXAMPLE = {"uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                 "date-time": "2026-03-02T07:04:00+00:00", "date": "2026-03-02",
                 "email": "worker@example.com", "url": "https://example.com/"}


def _fits(value: Any, prop: dict[str, Any]) -> bool:
    t = prop.get("type")
    if value is None:
        return bool(prop.get("nullable"))
    if "enum" in prop:
        return value in prop["enum"]
    return {"string": isinstance(value, str), "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, int | float) and not isinstance(value, bool),
            "array": isinstance(value, list), "object": isinstance(value, dict),
            }.get(t or "", True)


def _scalar_example(prop: dict[str, Any]) -> Any:
    if prop.get("enum"):
        return next((v for v in prop["enum"] if v is not None), None)
    t, fmt = prop.get("type"), prop.get("format")
    if t == "string":
        return _TYPE_EXAMPLE.get(fmt or "")
    if t == "boolean":
        return True
    if t in ("integer", "number"):
        low = prop.get("minimum", 1)
        return low if t == "integer" else float(low)
    return None


def _fill_prop(name: str, prop: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:  # OpenAPI 3.0 ignores siblings of $ref: wrap to describe it
        prop = {"allOf": [{"$ref": prop.pop("$ref")}], **prop}
    known = lookup(name)
    if not prop.get("description") and known:
        prop["description"] = known[0]
    if "example" not in prop and "allOf" not in prop:
        if known and known[1] is not None and _fits(known[1], prop):
            prop["example"] = known[1]
        elif prop.get("type") == "array" and "items" in prop and "$ref" not in prop["items"]:
            item = _scalar_example(prop["items"])
            if item is not None:
                prop["example"] = [item]
        else:
            value = _scalar_example(prop)
            if value is not None:
                prop["example"] = value
    return prop


def _fill_param(p: dict[str, Any]) -> None:
    known = lookup(p["name"])
    if not p.get("description") and known:
        p["description"] = known[0]
    schema = p.get("schema", {})
    if "example" not in p and "example" not in schema:
        if known and known[1] is not None and _fits(known[1], schema):
            p["example"] = known[1]
        else:
            value = _scalar_example(schema)
            if value is not None:
                p["example"] = value


def _resolve(schema: dict[str, Any], comps: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = comps.get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0], comps)
    return schema


def build_example(schema: dict[str, Any], comps: dict[str, Any], *, reading: bool,
                  depth: int = 0) -> Any:
    """An example value for ``schema`` from its fields' examples (``reading``: an answer, so
    write-only fields are left out; else a request, read-only ones left out)."""
    schema = _resolve(schema, comps)
    if "example" in schema:
        return copy.deepcopy(schema["example"])
    if depth > 5:
        return None
    if schema.get("type") == "array" or "items" in schema:
        item = build_example(schema.get("items", {}), comps, reading=reading, depth=depth + 1)
        return [] if item is None else [item]
    props = schema.get("properties")
    if props is not None:
        skip = "writeOnly" if reading else "readOnly"
        out = {}
        for name, prop in props.items():
            if _resolve(prop, comps).get(skip) or prop.get(skip):
                continue
            out[name] = build_example(prop, comps, reading=reading, depth=depth + 1)
        return out
    if schema.get("type") == "object":
        return {}
    return _scalar_example(schema)


def _problem(slug: str) -> dict[str, Any]:
    p = CATALOGUE[slug]
    return {"type": type_url(slug), "title": p.title, "status": p.status,
            "detail": p.action}


def _error_response(status: int, slugs: list[str], existing: dict[str, Any] | None
                    ) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if existing and "content" in existing:
        content = existing["content"]
    media = content.setdefault(PROBLEM_MIMETYPE,
                               {"schema": {"$ref": "#/components/schemas/Problem"}})
    if "example" not in media and "examples" not in media:
        if len(slugs) == 1:
            media["example"] = _problem(slugs[0])
        else:
            media["examples"] = {s: {"summary": CATALOGUE[s].title, "value": _problem(s)}
                                 for s in slugs}
    titles = "; ".join(f"`{s}`: {CATALOGUE[s].title}" for s in slugs)
    description = (existing or {}).get("description") or titles
    return {"description": description, "content": content}


def _summary(op: dict[str, Any]) -> None:
    text = (op.get("summary") or "").strip()
    if not text or op.get("description"):
        return
    flat = re.sub(r"\s+", " ", text)
    m = re.match(r"(.+?[.!?])(?:\s|$)", flat)
    op["summary"] = (m[1] if m else flat).rstrip(".")
    op["description"] = text


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def enrich(spec: dict[str, Any], app: Flask) -> dict[str, Any]:
    from entryfy.extensions import declared_limits

    comps = spec.get("components", {}).get("schemas", {})
    for schema in comps.values():
        props = schema.get("properties") or {}
        for name in list(props):
            props[name] = _fill_prop(name, props[name])
    endpoints = {(_openapi_path(r.rule), m.lower()): r.endpoint
                 for r in app.url_map.iter_rules() for m in (r.methods or ())}
    default_security = spec.get("security", [])
    for path, item in spec.get("paths", {}).items():
        for p in item.get("parameters", []):
            _fill_param(p)
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            for p in op.get("parameters", []):
                _fill_param(p)
            _summary(op)
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "example" not in body and "examples" not in body:
                body["example"] = build_example(body["schema"], comps, reading=False)
            responses = op.setdefault("responses", {})
            for code, resp in responses.items():
                if not code.startswith("2") or "$ref" in resp:
                    continue
                for mime, media in resp.get("content", {}).items():
                    if ("json" in mime and "schema" in media and "example" not in media
                            and "examples" not in media):
                        media["example"] = build_example(media["schema"], comps,
                                                         reading=True)
            wanted: dict[int, list[str]] = {}
            takes_input = body is not None or any(
                p.get("in") == "query" for p in op.get("parameters", []))
            public = op.get("security", default_security) == []
            if takes_input:
                wanted[400] = [GENERIC[400], "malformed-json"] if body is not None \
                    else [GENERIC[400]]
            if not public:
                wanted[401] = [GENERIC[401]]
                wanted[403] = [GENERIC[403]] + (["csrf-failed"] if method != "get" else [])
            if "{" in path:
                wanted[404] = [GENERIC[404]]
            endpoint = endpoints.get((path, method))
            if endpoint and not endpoint.startswith("api-docs.") and declared_limits(
                    app, endpoint):
                wanted[429] = [GENERIC[429]]
            for slug in op.pop("x-problems", []):
                status = CATALOGUE[slug].status
                wanted[status] = [s for s in wanted.get(status, []) if s not in GENERIC.values()
                                  or status in (400, 401, 403, 404, 429)] + [slug]
            for status, slugs in sorted(wanted.items()):
                existing = responses.get(str(status))
                if existing is not None and "$ref" in existing:
                    existing = None
                responses[str(status)] = _error_response(status, list(dict.fromkeys(slugs)),
                                                         existing)
    return spec


def install(api: Any, app: Flask) -> None:
    """Serve the completed document wherever flask-smorest serves the spec."""
    plain = api.spec.to_dict

    def to_dict() -> dict[str, Any]:
        return enrich(plain(), app)

    api.spec.to_dict = to_dict
