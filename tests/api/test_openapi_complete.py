"""The OpenAPI document is complete enough to work from without reading the code: every
operation has a summary and a description, examples of its request and answer, and its error
responses as problem+json; every parameter and every field is described with an example.
Generated from the served document, so an endpoint added later is held to the same."""

from __future__ import annotations

import pytest

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec():
    from entryfy import create_app
    from tests.conftest import TEST_CONFIG

    app = create_app({**TEST_CONFIG, "DATABASE_URL": "sqlite:///:memory:"})
    return app.test_client().get("/api/v1/openapi.json").get_json()


def _ops(spec):
    return [(f"{m.upper()} {p}", item, op) for p, item in spec["paths"].items()
            for m, op in item.items() if m in METHODS]


def test_every_operation_has_a_summary_and_a_description(spec):
    bad = [name for name, _, op in _ops(spec)
           if not op.get("summary", "").strip() or not op.get("description", "").strip()]
    assert bad == [], "give the view a docstring"


def test_every_operation_has_request_and_response_examples(spec):
    bad = []
    for name, _, op in _ops(spec):
        body = op.get("requestBody", {}).get("content", {})
        for mime, media in body.items():
            if not ("example" in media or "examples" in media):
                bad.append(f"{name} request {mime}")
        ok = [c for c in op["responses"] if c.startswith("2")]
        assert ok, name
        for code in ok:
            for mime, media in op["responses"][code].get("content", {}).items():
                if "json" in mime and not ("example" in media or "examples" in media):
                    bad.append(f"{name} {code} {mime}")
    assert bad == []


def test_every_operation_lists_its_error_responses_as_problem_json(spec):
    bad = []
    for name, _item, op in _ops(spec):
        codes = {c for c in op["responses"] if c[0] == "4"}
        path = name.split(" ", 1)[1]
        public = op.get("security", spec.get("security")) == []
        needed = set()
        if "{" in path:
            needed.add("404")
        if not public:
            needed |= {"401", "403"}
        if "requestBody" in op:
            needed.add("400")
        if needed and not codes:
            bad.append(f"{name}: no error response")
        if needed - codes:
            bad.append(f"{name}: missing {sorted(needed - codes)}")
        for code in codes:
            media = op["responses"][code].get("content", {}).get("application/problem+json")
            if media is None or not ("example" in media or "examples" in media):
                bad.append(f"{name}: {code} is not problem+json with an example")
    assert bad == []


def test_every_parameter_is_described_with_an_example(spec):
    bad = []
    for path, item in spec["paths"].items():
        params = list(item.get("parameters", []))
        for m, op in item.items():
            if m in METHODS:
                params += op.get("parameters", [])
        for p in params:
            if not p.get("description"):
                bad.append(f"{path} {p['in']} {p['name']}: no description")
            if "example" not in p and "example" not in p.get("schema", {}):
                bad.append(f"{path} {p['in']} {p['name']}: no example")
    assert bad == []


def test_every_schema_field_is_described_with_an_example(spec):
    bad = []
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in (schema.get("properties") or {}).items():
            if not prop.get("description"):
                bad.append(f"{name}.{field}: no description")
            scalar = prop.get("type") in ("string", "integer", "number", "boolean")
            if scalar and "example" not in prop:
                bad.append(f"{name}.{field}: no example")
    assert bad == [], "metadata={'description': ..., 'example': ...} or api/glossary.py"


def test_the_check_in_documents_its_rules(spec):
    op = spec["paths"]["/api/v1/entries"]["post"]
    assert {"401", "403", "409", "422"} <= set(op["responses"])
    examples = op["responses"]["422"]["content"]["application/problem+json"]["examples"]
    assert {"outside-geofence", "identity-number-required"} <= set(examples)
    assert examples["outside-geofence"]["value"]["type"] == "/api/v1/problems/outside-geofence"
    header = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
    assert "retry" in header["description"]
