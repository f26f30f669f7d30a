"""Who is on site now, at 10,000 people checked in, against the bare query, same run.

    python -m bench.onsite [--people 10000] [--history 500000] [--requests 200]
                           [--url postgresql://...]

Makes a fresh PostgreSQL database (dropped afterwards), migrates it, and seeds one customer
with an admin (a real device token, through the operations), one site, ``--people`` accounts
and memberships each with an open entry at the site, and ``--history`` closed entries there
(a site's past: the list must not get slower with it). Then, in this process, as the
application's role (row-level security applies):

1. ``GET /api/v1/customers/{c}/sites/{s}/on-site`` through the whole app (Flask test client:
   sign-in, access check, audit record, JSON of every row, commit), ``--requests`` times;
2. the same for ``?format=csv``;
3. the bare SELECT of the same rows through psycopg (the floor).

Prints p50/p99 in milliseconds of each; the target is p99 < 100 ms for (1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

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


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def line(name: str, samples: list[float]) -> str:
    return (f"{name:<28} p50 {pct(samples, 0.5):7.1f} ms   p99 {pct(samples, 0.99):7.1f} ms   "
            f"mean {statistics.fmean(samples):7.1f} ms   n={len(samples)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--history", type=int, default=500_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--url", default=DEFAULT_SERVER_URL, help="PostgreSQL server URL")
    args = ap.parse_args()
    with scratch_database(args.url) as sdb:
        env = entryfy_env(sdb.app_url)
        print(f"seeding {args.people} people on site, {args.history} past entries ...",
              flush=True)
        tenant = seed_tenant(sdb.admin_url, people=0, data_key=env["ENTRYFY_DATA_KEY"])
        site_id = seed_site(sdb.admin_url, tenant.customer_id, args.people, args.history)
        os.environ.update(env)
        from entryfy import create_app

        app = create_app()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {tenant.admin.token}"}
        url = f"/api/v1/customers/{tenant.customer_id}/sites/{site_id}/on-site"

        cpu: dict[str, float] = {}

        def timed(path: str) -> list[float]:
            out = []
            c0 = 0.0
            for i in range(args.warmup + args.requests):
                if i == args.warmup:
                    c0 = time.process_time()
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                dt_ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    raise SystemExit(f"{path}: {r.status_code} {r.get_data(as_text=True)}")
                if i >= args.warmup:
                    out.append(dt_ms)
            # This process's CPU per request: the app's own share, whatever else the
            # machine is doing (the rest of the wall time is the database and waiting).
            cpu[path] = (time.process_time() - c0) * 1000 / args.requests
            return out

        first = client.get(url, headers=headers).get_json()
        assert first["count"] == args.people, first["count"]
        json_ms = timed(url)
        csv_ms = timed(url + "?format=csv")

        from entryfy.db import make_engine

        eng = make_engine(sdb.admin_url)
        bare: list[float] = []
        with eng.connect() as c:
            raw = c.connection.driver_connection
            assert raw is not None  # a checked-out connection has its driver connection
            sql = ("SELECT e.id, a.first_name, a.last_name, e.employer_name, e.checked_in_at "
                   "FROM entries e JOIN accounts a ON a.id = e.account_id "
                   "WHERE e.customer_id = %s AND e.site_id = %s AND e.checked_out_at IS NULL "
                   "AND e.account_id IS NOT NULL ORDER BY e.checked_in_at, e.id")
            for i in range(args.warmup + args.requests):
                t0 = time.perf_counter()
                with raw.cursor() as cur:
                    cur.execute(sql, (tenant.customer_id, site_id))
                    rows = cur.fetchall()
                if i >= args.warmup:
                    bare.append((time.perf_counter() - t0) * 1000)
            assert len(rows) == args.people
            plan = "\n".join(r[0] for r in c.execute(text(
                "EXPLAIN " + sql.replace("%s", "'" + str(tenant.customer_id) + "'", 1)
                .replace("%s", "'" + str(site_id) + "'", 1))))
        eng.dispose()
        print(line("GET on-site (JSON)", json_ms) + f"   app CPU {cpu[url]:.1f} ms")
        print(line("GET on-site (CSV)", csv_ms)
              + f"   app CPU {cpu[url + '?format=csv']:.1f} ms")
        print(line("bare SELECT (psycopg)", bare))
        print("ratio JSON p50 / bare p50: "
              f"{pct(json_ms, 0.5) / pct(bare, 0.5):.1f}")
        print("plan uses uq_entries_open:", "uq_entries_open" in plan)
        print("load average (1, 5, 15 min):", " ".join(f"{x:.1f}" for x in os.getloadavg()),
              f"on {os.cpu_count()} CPUs")
        ok = pct(json_ms, 0.99) < 100
        print("target p99 < 100 ms:", "met" if ok else "NOT met")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
