"""Benchmark plumbing shared by every bench script (check-in, door opens, ...).

A benchmark here always measures a *ratio*: the Entryfy endpoint against a bare Flask app
that does one INSERT per request (bench/baseline_app.py), both served by the same gunicorn
settings against the same PostgreSQL, in the same run. Absolute numbers depend on the machine;
the ratio says what Entryfy's own layers cost.

Pieces:
* ``scratch_database(server_url)``: a fresh, migrated database and a login role that is
  subject to row-level security (as in production), dropped afterwards;
* ``gunicorn(app_spec, env)``: a real gunicorn on 127.0.0.1, a free port, ready when yielded;
* ``seed_tenant(...)``: a customer, sites, members with device tokens (through the real ops);
* ``run_load(request, clients, seconds)``: N client threads, each with its own keep-alive
  connection, for a bounded time; rate and p50/p99 latency, errors counted by status.

Run a bench as ``python -m bench.checkin`` from the repository root; see its --help.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import functools
import http.client
import json
import operator
import os
import secrets
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import cpu, services

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = os.environ.get("BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/test")
BENCH_LOGIN_ROLE = "entryfy_bench_app"

# The same gunicorn settings for the app under test and for the baseline.
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_THREADS", "4"))


# --------------------------------------------------------------------------- database

@dataclasses.dataclass(frozen=True)
class ScratchDB:
    admin_url: str  # owns the tables (migrations, seeding)
    app_url: str  # the app's login: owns nothing, row-level security applies


@contextlib.contextmanager
def scratch_database(server_url: str = DEFAULT_SERVER_URL, *, migrate: bool = True
                     ) -> Iterator[ScratchDB]:
    """A new database on ``server_url``'s server, migrated, dropped on exit."""
    from entryfy import migrate as migrations
    from entryfy.db import make_engine, normalise_url

    base = make_url(normalise_url(server_url))
    name = f"entryfy_bench_{uuid.uuid4().hex[:8]}"
    server = make_engine(base.render_as_string(hide_password=False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin_url = base.set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            migrations.upgrade(admin_url)
            admin = make_engine(admin_url)
            with admin.begin() as c:
                c.execute(text(
                    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                    f"'{BENCH_LOGIN_ROLE}') THEN CREATE ROLE {BENCH_LOGIN_ROLE} LOGIN "
                    "NOSUPERUSER NOBYPASSRLS; END IF; END $$"
                ))
                c.execute(text(f"GRANT entryfy_app TO {BENCH_LOGIN_ROLE}"))
            admin.dispose()
        app_url = base.set(database=name, username=BENCH_LOGIN_ROLE,
                           password=None).render_as_string(hide_password=False)
        yield ScratchDB(admin_url, app_url if migrate else admin_url)
    finally:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


# ---------------------------------------------------------------------------- servers

def entryfy_env(db_url: str, **extra: str) -> dict[str, str]:
    """Production-like settings for the app under test (fresh secrets, no dev defaults)."""
    return {
        "ENTRYFY_ENV": "production",
        "DATABASE_URL": db_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ENTRYFY_DATA_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], *, ready_path: str = "/",
             workers: int = GUNICORN_WORKERS, threads: int = GUNICORN_THREADS,
             timeout: float = 120.0) -> Iterator[str]:
    """Serve ``app_spec`` (``module:app``) with gunicorn; yields the base URL when it answers.

    Any HTTP answer on ``ready_path`` (even 404) means ready. gthread workers keep client
    connections alive, as a reverse proxy in front of gunicorn would.
    """
    port = services.free_port()
    cmd = [
        sys.executable, "-m", "gunicorn", app_spec,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
        "--keep-alive", "30", "--log-level", "warning",
    ]
    base = f"http://127.0.0.1:{port}"
    with services.serving_http(cmd, {**os.environ, **env}, base + ready_path,
                               what=f"gunicorn {app_spec}", cwd=ROOT, timeout=timeout):
        yield base


# ------------------------------------------------------------------------------ seeding

@dataclasses.dataclass
class SeededPerson:
    account_id: uuid.UUID
    email: str
    token: str  # a device bearer token
    site_ids: list[uuid.UUID]


@dataclasses.dataclass
class SeededTenant:
    customer_id: uuid.UUID
    admin: SeededPerson
    people: list[SeededPerson]


def seed_tenant(db_url: str, *, people: int, sites_per_person: int = 1,
                ledger: bool = True, identity_numbers: bool = True,
                data_key: str, geofence: str = "enforce") -> SeededTenant:
    """One customer with an admin and ``people`` members, each with their own sites and a
    device token, made through the real operations (so tokens and numbers are genuine).
    ``data_key`` must be the server's ENTRYFY_DATA_KEY (identity numbers are encrypted)."""
    import datetime as dt

    from entryfy import security
    from entryfy.db import Database, make_engine
    from entryfy.ops import accounts as account_ops
    from entryfy.ops import identity
    from models import Customer, Membership, Site
    from models.tenancy import SYSTEM

    # Seeding only: the OWASP-minimum argon2 so a few hundred accounts take seconds.
    security.configure(passwords=security.Passwords(1, 8192, 1),
                       keys=security.DataKeys(data_key))
    # The server signs its row-level-security settings with a key derived from data_key;
    # the database must hold it (as `entryfy db upgrade` stores it; models/rls.py).
    from entryfy import migrate

    migrate.store_scope_key(db_url, security.db_scope_key())
    db = Database(make_engine(db_url))
    run = uuid.uuid4().hex[:6]
    with db.transaction(SYSTEM) as s:
        customer = Customer(name=f"Bench {run} AB", org_nr=f"55{secrets.randbelow(10**8):08d}")
        s.add(customer)
        s.flush()

        def person(i: int, role: str) -> SeededPerson:
            email = f"bench-{run}-{i}@example.test"
            acc = account_ops.register(s, email=email, password=secrets.token_urlsafe(16),
                                       first_name=f"Bench{i}", last_name="Person")
            if identity_numbers:
                identity.set_identity_number(s, acc, _personnummer(i))
            s.add(Membership(customer_id=customer.id, account_id=acc.id, role=role,
                             employer_name="Bench Sub AB", employer_org_nr="559012-3450"))
            device, _ = account_ops.register_device(s, acc, device_id=f"bench-device-{i}")
            issued = account_ops.issue_device_token(s, acc, device,
                                                    lifetime=dt.timedelta(days=1))
            site_ids = []
            for _ in range(sites_per_person if role != "admin" else 0):
                site = Site(customer_id=customer.id, name=f"Site {i}", latitude=59.33,
                            longitude=18.06, radius_m=200, geofence=geofence,
                            ledger_id=f"BENCH-{run}-{i}" if ledger else None)
                s.add(site)
                s.flush()
                site_ids.append(site.id)
            return SeededPerson(acc.id, email, issued.secret, site_ids)

        admin = person(0, "admin")
        members = [person(i, "member") for i in range(1, people + 1)]
        tenant = SeededTenant(customer.id, admin, members)
    db.engine.dispose()
    return tenant


def _personnummer(i: int) -> str:
    body = f"850101{i % 1000:03d}"
    total = 0
    for n, ch in enumerate(body):
        v = int(ch) * (2 if n % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return f"19{body[:6]}-{body[6:]}{(10 - total % 10) % 10}"


# ------------------------------------------------------------------------------- load

@dataclasses.dataclass
class LoadResult:
    name: str
    seconds: float
    latencies_ms: list[float]
    statuses: collections.Counter[int]
    errors: collections.Counter[str]
    # CPU used over the counted window by the load generator, PostgreSQL and the rest
    # (bench/cpu.py); None where /proc is not there.
    cpu: cpu.Sample | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]

    @property
    def failures(self) -> int:
        return sum(self.errors.values())

    def line(self) -> str:
        return (f"{self.name:<22} {self.rate:8.1f}/s  p50 {self.pct(50):7.2f} ms  "
                f"p99 {self.pct(99):7.2f} ms  ok {self.ok:6d}  errors {self.failures}"
                + (f" {dict(self.errors)}" if self.errors else ""))

    def cpu_line(self) -> str | None:
        """Where this load's CPU went, per request (``cpu <name>: ...``)."""
        return self.cpu.line(self.name, self.ok) if self.cpu is not None else None


def print_results(results: list[LoadResult]) -> None:
    """Each result's line, then each one's CPU line (bench.report reads both back)."""
    for r in results:
        print(r.line())
    for r in results:
        if (line := r.cpu_line()) is not None:
            print(line)


# ``request(client_index, iteration) -> (method, path, body-or-None, headers, expected)``
RequestFn = Callable[[int, int], tuple[str, str, Any, dict[str, str], tuple[int, ...]]]


def run_load(name: str, base_url: str, request: RequestFn, *, clients: int,
             seconds: float, warmup: float = 1.0) -> LoadResult:
    """``clients`` threads, each with one keep-alive connection, for ``seconds`` (after a
    ``warmup`` that is not counted). A response with a status outside the request's expected
    ones, or a connection error, counts as an error, with its reason."""
    url = urllib.parse.urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    start_barrier = threading.Barrier(clients + 1)
    t_start = t_stop = 0.0

    def client(idx: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        mine: list[float] = []
        my_status: collections.Counter[int] = collections.Counter()
        my_err: collections.Counter[str] = collections.Counter()
        start_barrier.wait()
        i = 0
        while True:
            now = time.perf_counter()
            if now >= t_stop:
                break
            try:
                method, path, body, headers, expected = request(idx, i)
            except Exception as exc:  # the bench's own failure: an error, never a lost thread
                my_err[f"bench: {exc}"] += 1
                break
            i += 1
            data = json.dumps(body).encode() if body is not None else None
            hdrs = {"Content-Type": "application/json", **headers} if data else headers
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                my_err[type(exc).__name__] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
                continue
            dt_ms = (time.perf_counter() - t0) * 1000
            if t0 < t_start:
                continue  # warm-up
            my_status[status] += 1
            if status in expected:
                mine.append(dt_ms)
            else:
                my_err[f"HTTP {status}"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            statuses.update(my_status)
            errors.update(my_err)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    t_start = time.perf_counter() + warmup
    t_stop = t_start + seconds
    start_barrier.wait()
    time.sleep(max(t_start - time.perf_counter(), 0.0))
    before = cpu.sample()
    time.sleep(max(t_stop - time.perf_counter(), 0.0))
    after = cpu.sample()
    for t in threads:
        t.join()
    used = after - before if after is not None and before is not None else None
    return LoadResult(name, seconds, sorted(latencies), statuses, errors, used)


def combine(results: list[LoadResult]) -> LoadResult:
    """Several rounds of the same load as one result (rounds alternate with the baseline's,
    so a burst of load from elsewhere on the machine hits both sides alike)."""
    statuses: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for r in results:
        statuses.update(r.statuses)
        errors.update(r.errors)
    samples = [r.cpu for r in results if r.cpu is not None]
    used = None
    if samples and len(samples) == len(results):  # every round sampled
        used = functools.reduce(operator.add, samples)
    return LoadResult(results[0].name, sum(r.seconds for r in results),
                      sorted(x for r in results for x in r.latencies_ms), statuses, errors,
                      used)


def ratio_line(subject: LoadResult, baseline: LoadResult) -> str:
    r = subject.rate / baseline.rate if baseline.rate else float("nan")
    return f"ratio {subject.name} / {baseline.name}: {r:.2f}"
