"""Check-ins per second against gunicorn + PostgreSQL, next to the one-INSERT baseline.

    python -m bench.checkin [--clients 16] [--seconds 8] [--rounds 3] [--server-url ...]

Each request is a real check-in (geofence, identity number, membership, idempotency key,
row-level security) by one of the customer's members at a site where that member has never
checked in, so the one-open-entry rule never refuses and nothing is an error: the clients
share one sequence of (person, site) pairs, a crew of ``--people`` checking in at one site
after another. Before every round the bench adds sites until the pairs left cover twice the
baseline's rate of that round for the whole round, so it never runs out (a 409 would be an
error). The baseline (bench/baseline_app.py) does one INSERT per request under the same
gunicorn settings. Prints both rates, p50/p99 latency, and the ratio; exits 1 on any error.

With ``--split`` two more servers run in every round, so the gap to the baseline divides
in three: bench/floor_app.py, the check-in's SQL alone (the same statements, role and
values, on a bare psycopg connection: what the database work allows); bench/ops_app.py,
the check-in's operations (token sign-in, scoped lookup, geodesic, guarded INSERT on
Entryfy's engine and session) in the bare Flask app without Entryfy's web layer; and the
full app. Their errors count like the others'.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import uuid

from bench import baseline_app
from bench.common import (
    DEFAULT_SERVER_URL,
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    combine,
    entryfy_env,
    gunicorn,
    print_results,
    ratio_line,
    run_load,
    scratch_database,
    seed_tenant,
)


def add_sites(admin_url: str, customer_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    """``n`` more sites of the customer (as the bench seeds them: ledger, enforced
    geofence), in one INSERT."""
    import datetime as dt

    from sqlalchemy import insert

    from entryfy.db import Database, make_engine
    from models import Site
    from models.tenancy import SYSTEM

    now = dt.datetime.now(dt.UTC)
    run = uuid.uuid4().hex[:6]
    rows = [{"id": uuid.uuid4(), "customer_id": customer_id, "name": f"Bench site {i}",
             "latitude": 59.33, "longitude": 18.06, "radius_m": 200, "geofence": "enforce",
             "ledger_id": f"BENCH-{run}-{i}", "timezone": "Europe/Stockholm",
             "store_coarse_position": False, "late_registration_hours": 24,
             "created_at": now} for i in range(n)]
    db = Database(make_engine(admin_url))
    with db.transaction(SYSTEM) as s:
        s.execute(insert(Site), rows)
    db.engine.dispose()
    return [uuid.UUID(str(r["id"])) for r in rows]


class Pairs:
    """The shared sequence of (person, site) pairs, each used once: pair k is person
    k % people at site k // people. ``next`` is called from every client thread."""

    def __init__(self, people: int) -> None:
        self.people = people
        self.sites: list[uuid.UUID] = []
        self._count = itertools.count()  # next() on a count is atomic under the GIL
        self.used = 0

    def next(self) -> tuple[int, uuid.UUID]:
        k = self.used = next(self._count)
        site = k // self.people
        if site >= len(self.sites):
            # Sized before every round so this cannot happen; if it ever does, the bench
            # says so instead of answering with a 409 it made itself.
            raise RuntimeError("the bench ran out of fresh (person, site) pairs")
        return k % self.people, self.sites[site]

    def left(self) -> int:
        return len(self.sites) * self.people - self.used


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--people", type=int, default=16,
                   help="members checking in (each at every site once, one site after another)")
    p.add_argument("--seconds", type=float, default=8.0, help="per round and side")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    p.add_argument("--split", action="store_true",
                   help="also serve the SQL alone (bench/floor_app.py) and the operations "
                        "alone (bench/ops_app.py) in every round")
    args = p.parse_args(argv)

    with scratch_database(args.server_url) as db:
        env = entryfy_env(db.app_url, DATABASE_POOL_SIZE=str(GUNICORN_THREADS),
                          DATABASE_MAX_OVERFLOW="2")
        print(f"seeding {args.people} members ...", flush=True)
        tenant = seed_tenant(db.admin_url, people=args.people, sites_per_person=0,
                             data_key=env["ENTRYFY_DATA_KEY"])
        baseline_app.create_table(db.admin_url)
        pairs = Pairs(args.people)
        round_s = args.seconds + args.warmup

        def ensure_pairs(rate: float) -> None:
            # Twice the baseline's rate for a whole round: check-in is not faster than one
            # bare INSERT, so the round cannot use them up.
            wanted = int(2 * max(rate, 500.0) * round_s) + 2 * args.people
            if pairs.left() < wanted:
                more = -(-(wanted - pairs.left()) // args.people)
                pairs.sites.extend(add_sites(db.admin_url, tenant.customer_id, more))

        def baseline_req(idx: int, i: int):
            return ("POST", "/insert", {"payload": f"client {idx} request {i}"}, {}, (201,))

        def checkin_req(idx: int, i: int):
            person, site = pairs.next()
            return ("POST", "/api/v1/entries",
                    {"site_id": str(site), "latitude": 59.3301, "longitude": 18.0601,
                     "accuracy_m": 15},
                    {"Authorization": f"Bearer {tenant.people[person].token}",
                     "Idempotency-Key": str(uuid.uuid4())},
                    (201,))

        print(f"gunicorn: {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread); "
              f"{args.clients} clients; {args.rounds} rounds of {args.seconds:g} s per side",
              flush=True)
        rounds: dict[str, list] = {"baseline": [], "SQL only": [], "operations only": [],
                                   "check-in": []}
        # The servers up at once (an idle one costs nothing); the loads alternate.
        with contextlib.ExitStack() as servers:
            base_url = servers.enter_context(gunicorn(
                "bench.baseline_app:app", {"BASELINE_DATABASE_URL": db.admin_url,
                                           "DATABASE_POOL_SIZE": str(GUNICORN_THREADS),
                                           "DATABASE_MAX_OVERFLOW": "2"}))
            app_url = servers.enter_context(gunicorn("wsgi:app", env,
                                                     ready_path="/api/v1/openapi.json"))
            split = {name: servers.enter_context(gunicorn(module, env))
                     for name, module in (("SQL only", "bench.floor_app:app"),
                                          ("operations only", "bench.ops_app:app"))
                     if args.split}
            for n in range(args.rounds):
                rounds["baseline"].append(run_load(
                    "baseline insert", base_url, baseline_req, clients=args.clients,
                    seconds=args.seconds, warmup=args.warmup))
                ensure_pairs(rounds["baseline"][-1].rate)
                for name, url in split.items():
                    rounds[name].append(run_load(
                        name, url, checkin_req, clients=args.clients,
                        seconds=args.seconds, warmup=args.warmup))
                    ensure_pairs(rounds["baseline"][-1].rate)
                rounds["check-in"].append(run_load(
                    "check-in", app_url, checkin_req, clients=args.clients,
                    seconds=args.seconds, warmup=args.warmup))
                print(f"round {n + 1}: " + ", ".join(
                    f"{r[-1].rate:.1f}/s {name}" for name, r in rounds.items() if r),
                    flush=True)
        base, checkin = combine(rounds["baseline"]), combine(rounds["check-in"])
        results = [base] + [combine(rounds[name]) for name in split]
        results.append(checkin)
        print_results(results)
        for r in results[1:]:
            print(ratio_line(r, base))
        print(f"sites used: {len(pairs.sites)}, check-ins made: {pairs.used + 1}")
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
