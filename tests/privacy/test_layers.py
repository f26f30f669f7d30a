"""privacy/ sits below the operations layer: it never imports entryfy.ops (the retention
executors once reached up there by a string import), nor api/."""

from __future__ import annotations

import ast
from pathlib import Path

PRIVACY = Path(__file__).resolve().parents[2] / "privacy"


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_privacy_imports_nothing_above_it():
    found = {f"{p.name}: {m}" for p in sorted(PRIVACY.glob("*.py")) for m in _imports(p)
             if m.startswith(("entryfy.ops", "api")) or m == "entryfy.ops"}
    assert found == set()
    # And no module list imported by name (importlib) to register anything.
    texts = {p.name: p.read_text("utf-8") for p in PRIVACY.glob("*.py")}
    assert [n for n, t in texts.items() if "import_module(" in t] == []
