"""Check-ins per second against gunicorn + PostgreSQL, next to the one-INSERT baseline.

    python -m bench.checkin [--clients 16] [--seconds 8] [--rounds 3] [--server-url ...]

Every client is a member with a device token; each request is a real check-in (geofence,
identity number, membership, idempotency key, row-level security) at the customer's next
unused site, so the one-open-entry rule never refuses and nothing is an error. The
baseline (bench/baseline_app.py) does one INSERT per request under the same gunicorn settings.
Prints both rates, p50/p99 latency, and the ratio; exits 1 on any error.
"""

from __future__ import annotations

import argparse
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
    ratio_line,
    run_load,
    scratch_database,
    seed_tenant,
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=8.0, help="per round and side")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    p.add_argument("--sites-per-client", type=int, default=0,
                   help="default: enough for 600 check-ins per second for the whole run")
    args = p.parse_args(argv)
    sites = args.sites_per_client or int(
        600 * args.rounds * (args.seconds + args.warmup) / args.clients) + 20

    with scratch_database(args.server_url) as db:
        env = entryfy_env(db.app_url, DATABASE_POOL_SIZE=str(GUNICORN_THREADS),
                          DATABASE_MAX_OVERFLOW="2")
        print(f"seeding {args.clients} members with {sites} sites each ...", flush=True)
        tenant = seed_tenant(db.admin_url, people=args.clients, sites_per_person=sites,
                             data_key=env["ENTRYFY_DATA_KEY"])
        baseline_app.create_table(db.admin_url)

        def baseline_req(idx: int, i: int):
            return ("POST", "/insert", {"payload": f"client {idx} request {i}"}, {}, (201,))

        # Every member may check in at any of the customer's sites, so the clients share one
        # sequence of unused sites: each (person, site) pair comes up once however unevenly
        # gunicorn spreads the clients' connections (a per-client list ran out for the clients
        # that got the faster worker: 409 already-checked-in).
        all_sites = [site for person in tenant.people for site in person.site_ids]
        next_site = itertools.count()  # next() on a count is atomic under the GIL

        def checkin_req(idx: int, i: int):
            person = tenant.people[idx]
            site = all_sites[next(next_site) % len(all_sites)]
            return ("POST", "/api/v1/entries",
                    {"site_id": str(site), "latitude": 59.3301, "longitude": 18.0601,
                     "accuracy_m": 15},
                    {"Authorization": f"Bearer {person.token}",
                     "Idempotency-Key": str(uuid.uuid4())},
                    (201,))

        print(f"gunicorn: {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread); "
              f"{args.clients} clients; {args.rounds} rounds of {args.seconds:g} s per side",
              flush=True)
        rounds: dict[str, list] = {"baseline": [], "check-in": []}
        # Both servers up at once (an idle one costs nothing); the loads alternate.
        with gunicorn("bench.baseline_app:app", {"BASELINE_DATABASE_URL": db.admin_url,
                                                 "DATABASE_POOL_SIZE": str(GUNICORN_THREADS),
                                                 "DATABASE_MAX_OVERFLOW": "2"}) as base_url, \
                gunicorn("wsgi:app", env, ready_path="/api/v1/openapi.json") as app_url:
            for n in range(args.rounds):
                rounds["baseline"].append(run_load(
                    "baseline insert", base_url, baseline_req, clients=args.clients,
                    seconds=args.seconds, warmup=args.warmup))
                rounds["check-in"].append(run_load(
                    "check-in", app_url, checkin_req, clients=args.clients,
                    seconds=args.seconds, warmup=args.warmup))
                print(f"round {n + 1}: {rounds['baseline'][-1].rate:.1f}/s baseline, "
                      f"{rounds['check-in'][-1].rate:.1f}/s check-in", flush=True)
        base, checkin = combine(rounds["baseline"]), combine(rounds["check-in"])
        print(base.line())
        print(checkin.line())
        print(ratio_line(checkin, base))
    return 1 if (base.failures or checkin.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
