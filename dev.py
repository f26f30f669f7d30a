#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine with only Python 3.11+.

    python3 dev.py serve   # venv + install, migrate the SQLite database, demo data, serve :8000
    python3 dev.py test    # venv + install, the whole test suite (pytest)

``test`` runs every database test on SQLite, and on PostgreSQL as well when
ENTRYFY_TEST_PG_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _run(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)  # noqa: S603
    if result.returncode:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (run by any python3, before the venv)
        sys.exit("Entryfy needs Python 3.11 or newer.")
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("installing Entryfy and its dependencies into .venv ...", flush=True)
        _run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(PY, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        stamp.write_text(digest)


def serve() -> None:
    ensure_venv()
    env = {**os.environ}
    env.setdefault("ENTRYFY_ENV", "development")
    entryfy = BIN / "entryfy"
    _run(entryfy, "db", "upgrade", env=env)
    _run(entryfy, "demo", env=env)
    print("serving on http://127.0.0.1:8000  (API docs: /api/v1/docs)", flush=True)
    _run(entryfy, "run", "--host", "127.0.0.1", "--port", "8000", env=env)


def test(extra: list[str]) -> None:
    ensure_venv()
    env = {**os.environ}
    if not env.get("ENTRYFY_TEST_PG_URL"):
        print("note: ENTRYFY_TEST_PG_URL is not set; PostgreSQL tests will be skipped.",
              flush=True)
    _run(PY, "-m", "ruff", "check", ".", env=env)
    _run(PY, "-m", "pytest", *extra, env=env)


def main() -> None:
    cmd, *rest = sys.argv[1:] or ["serve"]
    if cmd == "serve":
        serve()
    elif cmd == "test":
        test(rest)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
