"""Imports point one way, down the layers of docs/ARCHITECTURE.md:

    top         wsgi, the app factory, the command line (entryfy.cli), the worker and its
                jobs, the demo, the migrations runner
    views       api/ and the console (entryfy.console)
    web         what the views stand on: entryfy.web (the request's one transaction),
                entryfy.auth (who is signed in), entryfy.extensions (the rate limiter)
    operations  entryfy.ops
    privacy     privacy/
    services    entryfy.db (engines, sessions and transactions, tenant-scoped), entryfy.mail,
                entryfy.outbox
    models      models/
    kernel      entryfy.clock, errors, problem_types, security, config, logs, witness,
                netguard, dbfaults, server_banner: no import of any layer above

A module may import its own layer and any below it, never one above: every ``import`` in a
module counts, at its top, inside a function or under ``TYPE_CHECKING`` alike (a lazy
import hides an arrow, it does not turn it round). Nor may a module name another to import
by a string (importlib), which would hide an arrow from this scan: only api/__init__.py's
list of its own blueprint modules does that.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("entryfy", "api", "models", "privacy")

KERNEL = 0
MODELS = 1
SERVICES = 2
PRIVACY = 3
OPERATIONS = 4
WEB = 5
VIEWS = 6
TOP = 7
NAMES = {KERNEL: "kernel", MODELS: "models", SERVICES: "services", PRIVACY: "privacy",
         OPERATIONS: "operations", WEB: "web", VIEWS: "views", TOP: "top"}

# The most specific prefix wins (entryfy.ops.x is an operation, entryfy.x as listed here).
LAYER_OF_PREFIX = {
    "wsgi": TOP,
    "entryfy": TOP,  # the package itself: create_app
    "entryfy.app": TOP,
    "entryfy.cli": TOP,
    "entryfy.demo": TOP,
    "entryfy.jobs": TOP,
    "entryfy.worker": TOP,
    "entryfy.migrate": TOP,
    "api": VIEWS,
    "entryfy.console": VIEWS,
    "entryfy.web": WEB,
    "entryfy.auth": WEB,
    "entryfy.extensions": WEB,
    "entryfy.ops": OPERATIONS,
    "privacy": PRIVACY,
    "entryfy.db": SERVICES,
    "entryfy.mail": SERVICES,
    "entryfy.outbox": SERVICES,
    "models": MODELS,
    "entryfy.clock": KERNEL,
    "entryfy.errors": KERNEL,
    "entryfy.problem_types": KERNEL,
    "entryfy.security": KERNEL,
    "entryfy.config": KERNEL,
    "entryfy.logs": KERNEL,
    "entryfy.witness": KERNEL,
    "entryfy.netguard": KERNEL,
    "entryfy.dbfaults": KERNEL,
    "entryfy.server_banner": KERNEL,
}
# Modules that import by a string, and why.
STRING_IMPORTS = {"api": "the blueprint modules listed in BLUEPRINT_MODULES, all in api/"}


def modules() -> dict[str, Path]:
    found = {"wsgi": ROOT / "wsgi.py"}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:  # Alembic's scripts: run by the migrations tool
                continue
            name = ".".join(rel.with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYER_OF_PREFIX:
            return LAYER_OF_PREFIX[prefix]
    raise AssertionError(f"{module}: in no layer; add it to LAYER_OF_PREFIX")


def imports(name: str, path: Path, known: set[str]) -> set[tuple[int, str]]:
    """(line, module) for every import of a module of the project, wherever it stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                full = f"{base}.{a.name}"
                out.add((node.lineno, full if full in known else base))
    return {(n, m) for n, m in out if m.split(".")[0] in (*PACKAGES, "wsgi")}


def against_the_direction() -> list[str]:
    mods = modules()
    known = set(mods)
    found = []
    for name, path in mods.items():
        mine = layer(name)
        for line, target in sorted(imports(name, path, known)):
            if layer(target) > mine:
                found.append(f"{path.relative_to(ROOT)}:{line}: {name} ({NAMES[mine]}) "
                             f"imports {target} ({NAMES[layer(target)]})")
    return found


def test_every_module_has_a_layer_and_every_layer_entry_a_module():
    names = set(modules())
    for name in names:
        layer(name)
    stale = {p for p in LAYER_OF_PREFIX
             if not any(n == p or n.startswith(p + ".") for n in names)}
    assert stale == set()


def test_imports_point_down_the_layers():
    assert against_the_direction() == []


def test_no_module_is_imported_by_a_string():
    named = {name for name, path in modules().items()
             if "import_module(" in path.read_text("utf-8")}
    assert named == set(STRING_IMPORTS)


def test_the_scan_sees_lazy_and_type_checking_imports(tmp_path):
    # The scan itself: a function-level import and one under TYPE_CHECKING both count.
    src = tmp_path / "x.py"
    src.write_text("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from api.base import Blueprint\n"
                   "def f():\n    from entryfy.web import db_session\n    import privacy.audit\n")
    known = {"api.base", "entryfy.web", "privacy.audit"}
    assert imports("privacy.x", src, known) == {
        (3, "api.base"), (5, "entryfy.web"), (6, "privacy.audit")}
    assert layer("api.base") > layer("privacy.x") and layer("entryfy.web") > layer("privacy.x")
    assert layer("entryfy.ops.doors.decision") == OPERATIONS
    assert layer("entryfy.cli.staff") == TOP
    assert layer("entryfy.clock") == KERNEL
