"""The shipped production server (``gunicorn -c gunicorn.conf.py wsgi:app``, a real
subprocess): clients that trickle a header byte a second block nobody; SQLite, the default,
holds concurrent writers from several worker processes and a CLI job beside them."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

from tests import factories
from tests.faults.conftest import APP_CONFIG, FAST_HASH, seed
from tests.faults.kit import ROOT, Tally, gunicorn, hammer, http

# Only to measure other server commands (the old README's was "-w 4"); the suite runs the
# shipped configuration.
ARGS = shlex.split(os.environ.get("FAULTS_GUNICORN_ARGS", "")) or None


def _env(url: str, workers: int) -> dict[str, str]:
    return {"DATABASE_URL": url, "ENTRYFY_ENV": "production", "WEB_CONCURRENCY": str(workers),
            "SECRET_KEY": APP_CONFIG["SECRET_KEY"],
            "ENTRYFY_DATA_KEY": APP_CONFIG["ENTRYFY_DATA_KEY"], "SESSION_COOKIE_SECURE": "0",
            "LOGIN_FAILURE_LIMIT_IP": "100000 per minute", "ENTRYFY_GRACEFUL_TIMEOUT": "5",
            "ENTRYFY_WITNESS_URL": APP_CONFIG["WITNESS_URL"],
            **FAST_HASH}


def test_slow_clients_block_no_one(sqlite_url, tmp_path):
    log = tmp_path / "gunicorn.log"
    with gunicorn(_env(sqlite_url, 2), ARGS, log) as port:
        stop = threading.Event()

        def trickle() -> None:
            with socket.create_connection(("127.0.0.1", port)) as s:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: slow.example\r\nX-Pad: " + b"a" * 100:
                    if stop.is_set():
                        return
                    try:
                        s.send(bytes([byte]))
                    except OSError:
                        return
                    time.sleep(1.0)

        slow = [threading.Thread(target=trickle, daemon=True) for _ in range(4)]
        for t in slow:
            t.start()
        time.sleep(1.5)
        tally, waits = Tally(), []
        began = time.monotonic()
        while time.monotonic() - began < 5:
            t0 = time.monotonic()
            try:
                status, headers, _ = http("GET", f"http://127.0.0.1:{port}/readyz", timeout=40)
            except OSError:
                status, headers = 599, None
            waits.append(time.monotonic() - t0)
            tally.add(status, headers, took=waits[-1])
            time.sleep(0.1)
        stop.set()
    tally.summary("slow-clients", slow_connections=4, max_wait_s=round(max(waits), 2))
    assert set(tally.status) == {200}, tally.status
    assert max(waits) < 1.0
    assert headers is None or "Server" not in headers  # no banner


def test_sqlite_holds_concurrent_writers(sqlite_url, tmp_path):
    from entryfy import create_app

    create_app({**APP_CONFIG, "DATABASE_URL": sqlite_url, "OUTBOX_DIR": str(tmp_path)})
    # FAULTS_CHECKIN_THREADS and FAULTS_LOAD_SECONDS scale the load to measure throughput.
    tenant, _ = seed(sqlite_url, workers=int(os.environ.get("FAULTS_CHECKIN_THREADS", "3")))
    env = _env(sqlite_url, 4)
    log = tmp_path / "gunicorn.log"
    seconds = float(os.environ.get("FAULTS_LOAD_SECONDS", "6"))
    with gunicorn(env, ARGS, log) as port:
        base = f"http://127.0.0.1:{port}/api/v1"

        def call(method: str, path: str, body: dict | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
            data = json.dumps(body).encode() if body is not None else None
            status, hdrs, raw = http(method, base + path, data, {
                "Content-Type": "application/json", **(headers or {})})
            return status, hdrs, (json.loads(raw) if raw else {})

        def token(account, device: str) -> dict[str, str]:
            status, _, body = call("POST", "/auth/tokens", {
                "email": account.email, "password": factories.PASSWORD, "device_id": device})
            assert status == 201, body
            return {"Authorization": f"Bearer {body['token']}"}

        people = [tenant.worker, *tenant.extra_workers]
        auths = [token(p, f"device-load-{i:04d}") for i, p in enumerate(people)]
        admin = token(tenant.admin, "device-load-admin")
        site = str(tenant.site.id)
        tally, stop = Tally(), threading.Event()
        sign_ins = iter(range(10**6))

        def work(i: int) -> None:
            if i < len(auths):  # check in and out
                status, hdrs, body = call("POST", "/entries", {
                    "site_id": site, "latitude": 59.33, "longitude": 18.06},
                    {**auths[i], "Idempotency-Key": str(uuid.uuid4())})
                tally.add(status, hdrs, body.get("id") if status == 201 else None)
                if status == 201:
                    status, hdrs, _ = call("POST", f"/entries/{body['id']}/checkout", {},
                                           auths[i])
                    tally.add(status, hdrs)
            elif i == len(auths):  # sign-ins (password hashing)
                status, hdrs, _ = call("POST", "/auth/tokens", {
                    "email": tenant.worker.email, "password": factories.PASSWORD,
                    "device_id": f"device-signin-{next(sign_ins):06d}"})
                tally.add(status, hdrs)
            else:  # admin edits
                status, hdrs, _ = call(
                    "PATCH", f"/customers/{tenant.customer.id}/sites/{site}",
                    {"name": f"Site {uuid.uuid4().hex[:6]}"}, admin)
                tally.add(status, hdrs)

        cli_codes: list[int] = []

        def cli_jobs() -> None:
            while not stop.is_set():
                n = uuid.uuid4().hex[:8]
                r = subprocess.run(
                    [sys.executable, "-m", "entryfy.cli", "customer", "create",
                     "--name", f"Load {n} AB", "--org-nr", factories.org_nr(),
                     "--admin-email", f"admin-{n}@load.test"],
                    cwd=ROOT, env={**os.environ, **env}, capture_output=True, check=False)
                cli_codes.append(r.returncode)

        threads = hammer(len(auths) + 2, work, stop)
        cli = threading.Thread(target=cli_jobs, daemon=True)
        cli.start()
        began = time.monotonic()
        time.sleep(seconds)
        stop.set()
        for t in [*threads, cli]:
            t.join(60)
        took = time.monotonic() - began
    text = log.read_text(errors="replace")
    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as c:
        ids = [uuid.UUID(i).hex for i in tally.acked]
        found = sum(c.execute("SELECT count(*) FROM entries WHERE id = ?", (i,)).fetchone()[0]
                    for i in ids)
    total = sum(tally.status.values())
    tally.summary("sqlite-concurrent", rows_lost=len(ids) - found, cli_jobs=len(cli_codes),
                  cli_failed=sum(1 for c in cli_codes if c), req_per_s=round(total / took, 1),
                  locked_in_log=text.count("database is locked"))
    assert set(tally.status) <= {200, 201}, tally.status
    assert "database is locked" not in text
    assert "Traceback" not in text
    assert len(ids) == found
    assert cli_codes and not any(cli_codes), cli_codes
