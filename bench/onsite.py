"""Who is on site now, at 10,000 people checked in: p50/p99 per backend and format.

    python -m bench.onsite [--backend both|sqlite|postgresql] [--people 10000]
                           [--history 500000] [--sqlite-history 100000] [--requests 200]
                           [--url postgresql://...] [--target-ms 100]

For each backend, a fresh database (a PostgreSQL one on ``--url``'s server, a SQLite file;
dropped afterwards), migrated, seeded with one customer with an admin (a real device token,
through the operations), one site, ``--people`` accounts and memberships each with an open
entry at the site, and past (closed) entries there (a site's history: the list must not get
slower with it). On PostgreSQL the app runs as a login role under row-level security, as in
production. Then, in this process (the app made and its heap frozen as wsgi.py does),
``GET /api/v1/customers/{c}/sites/{s}/on-site`` through the whole app (Flask test client:
sign-in, access check, audit record, every row, commit, the streamed body read to its end),
``--requests`` times as JSON and as ``?format=csv``.

Prints p50/p99/mean in milliseconds, this process's CPU per request (the app's share) and
the SQL statements per request, per backend and format. Each answer must be a 200 listing all
``--people``. Exit status: 0 when every p99 is under ``--target-ms``, 1 when one is not, 2 on
any error. The machine's load is printed beside the figures: on a shared machine compare
runs, not absolute numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import DEFAULT_SERVER_URL, entryfy_env, scratch_database, seed_tenant


def seed_site(admin_url: str, customer_id: uuid.UUID, people: int, history: int) -> uuid.UUID:
    from entryfy.db import make_engine

    site_id = uuid.uuid4()
    eng = make_engine(admin_url)
    with eng.begin() as c:
        c.execute(text(
            "INSERT INTO sites (id, created_at, customer_id, name, latitude, longitude, "
            "radius_m, geofence, timezone, store_coarse_position, ledger_id, "
            "late_registration_hours) VALUES (:sid, now(), :cid, 'Bench site', 59.33, 18.06, "
            "200, 'enforce', 'Europe/Stockholm', false, 'BENCH-ONSITE', 24)"),
            {"sid": site_id, "cid": customer_id})
        c.execute(text(
            "INSERT INTO accounts (id, created_at, email, first_name, last_name, is_active) "
            "SELECT md5('onsite' || g)::uuid, now(), 'onsite' || g || '@bench.test', "
            "'First' || g, 'Last' || g, true FROM generate_series(1, :n) g"), {"n": people})
        c.execute(text(
            "INSERT INTO memberships (id, created_at, customer_id, account_id, role, active, "
            "employer_name) SELECT md5('onsite-m' || g)::uuid, now(), :cid, "
            "md5('onsite' || g)::uuid, 'member', true, 'Sub ' || (g % 40) "
            "FROM generate_series(1, :n) g"), {"cid": customer_id, "n": people})
        step = 250_000
        for lo in range(0, history, step):
            hi = min(lo + step, history)
            c.execute(text(
                "INSERT INTO entries (id, created_at, customer_id, site_id, account_id, "
                "membership_id, employer_name, checked_in_at, checked_out_at, source, "
                "restricted, auto_checkout) SELECT gen_random_uuid(), t, :cid, :sid, "
                "md5('onsite' || (g % :p + 1))::uuid, md5('onsite-m' || (g % :p + 1))::uuid, "
                "'Sub ' || (g % 40), t, t + interval '8 hours', 'app', false, false "
                "FROM (SELECT g, now() - interval '400 days' + g * interval '1 minute' AS t "
                "      FROM generate_series(:lo + 1, :hi) g) s"),
                {"cid": customer_id, "sid": site_id, "p": people, "lo": lo, "hi": hi})
        c.execute(text(
            "INSERT INTO entries (id, created_at, customer_id, site_id, account_id, "
            "membership_id, employer_name, checked_in_at, source, restricted, auto_checkout) "
            "SELECT gen_random_uuid(), now(), :cid, :sid, md5('onsite' || g)::uuid, "
            "md5('onsite-m' || g)::uuid, 'Sub ' || (g % 40), "
            "now() - g * interval '1 second', 'app', false, false "
            "FROM generate_series(1, :n) g"), {"cid": customer_id, "sid": site_id, "n": people})
        c.execute(text("ANALYZE"))
    eng.dispose()
    return site_id


def seed_site_sqlite(url: str, customer_id: uuid.UUID, people: int, history: int
                     ) -> uuid.UUID:
    """``seed_site`` for SQLite: the same rows, through Core inserts of the model tables."""
    import datetime as dt

    from sqlalchemy import insert

    from entryfy.db import make_engine
    from models import Account, Entry, Membership, Site

    now = dt.datetime.now(dt.UTC)
    site_id = uuid.uuid4()
    acc = [uuid.uuid4() for _ in range(people)]
    mem = [uuid.uuid4() for _ in range(people)]

    def entry(g: int, start: dt.datetime, end: dt.datetime | None) -> dict[str, object]:
        i = g % people
        return {"id": uuid.uuid4(), "created_at": start, "customer_id": customer_id,
                "site_id": site_id, "account_id": acc[i], "membership_id": mem[i],
                "employer_name": f"Sub {g % 40}", "checked_in_at": start,
                "checked_out_at": end, "source": "app", "restricted": False,
                "auto_checkout": False}

    eng = make_engine(url)
    with eng.begin() as c:
        c.execute(insert(Site), [{
            "id": site_id, "created_at": now, "customer_id": customer_id, "name": "Bench site",
            "latitude": 59.33, "longitude": 18.06, "radius_m": 200, "geofence": "enforce",
            "timezone": "Europe/Stockholm", "store_coarse_position": False,
            "ledger_id": "BENCH-ONSITE", "late_registration_hours": 24}])
        c.execute(insert(Account), [{
            "id": acc[g], "created_at": now, "email": f"onsite{g}@bench.test",
            "first_name": f"First{g}", "last_name": f"Last{g}", "is_active": True}
            for g in range(people)])
        c.execute(insert(Membership), [{
            "id": mem[g], "created_at": now, "customer_id": customer_id, "account_id": acc[g],
            "role": "member", "active": True, "employer_name": f"Sub {g % 40}"}
            for g in range(people)])
        past = now - dt.timedelta(days=400)
        for lo in range(0, history, 50_000):
            c.execute(insert(Entry), [
                entry(g, past + dt.timedelta(minutes=g),
                      past + dt.timedelta(minutes=g, hours=8))
                for g in range(lo, min(lo + 50_000, history))])
        c.execute(insert(Entry), [entry(g, now - dt.timedelta(seconds=g + 1), None)
                                  for g in range(people)])
        c.exec_driver_sql("ANALYZE")
    eng.dispose()
    return site_id


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


@contextlib.contextmanager
def _backend(name: str, pg_url: str) -> Iterator[tuple[str, str]]:
    """(admin url, app url) of a fresh, migrated database, dropped afterwards."""
    if name == "postgresql":
        with scratch_database(pg_url) as sdb:
            yield sdb.admin_url, sdb.app_url
        return
    from entryfy import migrate

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate.upgrade(url)
        yield url, url


def bench(backend: str, args: argparse.Namespace
          ) -> list[tuple[str, str, list[float], float, float]]:
    """[(backend, format, latencies in ms, statements per request, app CPU ms per request)]
    for one backend."""
    history = args.history if backend == "postgresql" else args.sqlite_history
    with _backend(backend, args.url) as (admin_url, app_url):
        env = entryfy_env(app_url)
        print(f"[{backend}] seeding {args.people} people on site, {history} past entries ...",
              flush=True)
        tenant = seed_tenant(admin_url, people=0, data_key=env["ENTRYFY_DATA_KEY"])
        seed = seed_site if backend == "postgresql" else seed_site_sqlite
        site_id = seed(admin_url, tenant.customer_id, args.people, history)
        os.environ.update(env)
        from sqlalchemy import event

        from entryfy import create_app
        from entryfy.app import freeze_startup_heap

        app = create_app()
        freeze_startup_heap()  # as wsgi.py does for every serving process
        engine = app.extensions["entryfy.db"].engine
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_: object) -> None:
            statements[0] += 1

        client = app.test_client()
        headers = {"Authorization": f"Bearer {tenant.admin.token}"}
        url = f"/api/v1/customers/{tenant.customer_id}/sites/{site_id}/on-site"
        out = []
        for fmt in ("json", "csv"):
            path = url if fmt == "json" else url + "?format=csv"
            samples: list[float] = []
            statements[0] = 0
            cpu0 = 0.0
            for i in range(args.warmup + args.requests):
                if i == args.warmup:
                    statements[0] = 0
                    cpu0 = time.process_time()
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                body = r.get_data()  # a streamed body is produced here
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise BenchError(f"{backend} {fmt}: {r.status_code} {body[:300]!r}")
                n = (r.get_json()["count"] if fmt == "json"
                     else body.count(b"\n") - 1)
                if n != args.people:
                    raise BenchError(f"{backend} {fmt}: {n} people listed, not {args.people}")
                if i >= args.warmup:
                    samples.append(ms)
            # This process's CPU per request: the app's own share, whatever else the machine
            # does (the rest of the wall time is the database and waiting for a CPU).
            cpu = (time.process_time() - cpu0) * 1000 / args.requests
            out.append((backend, fmt, samples, statements[0] / args.requests, cpu))
        engine.dispose()
    return out


class BenchError(Exception):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--history", type=int, default=500_000,
                    help="past entries at the site (PostgreSQL)")
    ap.add_argument("--sqlite-history", type=int, default=100_000,
                    help="past entries at the site (SQLite)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both")
    ap.add_argument("--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server URL")
    ap.add_argument("--target-ms", type=float, default=100.0, help="p99 target (JSON, CSV)")
    args = ap.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    results = []
    try:
        for backend in backends:
            results += bench(backend, args)
    except Exception as err:  # any error is a failed bench, with what went wrong
        print(f"ERROR: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    print(f"\n{'backend':<11} {'format':<6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} "
          f"{'app CPU ms':>10} {'queries/req':>11}  n")
    ok = True
    for backend, fmt, samples, queries, cpu in results:
        p99 = pct(samples, 0.99)
        ok &= p99 < args.target_ms
        print(f"{backend:<11} {fmt:<6} {pct(samples, 0.5):8.1f} {p99:8.1f} "
              f"{statistics.fmean(samples):8.1f} {cpu:10.1f} {queries:11.1f}  {len(samples)}"
              + ("" if p99 < args.target_ms else "  over target"))
    print("load average (1, 5, 15 min):", " ".join(f"{x:.1f}" for x in os.getloadavg()),
          f"on {os.cpu_count()} CPUs")
    print(f"target p99 < {args.target_ms:.0f} ms:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
