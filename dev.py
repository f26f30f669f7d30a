#!/usr/bin/env python3
"""The two commands of the README, for a fresh machine with only Python 3.11+.

    python3 dev.py serve [--port N] [--host H]   # venv + install, migrate the SQLite
                                                # database, demo data, serve (127.0.0.1:8000)
    python3 dev.py test [PYTEST ARGS]            # venv + install, ruff, mypy and the tests
    python3 dev.py mutate [MODULE]               # venv + install, mutation testing (mutmut)
                                                # of one rule module, or all of them

``test`` runs every database test on SQLite, and on PostgreSQL as well when
ENTRYFY_TEST_PG_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
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
        print("installing Entryfy and its dependencies into .venv (about a minute) ...",
              flush=True)
        log = VENV / "install.log"
        with log.open("w") as out:
            # pip's and setuptools' chatter goes to the log; shown only if the install fails.
            for args in (("install", "--quiet", "--upgrade", "pip"),
                         ("install", "--quiet", "-e", ".[dev]")):
                result = subprocess.run(  # noqa: S603
                    [str(PY), "-m", "pip", *args, "--disable-pip-version-check"], cwd=ROOT,
                    stdout=out, stderr=subprocess.STDOUT, check=False)
                if result.returncode:
                    sys.stdout.write(log.read_text())
                    sys.exit(f"installing failed (log: {log})")
        stamp.write_text(digest)


def serve(host: str, port: int) -> None:
    ensure_venv()
    env = {**os.environ}
    env.setdefault("ENTRYFY_ENV", "development")
    entryfy = BIN / "entryfy"
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    base = f"http://{shown}:{port}"
    _run(entryfy, "db", "upgrade", env={**env, "LOG_LEVEL": "WARNING"})
    _run(entryfy, "demo", "--base-url", base, env=env)
    print(f"\nserving on {base}  (start page: {base}/, API docs: {base}/api/v1/docs)",
          flush=True)
    _run(entryfy, "run", "--host", host, "--port", str(port), env=env)


def test(extra: list[str]) -> None:
    ensure_venv()
    env = {**os.environ}
    if not env.get("ENTRYFY_TEST_PG_URL"):
        print("note: ENTRYFY_TEST_PG_URL is not set; PostgreSQL tests will be skipped.",
              flush=True)
    _run(PY, "-m", "ruff", "check", ".", env=env)
    chosen = any(a in ("-m", "-k") or a.startswith(("tests", "-m=", "-k=")) for a in extra)
    if chosen:
        _run(PY, "-m", "pytest", *extra, env=env)
        return
    # The whole suite: the types first (the files and settings are pyproject.toml's [tool.mypy]).
    _run(PY, "-m", "mypy", env=env)
    # The fault suite stops and starts servers and swaps the throttling store under a
    # process-wide limiter: it runs in a process of its own, after the rest.
    _run(PY, "-m", "pytest", "-m", "not faults", *extra, env=env)
    _run(PY, "-m", "pytest", "-m", "faults", *extra, env=env)


def mutate(extra: list[str]) -> None:
    """mutmut on the rule modules, each against its own tests, on SQLite (tests/mutation)."""
    ensure_venv()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # The score is SQLite's: a PostgreSQL run per mutant would only make it slower.
    env.pop("ENTRYFY_TEST_PG_URL", None)
    _run(PY, ROOT / "tests" / "mutation" / "run.py", *extra, env=env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="dev.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="cmd", metavar="{serve,test,mutate}")
    p_serve = commands.add_parser("serve", help="set up, migrate, seed the demo, serve")
    p_serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p_serve.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default 127.0.0.1)")
    commands.add_parser("test", help="ruff, mypy and pytest; further arguments go to pytest",
                        add_help=False)
    commands.add_parser("mutate", help="mutation testing of the rule modules (mutmut); "
                        "further arguments: [MODULE] [--max-children N]", add_help=False)
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "test":  # everything after `test` is pytest's, --help included
        test(argv[1:])
        return
    if argv and argv[0] == "mutate":  # the rest, --help included, is tests/mutation/run.py's
        mutate(argv[1:])
        return
    args = parser.parse_args(argv or ["serve"])
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
