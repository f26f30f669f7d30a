"""gunicorn sends no Server header once gunicorn.conf.py calls hide_gunicorn_banner()."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_header(tmp_path: Path, conf: str) -> str | None:
    pytest.importorskip("gunicorn")
    (tmp_path / "tinyapp.py").write_text(APP)
    (tmp_path / "gunicorn.conf.py").write_text(conf)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(tmp_path / "gunicorn.conf.py"),
         "-b", f"127.0.0.1:{port}", "-w", "1", "tinyapp:app"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    return r.headers.get("Server")
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_gunicorn_names_itself_without_the_hook(tmp_path):
    assert _server_header(tmp_path, "") == "gunicorn"


def test_gunicorn_sends_no_server_header_with_the_hook(tmp_path):
    conf = ("from entryfy.server_banner import hide_gunicorn_banner\n"
            "assert hide_gunicorn_banner()\n")
    assert _server_header(tmp_path, conf) is None
