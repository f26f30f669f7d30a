"""Benchmark: a customer's whole-data-set export against PostgreSQL's own COPY, same run.

    python -m bench.export [--sizes 250000,1000000] [--url postgresql://...]

Makes a fresh PostgreSQL database (dropped afterwards), migrates it, seeds one customer with
1,000 members and, for each size in ``--sizes`` (growing), that many ledger entries with
generate_series. For each size, as the application's role (row-level security applies):

1. ``privacy.export.customer_export`` (JSON lines, what GET /customers/{id}/export streams):
   every tenant table of the customer, consumed and discarded, with its SHA-256 as usual;
2. ``COPY (SELECT <the entries' columns> FROM entries WHERE customer_id = ...) TO STDOUT``
   through psycopg, read and discarded: the floor for getting those rows out of PostgreSQL.

It prints rows per second of each, the ratio (export / COPY; target >= 0.3) and the export's
peak Python memory (tracemalloc, a separate pass) and the process's peak RSS: flat from the
smallest to the largest size means the export streams.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
import uuid

from sqlalchemy import text

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import DEFAULT_SERVER_URL, scratch_database
from entryfy import security
from entryfy.db import Database, make_engine
from models import Base
from models.tenancy import TenantContext
from privacy import export

MEMBERS = 1000


def seed_base(admin_url: str) -> uuid.UUID:
    cid = uuid.uuid4()
    eng = make_engine(admin_url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO customers (id, created_at, name, org_nr, status) "
                       "VALUES (:id, now(), 'Bench Bygg AB', '556000-0001', 'active')"),
                  {"id": cid})
        c.execute(text(
            "INSERT INTO sites (id, created_at, customer_id, name, latitude, longitude, radius_m,"
            " geofence, timezone, store_coarse_position) VALUES (:sid, now(), :cid, 'Site', "
            "59.33, 18.06, 200, 'enforce', 'Europe/Stockholm', false)"),
            {"sid": uuid.uuid4(), "cid": cid})
        c.execute(text(
            "INSERT INTO accounts (id, created_at, email, first_name, last_name, is_active) "
            "SELECT md5('a' || g)::uuid, now(), 'worker' || g || '@bench.test', 'First' || g, "
            "'Last' || g, true FROM generate_series(1, :n) g"), {"n": MEMBERS})
        c.execute(text(
            "INSERT INTO memberships (id, created_at, customer_id, account_id, role, active, "
            "employer_name) SELECT md5('m' || g)::uuid, now(), :cid, md5('a' || g)::uuid, "
            "'member', true, 'Sub ' || (g % 20) FROM generate_series(1, :n) g"),
            {"cid": cid, "n": MEMBERS})
    eng.dispose()
    return cid


def seed_entries(admin_url: str, cid: uuid.UUID, start: int, stop: int) -> None:
    """Entries ``start+1 .. stop`` (checked out, a year ago, spread over the members)."""
    eng = make_engine(admin_url)
    with eng.begin() as c:
        sid = c.execute(text("SELECT id FROM sites WHERE customer_id = :c"), {"c": cid}
                        ).scalar_one()
        step = 250_000
        for lo in range(start, stop, step):
            hi = min(lo + step, stop)
            c.execute(text(
                "INSERT INTO entries (id, created_at, customer_id, site_id, account_id, "
                "membership_id, employer_name, employer_org_nr, checked_in_at, checked_out_at, "
                "inside_geofence, distance_m, source, ip_prefix, restricted) "
                "SELECT gen_random_uuid(), t, :cid, :sid, md5('a' || (g % :m + 1))::uuid, "
                "md5('m' || (g % :m + 1))::uuid, 'Sub ' || (g % 20), '559012-3450', t, "
                "t + interval '8 hours', true, (g % 150), 'app', '198.51.100.0/24', false "
                "FROM (SELECT g, now() - interval '365 days' + g * interval '1 second' AS t "
                "      FROM generate_series(:lo + 1, :hi) g) s"),
                {"cid": cid, "sid": sid, "m": MEMBERS, "lo": lo, "hi": hi})
        c.execute(text("ANALYZE entries"))
    eng.dispose()


def run_export(db: Database, cid: uuid.UUID) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of one full JSON-lines export."""
    counts: dict[str, int] = {}
    size = 0
    t0 = time.perf_counter()
    with db.transaction(TenantContext(customer_ids=frozenset({cid}))) as s:
        for chunk in export.customer_export(
                s, cid, fmt="jsonl", on_done=lambda _sha, c: counts.update(c)):
            size += len(chunk)
    return sum(counts.values()), size, time.perf_counter() - t0


def run_copy(db: Database, cid: uuid.UUID) -> tuple[int, int, float]:
    """(rows, bytes, seconds) of COPY of the same entries, the same role and context."""
    table = Base.metadata.tables["entries"]
    cols = ", ".join(f'"{c.name}"' for c in table.c)
    sql = f"COPY (SELECT {cols} FROM entries WHERE customer_id = '{cid}'::uuid) TO STDOUT"
    rows = size = 0
    t0 = time.perf_counter()
    with db.transaction(TenantContext(customer_ids=frozenset({cid}))) as s:
        raw = s.connection().connection.driver_connection
        assert raw is not None  # a checked-out connection has its driver connection
        with raw.cursor() as cur, cur.copy(sql) as cp:
            for chunk in cp:
                rows += 1
                size += len(chunk)
    return rows, size, time.perf_counter() - t0


def peak_memory(db: Database, cid: uuid.UUID) -> int:
    tracemalloc.start()
    try:
        run_export(db, cid)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="250000,1000000",
                    help="entry counts, growing, comma-separated")
    ap.add_argument("--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server URL")
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    security.configure(passwords=security.Passwords(1, 8, 1),
                       keys=security.DataKeys("YmVuY2gtZXhwb3J0LWtleS0wMDAwMDAwMDAwMDAwMDA="))
    with scratch_database(args.url) as sdb:
        # The app role's settings count only when signed (models/rls.py): store the key.
        from entryfy import migrate

        migrate.store_scope_key(sdb.admin_url, security.db_scope_key())
        cid = seed_base(sdb.admin_url)
        db = Database(make_engine(sdb.app_url))
        have = 0
        failed = False
        print(f"{'entries':>9} {'export rows/s':>14} {'COPY rows/s':>12} {'ratio':>6} "
              f"{'export MB':>9} {'peak py MiB':>11} {'peak RSS MiB':>12}")
        for n in sizes:
            seed_entries(sdb.admin_url, cid, have, n)
            have = n
            run_copy(db, cid)  # warm the cache for both
            e_rows, e_bytes, e_s = run_export(db, cid)
            c_rows, _c_bytes, c_s = run_copy(db, cid)
            peak = peak_memory(db, cid)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            e_rate = e_rows / e_s
            # COPY exports the entries only; compare the same entries' rate.
            c_rate = c_rows / c_s
            print(f"{n:>9} {e_rate:>14,.0f} {c_rate:>12,.0f} {e_rate / c_rate:>6.2f} "
                  f"{e_bytes / 1e6:>9.1f} {peak / 2**20:>11.1f} {rss:>12.1f}", flush=True)
            if c_rows != n or e_rows < n:
                # An export that lost rows is a failed bench, however fast it was.
                print(f"FAILED: {n:,} entries, COPY read {c_rows:,}, the export {e_rows:,} rows")
                failed = True
        db.engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
