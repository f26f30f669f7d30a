"""Benchmark: the retention job against a plain SQL DELETE of the same rows, same run.

    python bench/retention.py [--rows 1000000] [--batch-size 5000] [--url postgresql://...]

Makes a fresh PostgreSQL database (dropped afterwards), migrates it, seeds ``--rows`` ledger
entries that are all past their legal period (plus one correction per 100 entries and a few
entries still under legal hold) with generate_series, then:

1. runs ``privacy.retention.run`` (personnel_ledger rule only) and times it;
2. reseeds the same rows;
3. runs ``DELETE FROM entries WHERE checked_in_at < cutoff`` (corrections go by cascade).

It prints rows per second of each, the ratio (retention / plain; target >= 0.3) and the
longest time any retention batch held its locks (target < 1 s). The plain DELETE holds its
locks for its whole duration, which is why the job batches.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.common import DEFAULT_SERVER_URL

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from entryfy import clock, migrate
from entryfy.db import Database, make_engine, normalise_url
from privacy import registry, retention

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
SEED_CHUNK = 250_000
HELD = 1000  # entries of 2029: under legal hold at NOW, must survive


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def seed(engine, rows: int, customer_id: uuid.UUID, site_id: uuid.UUID) -> None:
    with engine.begin() as c:
        c.execute(text("TRUNCATE entry_corrections, entries"))
    done = 0
    while done < rows:
        n = min(SEED_CHUNK, rows - done)
        with engine.begin() as c:
            # Entries of 2026-2027 (every minute), accounts spread over a pool of 2,000.
            c.execute(text(
                "INSERT INTO entries (id, customer_id, site_id, account_id, employer_name,"
                " employer_org_nr, checked_in_at, checked_out_at, source, restricted,"
                " created_at) "
                "SELECT gen_random_uuid(), :c, :s, a.id, 'Sub AB', '559012-3450',"
                " t, t + interval '8 hours', 'app', false, t "
                "FROM (SELECT g, timestamptz '2026-01-01 06:00+00' + g * interval '1 minute'"
                "      AS t FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) g) x "
                "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM accounts) a"
                " ON a.k = x.g % 2000"
            ), {"c": customer_id, "s": site_id, "lo": done, "hi": done + n - 1})
        done += n
        log(f"  seeded {done:,}/{rows:,} entries")
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO entry_corrections (id, customer_id, entry_id, before_checked_in_at,"
            " after_checked_in_at, reason, created_at) "
            "SELECT gen_random_uuid(), customer_id, id, checked_in_at,"
            " checked_in_at + interval '5 minutes', 'forgot to tap', checked_in_at "
            "FROM entries TABLESAMPLE SYSTEM (1)"
        ))
        c.execute(text(
            "INSERT INTO entries (id, customer_id, site_id, account_id, checked_in_at,"
            " checked_out_at, source, restricted, created_at) "
            "SELECT gen_random_uuid(), :c, :s, NULL, t, t + interval '8 hours', 'app',"
            " true, t FROM (SELECT timestamptz '2029-03-01 06:00+00' + g * interval '1 hour'"
            " AS t FROM generate_series(1, CAST(:n AS integer)) g) x"
        ), {"c": customer_id, "s": site_id, "n": HELD})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE entries"))
        c.execute(text("VACUUM ANALYZE entry_corrections"))


def counts(engine) -> tuple[int, int]:
    with engine.connect() as c:
        return (c.execute(text("SELECT count(*) FROM entries")).scalar_one(),
                c.execute(text("SELECT count(*) FROM entry_corrections")).scalar_one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=retention.DEFAULT_BATCH)
    ap.add_argument("--url", default=DEFAULT_SERVER_URL)
    args = ap.parse_args()

    base = make_url(normalise_url(args.url))
    name = f"entryfy_bench_{uuid.uuid4().hex[:8]}"
    server = make_engine(base.render_as_string(hide_password=False))
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        log(f"database {name}: migrating")
        migrate.upgrade(url)
        engine = make_engine(url)
        customer_id, site_id = uuid.uuid4(), uuid.uuid4()
        with engine.begin() as c:
            c.execute(text("INSERT INTO customers (id, name, org_nr, status, created_at) "
                           "VALUES (:i, 'Bench AB', '556000-0001', 'active', now())"),
                      {"i": customer_id})
            c.execute(text("INSERT INTO sites (id, customer_id, name, latitude, longitude,"
                           " radius_m, geofence, timezone, store_coarse_position, created_at)"
                           " VALUES (:s, :c, 'Site', 59.3, 18.0, 200, 'enforce',"
                           " 'Europe/Stockholm', false, now())"),
                      {"s": site_id, "c": customer_id})
            c.execute(text("INSERT INTO accounts (id, email, first_name, last_name,"
                           " is_active, created_at) SELECT gen_random_uuid(),"
                           " 'bench' || g || '@example.test', 'F', 'L', true, now()"
                           " FROM generate_series(1, 2000) g"))
        cutoff = registry.retention_rule("personnel_ledger").cutoff(NOW)
        assert cutoff is not None

        log(f"seeding {args.rows:,} expired entries (retention run)")
        seed(engine, args.rows, customer_id, site_id)
        e0, c0 = counts(engine)
        due = e0 - HELD
        db = Database(engine)
        done = [0]

        def progress(r: retention.RuleReport) -> None:
            n = r.counts.get("entries_deleted", 0)
            if n - done[0] >= 50_000 or n == due:
                done[0] = n
                log(f"  retention: {n:,}/{due:,} entries deleted, {r.batches} batches, "
                    f"longest batch {r.longest_batch_s:.3f}s")

        t = time.perf_counter()
        with clock.frozen_at(NOW):
            report = retention.run(db, batch_size=args.batch_size, only=["personnel_ledger"],
                                   progress=progress, host="bench")
        job_s = time.perf_counter() - t
        rule = report.rules[0]
        e1, _ = counts(engine)
        assert e1 == HELD, f"retention left {e1} entries, expected the {HELD} held ones"
        assert rule.counts["entries_deleted"] == due

        log("reseeding the same rows (plain DELETE)")
        seed(engine, args.rows, customer_id, site_id)
        assert counts(engine) [0] == e0
        t = time.perf_counter()
        with engine.begin() as c:
            plain = c.execute(text("DELETE FROM entries WHERE checked_in_at < :cut"),
                              {"cut": cutoff}).rowcount
        plain_s = time.perf_counter() - t
        assert plain == due
        engine.dispose()

        job_rate, plain_rate = due / job_s, due / plain_s
        print(f"rows (entries past their period): {due:,}   corrections: ~{c0:,}   "
              f"kept under legal hold: {HELD:,}")
        print(f"retention job : {job_s:8.2f} s  {job_rate:12,.0f} rows/s  "
              f"({rule.batches} batches of {args.batch_size:,})")
        print(f"plain DELETE  : {plain_s:8.2f} s  {plain_rate:12,.0f} rows/s  "
              f"(one statement, locks held {plain_s:.2f} s)")
        print(f"ratio (job / plain): {job_rate / plain_rate:.2f}   target >= 0.30")
        print(f"longest batch holding its locks: {rule.longest_batch_s:.3f} s   target < 1 s")
    finally:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


if __name__ == "__main__":
    main()
