"""Data at size: generate 1,000 customers, 100,000 people and 10,000,000 entries with COPY,
then measure the admin lists, a site-year ledger export and retention at that size.

    python -m bench.data_at_size [--entries 10000000] [--events 2000000] [--keep]
    python -m bench.data_at_size --reuse entryfy_size_ab12cd34     # measure a kept database
    python -m bench.data_at_size --drop entryfy_size_ab12cd34      # drop a kept database

It CREATES A SCRATCH DATABASE ``entryfy_size_<random>`` on ``--server-url`` (migrated, with a
login role subject to row-level security) and drops it at the end unless ``--keep``. Rows go
in with psycopg 3's COPY (text format, generated in Python in chunks, so memory stays flat).

The shape: one large customer (10% of the people and of the entries, a fifth of its entries
at one busy site) and the rest spread evenly; one door per site and one controller per
customer; entries from 2023-01-01 until now (so 2023's are past the personnel ledger's two
years after the end of the year), access events over the last year (the access log keeps
90 days).

Measured (in process, through the Flask app as the login role, so row-level security, the
audit rows of admin reads and the JSON serialisation are all in):

* GET /customers/{id}/entries and /access-events: the first page, every later page by the
  API's cursor (keyset), filtered by site, and a page a year back: p50/p99 of each;
* the busy site's ledger for one year as CSV, streamed: rows, seconds, Python memory peak
  (tracemalloc) and the process's RSS growth;
* retention (privacy.retention, personnel_ledger and access_log) over the expired part:
  rows deleted, seconds, rows/s, the longest batch.

Prints one table; exits 1 when a list p99 is 100 ms or more or a request fails.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import gc
import os
import random
import resource
import secrets
import statistics
import sys
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import BENCH_LOGIN_ROLE

SERVER_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
CHUNK = 200_000
P99_LIMIT_MS = 100.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- database

def _server(server_url: str):
    from entryfy.db import make_engine, normalise_url

    return make_url(normalise_url(server_url)), make_engine(normalise_url(server_url))


def create_database(server_url: str) -> tuple[str, str, str]:
    """A new migrated database; returns (name, admin URL, app login URL)."""
    from entryfy import migrate

    base, server = _server(server_url)
    name = f"entryfy_size_{uuid.uuid4().hex[:8]}"
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    log(f"created scratch database {name} (dropped at the end unless --keep)")
    admin_url = base.set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(admin_url)
    _grant_login(admin_url)
    return name, admin_url, _app_url(base, name)


def _grant_login(admin_url: str) -> None:
    from entryfy.db import make_engine

    admin = make_engine(admin_url)
    with admin.begin() as c:
        c.execute(text(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
            f"'{BENCH_LOGIN_ROLE}') THEN CREATE ROLE {BENCH_LOGIN_ROLE} LOGIN "
            "NOSUPERUSER NOBYPASSRLS; END IF; END $$"))
        c.execute(text(f"GRANT entryfy_app TO {BENCH_LOGIN_ROLE}"))
    admin.dispose()


def _app_url(base, name: str) -> str:
    return base.set(database=name, username=BENCH_LOGIN_ROLE,
                    password=None).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    if not name.startswith("entryfy_size_"):
        raise SystemExit(f"refusing to drop {name!r}: not a database this script made")
    _, server = _server(server_url)
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()
    log(f"dropped {name}")


# ------------------------------------------------------------------------- generation

def _ids(n: int) -> list[str]:
    """``n`` random version-4 UUIDs as text (what uuid4() gives, ~10x faster in bulk)."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80
        h = raw[i:i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


class Shape:
    """Who belongs where: customers, their people (account, membership) and sites."""

    def __init__(self, customers: int, people: int, entries: int) -> None:
        self.customers = _ids(customers)
        big_people = people // 10
        rest = people - big_people
        self.people: list[list[tuple[str, str]]] = []
        self.sites: list[list[str]] = []
        accounts, memberships = _ids(people), _ids(people)
        k = 0
        for c in range(customers):
            n = big_people if c == 0 else rest // (customers - 1) + (
                1 if c - 1 < rest % (customers - 1) else 0)
            self.people.append(list(zip(accounts[k:k + n], memberships[k:k + n], strict=True)))
            k += n
            self.sites.append(_ids(100 if c == 0 else 10))
        self.controllers = _ids(customers)
        self.doors = [_ids(len(s)) for s in self.sites]
        self.entries = entries
        # The hours since START up to now, as text: formatting a time per row is the
        # slowest part of generating, so rows pick an hour and add minutes and seconds.
        now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        hours = int((now - START).total_seconds() // 3600)
        self.hour_text = [(START + dt.timedelta(hours=h)).strftime("%Y-%m-%d %H")
                          for h in range(hours + 9)]
        self.hours = hours

    def customer_for_row(self, rnd: random.Random) -> int:
        # 10% of the rows for the large customer, the rest evenly.
        return 0 if rnd.random() < 0.1 else rnd.randrange(1, len(self.customers))


def _copy(cur, table: str, columns: str, rows: Iterator[str]) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buf: list[str] = []
        for row in rows:
            buf.append(row)
            n += 1
            if len(buf) >= 10_000:
                copy.write("".join(buf))
                buf.clear()
        if buf:
            copy.write("".join(buf))
    return n


@contextlib.contextmanager
def bulk_load(cur, table: str) -> Iterator[None]:
    """The usual bulk-load recipe around one COPY: the table's secondary indexes dropped and
    built again afterwards (one sort each instead of 10M random inserts), and the foreign-key
    triggers off for this session only (``session_replication_role = replica``; the rows
    come from the parents just written, so they hold by construction)."""
    cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname"
                " NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
                (table, table))
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    cur.execute("SET session_replication_role = replica")
    yield
    cur.execute("SET session_replication_role = DEFAULT")
    cur.execute("SET maintenance_work_mem = '256MB'")
    for _, definition in indexes:
        cur.execute(definition)


def generate(admin_url: str, shape: Shape, events: int, seed: int = 19) -> dict[str, float]:
    import psycopg

    rnd = random.Random(seed)
    timings: dict[str, float] = {}
    conninfo = make_url(admin_url).set(drivername="postgresql").render_as_string(
        hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        t = time.perf_counter()
        _copy(cur, "customers", "id, name, org_nr, status, created_at", (
            f"{cid}\tSize {i} AB\t55{i:04d}-{i % 10000:04d}\tactive\t2022-12-01 00:00:00+00\n"
            for i, cid in enumerate(shape.customers)))
        _copy(cur, "accounts", "id, email, first_name, last_name, is_active, created_at", (
            f"{acc}\tsize-{c}-{i}@example.test\tFirst{i}\tLast{c}\tt\t2022-12-01 00:00:00+00\n"
            for c, people in enumerate(shape.people) for i, (acc, _) in enumerate(people)))
        _copy(cur, "memberships", "id, customer_id, account_id, role, active, employer_name,"
              " employer_org_nr, created_at", (
                  f"{mem}\t{shape.customers[c]}\t{acc}\tmember\tt\tSub {i % 50} AB\t"
                  f"559012-{i % 10000:04d}\t2022-12-01 00:00:00+00\n"
                  for c, people in enumerate(shape.people) for i, (acc, mem) in
                  enumerate(people)))
        _copy(cur, "sites", "id, customer_id, name, latitude, longitude, radius_m, geofence,"
              " timezone, store_coarse_position, ledger_id, created_at", (
                  f"{sid}\t{shape.customers[c]}\tSite {c}-{i}\t59.33\t18.06\t200\tenforce\t"
                  f"Europe/Stockholm\tf\tSIZE-{c}-{i}\t2022-12-01 00:00:00+00\n"
                  for c, sites in enumerate(shape.sites) for i, sid in enumerate(sites)))
        _copy(cur, "controllers", "id, customer_id, name, key_hash, list_version, created_at", (
            f"{ctl}\t{shape.customers[c]}\tController {c}\t{secrets.token_hex(32)}\t0\t"
            "2022-12-01 00:00:00+00\n" for c, ctl in enumerate(shape.controllers)))
        _copy(cur, "doors", "id, customer_id, site_id, name, site_entrance, entry_code,"
              " exit_code, controller_id, created_at", (
                  f"{door}\t{shape.customers[c]}\t{shape.sites[c][i]}\tGate {i}\tt\t"
                  f"{secrets.token_hex(16)}\t{secrets.token_hex(16)}\t{shape.controllers[c]}\t"
                  "2022-12-01 00:00:00+00\n"
                  for c, doors in enumerate(shape.doors) for i, door in enumerate(doors)))
        conn.commit()
        timings["reference rows"] = time.perf_counter() - t

        def entry_rows() -> Iterator[str]:
            hours, hour_text = shape.hours, shape.hour_text
            done = 0
            while done < shape.entries:
                n = min(CHUNK, shape.entries - done)
                for eid in _ids(n):
                    c = shape.customer_for_row(rnd)
                    people, sites = shape.people[c], shape.sites[c]
                    acc, mem = people[rnd.randrange(len(people))]
                    # The large customer's first site is its busy one: a fifth of its rows.
                    site = sites[0] if c == 0 and rnd.random() < 0.2 else \
                        sites[rnd.randrange(len(sites))]
                    h = rnd.randrange(hours)
                    ms = rnd.randrange(3600)
                    tail = f":{ms // 60:02d}:{ms % 60:02d}+00"
                    tin = hour_text[h] + tail
                    yield (f"{eid}\t{shape.customers[c]}\t{site}\t{acc}\t{mem}\tSub AB\t"
                           f"559012-3450\t{tin}\t{hour_text[h + 8]}{tail}\tapp\tf\t{tin}\n")
                done += n
                log(f"  entries {done:,}/{shape.entries:,} "
                    f"({time.perf_counter() - t:.0f} s)")

        t = time.perf_counter()
        with bulk_load(cur, "entries"):
                _copy(cur, "entries", "id, customer_id, site_id, account_id, membership_id,"
                  " employer_name, employer_org_nr, checked_in_at, checked_out_at, source,"
                  " restricted, created_at", entry_rows())
        conn.commit()
        timings["entries"] = time.perf_counter() - t

        def event_rows() -> Iterator[str]:
            first = max(0, shape.hours - 365 * 24)
            done = 0
            while done < events:
                n = min(CHUNK, events - done)
                for eid in _ids(n):
                    c = shape.customer_for_row(rnd)
                    people, doors = shape.people[c], shape.doors[c]
                    acc, mem = people[rnd.randrange(len(people))]
                    h = rnd.randrange(first, shape.hours)
                    ms = rnd.randrange(3600)
                    at = f"{shape.hour_text[h]}:{ms // 60:02d}:{ms % 60:02d}+00"
                    granted = rnd.random() < 0.97
                    yield (f"{eid}\t{shape.customers[c]}\t{doors[rnd.randrange(len(doors))]}\t"
                           f"{acc}\t{mem}\t{at}\t{'granted' if granted else 'denied'}\t"
                           f"{'' if granted else 'no_access'}\tcontroller\tin\t"
                           f"{shape.controllers[c]}\t{at}\n")
                done += n
                log(f"  access events {done:,}/{events:,} ({time.perf_counter() - t:.0f} s)")

        t = time.perf_counter()
        with bulk_load(cur, "access_events"):
            _copy(cur, "access_events", "id, customer_id, door_id, account_id, membership_id,"
                  " occurred_at, outcome, reason, source, direction, controller_id,"
                  " recorded_at", event_rows())
        conn.commit()
        timings["access events"] = time.perf_counter() - t
    t = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timings["vacuum analyze"] = time.perf_counter() - t
    timings["checkpoint and sync"] = settle(conninfo)
    return timings


def settle(conninfo: str) -> float:
    """Write the load out before anything is timed: a CHECKPOINT, then the operating
    system's dirty pages (os.sync, when PostgreSQL runs on this machine). Without it the
    gigabytes the load and VACUUM left dirty were still being written back while the lists
    ran, and the COMMIT of an admin read (its audit row) waited behind them for the disk:
    130-280 ms in PostgreSQL's log, one or two lists per run over 100 ms at p99. Seconds."""
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:  # needs pg_checkpoint or a superuser
            log("CHECKPOINT refused for this role: the load is written back as it goes")
    os.sync()
    return time.perf_counter() - t


# ------------------------------------------------------------------------- measuring

def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


class Measure:
    def __init__(self, admin_url: str, app_url: str) -> None:
        self.admin_url, self.app_url = admin_url, app_url
        self.data_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.rows: list[tuple[str, str, str, str]] = []
        self.failed = False

    def admin_token(self, customer_id: uuid.UUID) -> str:
        """An admin of ``customer_id`` with a device token, through the real operations."""
        from entryfy import migrate, security
        from entryfy.db import Database, make_engine
        from entryfy.ops import accounts as account_ops
        from models import Membership
        from models.tenancy import SYSTEM

        security.configure(passwords=security.Passwords(1, 8192, 1),
                           keys=security.DataKeys(self.data_key))
        migrate.store_scope_key(self.admin_url, security.db_scope_key())
        db = Database(make_engine(self.admin_url))
        with db.transaction(SYSTEM) as s:
            acc = account_ops.register(s, email=f"size-admin-{uuid.uuid4().hex[:8]}@example.test",
                                       password=secrets.token_urlsafe(16), first_name="Size",
                                       last_name="Admin")
            s.add(Membership(customer_id=customer_id, account_id=acc.id, role="admin"))
            device, _ = account_ops.register_device(s, acc, device_id=uuid.uuid4().hex)
            token = account_ops.issue_device_token(s, acc, device,
                                                   lifetime=dt.timedelta(days=1)).secret
        db.engine.dispose()
        return token

    def app(self):
        from entryfy import create_app
        from entryfy.app import freeze_startup_heap

        os.environ.setdefault("LOG_LEVEL", "WARNING")
        app = create_app({"DATABASE_URL": self.app_url, "SECRET_KEY": secrets.token_urlsafe(32),
                          "ENTRYFY_DATA_KEY": self.data_key, "RATELIMIT_ENABLED": False})
        # As wsgi.py does for every serving process. Without it a full collection walked the
        # app's objects (and, in this process, what the generator left alive) in the middle
        # of a timed request: 138 ms, timed by a gc callback, one request in about a
        # thousand, enough to put a list's p99 over 100 ms.
        freeze_startup_heap()
        return app

    def timed(self, client, label: str, n: int,
              path_for: Callable[[int, str | None], str], headers: dict[str, str],
              follow: bool) -> None:
        """``n`` requests; with ``follow`` each takes the previous page's next_cursor."""
        times: list[float] = []
        cursor: str | None = None
        for i in range(n + 3):
            t = time.perf_counter()
            r = client.get(path_for(i, cursor), headers=headers)
            ms = (time.perf_counter() - t) * 1000
            if r.status_code != 200:
                log(f"{label}: HTTP {r.status_code} {r.get_data(as_text=True)[:300]}")
                self.failed = True
                return
            if i >= 3:  # the first requests warm caches and the app
                times.append(ms)
            cursor = r.get_json()["next_cursor"] if follow else None
        p99 = _pct(times, 99)
        self.failed |= p99 >= P99_LIMIT_MS
        self.rows.append((label, f"{_pct(times, 50):.1f} ms", f"{p99:.1f} ms",
                          f"{n} requests" + ("" if p99 < P99_LIMIT_MS else "  OVER 100 ms")))

    def lists(self, customer_ids: list[uuid.UUID], busy_site: uuid.UUID, door: uuid.UUID,
              n: int) -> None:
        app = self.app()
        client = app.test_client()
        year_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=365)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        for k, cid in enumerate(customer_ids):
            who = "large customer" if k == 0 else "typical customer"
            h = {"Authorization": f"Bearer {self.admin_token(cid)}"}
            base = f"/api/v1/customers/{cid}"

            def page(path: str, extra: str = ""):
                return lambda i, cur: f"{path}?limit=50{extra}" + (f"&cursor={cur}" if cur
                                                                    else "")

            self.timed(client, f"entries, first page ({who})", n,
                       page(f"{base}/entries"), h, follow=False)
            self.timed(client, f"entries, next pages by cursor ({who})", n,
                       page(f"{base}/entries"), h, follow=True)
            self.timed(client, f"entries, a year back ({who})", n,
                       page(f"{base}/entries", f"&to={year_ago}"), h, follow=True)
            if k == 0:
                self.timed(client, "entries of the busy site, by cursor (large)", n,
                           page(f"{base}/entries", f"&site_id={busy_site}"), h, follow=True)
            self.timed(client, f"access events, first page ({who})", n,
                       page(f"{base}/access-events"), h, follow=False)
            self.timed(client, f"access events, next pages by cursor ({who})", n,
                       page(f"{base}/access-events"), h, follow=True)
            if k == 0:
                self.timed(client, "access events of one door, by cursor (large)", n,
                           page(f"{base}/access-events", f"&door_id={door}"), h, follow=True)
        app.extensions["entryfy.db"].engine.dispose()

    def ledger(self, customer_id: uuid.UUID, site_id: uuid.UUID, year: int) -> None:
        app = self.app()
        client = app.test_client()
        h = {"Authorization": f"Bearer {self.admin_token(customer_id)}"}
        path = (f"/api/v1/customers/{customer_id}/sites/{site_id}/ledger"
                f"?from={year}-01-01&to={year}-12-31&format=csv")
        gc.collect()
        rss0 = _rss_mib()
        tracemalloc.start()
        t = time.perf_counter()
        r = client.get(path, headers=h, buffered=False)
        lines = size = 0
        for chunk in r.response:
            lines += chunk.count(b"\n") if isinstance(chunk, bytes) else chunk.count("\n")
            size += len(chunk)
        r.close()
        seconds = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = _rss_mib() - rss0
        if r.status_code != 200:
            self.failed = True
        self.rows.append((f"ledger CSV, busy site, {year}", f"{seconds:.1f} s",
                          f"{lines - 1:,} rows, {size / 2**20:.1f} MiB",
                          f"Python peak {peak / 2**20:.1f} MiB, RSS +{rss:.0f} MiB"))
        app.extensions["entryfy.db"].engine.dispose()

    def retention(self) -> None:
        from entryfy.db import Database, make_engine
        from privacy import retention

        db = Database(make_engine(self.admin_url))
        for name in ("personnel_ledger", "access_log"):
            t = time.perf_counter()
            report = retention.run(db, only=[name], host="bench")
            seconds = time.perf_counter() - t
            rule = report.rules[0]
            n = report.total()
            self.rows.append((f"retention {name}", f"{seconds:.1f} s",
                              f"{n:,} rows, {n / seconds:,.0f}/s",
                              f"{rule.batches} batches, longest {rule.longest_batch_s:.3f} s"))
        db.engine.dispose()


def _rss_mib() -> float:
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _counts(admin_url: str) -> dict[str, int]:
    from entryfy.db import make_engine

    engine = make_engine(admin_url)
    with engine.connect() as c:
        out = {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
               for t in ("customers", "accounts", "sites", "entries", "access_events")}
    engine.dispose()
    return out


def _pick(admin_url: str) -> tuple[list[uuid.UUID], uuid.UUID, uuid.UUID, int]:
    """The large customer, a typical one, the busy site, a door, last year."""
    from entryfy.db import make_engine

    engine = make_engine(admin_url)
    with engine.connect() as c:
        big, site = c.execute(text(
            "SELECT customer_id, site_id FROM entries GROUP BY customer_id, site_id"
            " ORDER BY count(*) DESC LIMIT 1")).one()
        typical = c.execute(text(
            "SELECT id FROM customers WHERE id <> :b AND name LIKE 'Size %'"
            " ORDER BY name LIMIT 1"), {"b": big}).scalar_one()
        door = c.execute(text("SELECT door_id FROM access_events WHERE customer_id = :b"
                              " GROUP BY door_id ORDER BY count(*) DESC LIMIT 1"),
                         {"b": big}).scalar_one()
    engine.dispose()
    return [big, typical], site, door, dt.datetime.now(dt.UTC).year - 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--entries", type=int, default=10_000_000)
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--requests", type=int, default=100, help="per list measured")
    p.add_argument("--server-url", default=SERVER_URL)
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
    p.add_argument("--reuse", metavar="NAME", help="measure a kept database again")
    p.add_argument("--drop", metavar="NAME", help="drop a kept database and exit")
    p.add_argument("--no-retention", action="store_true",
                   help="skip the retention run (it deletes the expired part)")
    args = p.parse_args(argv)
    if args.drop:
        drop_database(args.server_url, args.drop)
        return 0
    table: list[tuple[str, str, str, str]] = []
    if args.reuse:
        base, _ = _server(args.server_url)
        name = args.reuse
        admin_url = base.set(database=name).render_as_string(hide_password=False)
        app_url = _app_url(base, name)
    else:
        name, admin_url, app_url = create_database(args.server_url)
    try:
        if not args.reuse:
            t = time.perf_counter()
            shape = Shape(args.customers, args.people, args.entries)
            timings = generate(admin_url, shape, args.events)
            total = time.perf_counter() - t
            for what, s in timings.items():
                table.append((f"generate: {what}", f"{s:.0f} s", "", ""))
            table.append(("generate: total (COPY)", f"{total:.0f} s",
                          f"{args.entries / timings['entries']:,.0f} entries/s", ""))
        counts = _counts(admin_url)
        table.append(("rows", "", ", ".join(f"{k} {v:,}" for k, v in counts.items()), ""))
        customers, busy_site, door, year = _pick(admin_url)
        m = Measure(admin_url, app_url)
        m.lists(customers, busy_site, door, args.requests)
        m.ledger(customers[0], busy_site, year)
        if not args.no_retention:
            m.retention()
        table += m.rows
        w = max(len(r[0]) for r in table)
        print(f"\ndatabase {name}: {counts['entries']:,} entries, {counts['customers']:,} "
              f"customers, {counts['accounts']:,} accounts")
        for row in table:
            print(f"{row[0]:<{w}}  {row[1]:>10}  {row[2]:<28}  {row[3]}".rstrip())
        return 1 if m.failed else 0
    finally:
        if not args.keep and not args.reuse:
            drop_database(args.server_url, name)
        elif args.keep:
            log(f"kept {name}: --reuse {name} to measure again, --drop {name} to drop it")


if __name__ == "__main__":
    sys.exit(main())
