"""One home for the problem types: every slug the code can answer with is in
entryfy.problem_types, served at GET /api/v1/problems, and a problem's ``type`` leads there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from entryfy.problem_types import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]
CODE = ("entryfy", "api", "privacy", "models")


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def slugs_in_code() -> dict[str, str]:
    """slug -> where: ``slug="..."`` arguments, ``slug = "..."`` assignments (also in
    tuples), and the HTTP status slugs of api/problems.py."""
    found: dict[str, str] = {}
    for pkg in CODE:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts or path.name == "problem_types.py":
                continue
            tree = ast.parse(path.read_text(), str(path))
            where = str(path.relative_to(ROOT))
            for node in ast.walk(tree):
                if isinstance(node, ast.keyword) and node.arg == "slug":
                    for s in _strings(node.value):
                        found.setdefault(s, f"{where}:{node.value.lineno}")
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        names = ([target] if isinstance(target, ast.Name) else
                                 list(target.elts) if isinstance(target, ast.Tuple) else [])
                        for i, name in enumerate(names):
                            if not (isinstance(name, ast.Name) and name.id == "slug"):
                                continue
                            value = node.value
                            if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                                value = value.elts[i]
                            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                                found.setdefault(value.value, f"{where}:{node.lineno}")
                        if isinstance(target, ast.Name) and target.id == "_HTTP_SLUGS":
                            for s in _strings(node.value):
                                found.setdefault(s, f"{where}:{node.lineno}")
                elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                      and node.target.id == "_HTTP_SLUGS" and node.value is not None):
                    for s in _strings(node.value):
                        found.setdefault(s, f"{where}:{node.lineno}")
    return found


def test_the_scan_finds_slugs_of_every_kind():
    """Guards the scanner itself: a keyword, a class attribute, a tuple assignment, the
    HTTP table."""
    found = slugs_in_code()
    assert {"csrf-failed", "rule-violation", "malformed-json", "too-many-requests",
            "door-refused", "stale-notice"} <= set(found)


def test_every_slug_raised_in_code_is_in_the_catalogue():
    missing = {s: where for s, where in slugs_in_code().items() if s not in CATALOGUE}
    assert missing == {}, "add these to entryfy/problem_types.py"


def test_catalogue_entries_are_complete():
    for slug, p in CATALOGUE.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), slug
        assert 400 <= p.status <= 599, slug
        assert p.title.strip() and p.action.strip(), slug


def test_catalogue_is_served_as_json(client):
    r = client.get("/api/v1/problems")
    assert r.status_code == 200
    items = {i["slug"]: i for i in r.get_json()["items"]}
    assert set(items) == set(CATALOGUE)
    assert items["csrf-failed"] == {
        "slug": "csrf-failed", "type": "/api/v1/problems/csrf-failed", "status": 403,
        "title": "Missing or wrong CSRF token", "action": CATALOGUE["csrf-failed"].action,
    }


def test_a_problem_type_leads_to_its_entry(client):
    r = client.get("/api/v1/customers/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 401
    url = r.get_json()["type"]
    assert url == "/api/v1/problems/unauthorized"
    entry = client.get(url)
    assert (entry.status_code, entry.get_json()["title"]) == (200, "Not signed in")
    browser = client.get(url, headers={"Accept": "text/html"})
    assert (browser.status_code, browser.headers["Location"]) == (
        303, "/api/v1/problems#unauthorized")
    page = client.get("/api/v1/problems", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'id="unauthorized"' in page.get_data(as_text=True)
    missing = client.get("/api/v1/problems/no-such-thing")
    assert missing.status_code == 404
