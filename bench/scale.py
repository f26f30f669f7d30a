"""Scale-out on one machine as a model of many: check-ins through HAProxy to three app
processes on PgBouncer (transaction pooling), next to one app process straight on PostgreSQL.

    python -m bench.scale [--apps 3] [--clients 24] [--seconds 8] [--rounds 2]
                          [--server-url postgresql://postgres@127.0.0.1:5432/postgres]

What runs (all private copies on free 127.0.0.1 ports, stopped on exit; the machine's own
PostgreSQL and Redis are only used, never stopped):

* a scratch database on ``--server-url`` (dropped afterwards), migrated, a login role subject
  to row-level security, one customer with ``--clients`` members and enough sites that no
  (person, site) pair repeats (no 409 "already checked in");
* a redis-server for throttling (``RATELIMIT_STORAGE_URI``), shared by every app process;
* PgBouncer, transaction pooling, ``--pool-size`` server connections for the app's login;
* ``--apps`` gunicorn processes with the production configuration (``gunicorn.conf.py``:
  gevent workers; ``--workers`` each), ``DATABASE_PREPARED_STATEMENTS=0`` behind the pooler,
  ``ENTRYFY_TRUSTED_PROXIES=1`` behind HAProxy;
* HAProxy, round-robin over them, keep-alive to the backends;
* one more gunicorn, same configuration, straight on PostgreSQL: the single-server side.

Rounds alternate between the two sides (a burst of load from elsewhere hits both alike).
Prints rate, p50/p99 and errors of each side and their ratio; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import uuid
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from bench import services
from bench.common import (
    BENCH_LOGIN_ROLE,
    ROOT,
    combine,
    entryfy_env,
    ratio_line,
    run_load,
    scratch_database,
    seed_tenant,
)

SERVER_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def app_server(env: dict[str, str], *, workers: int, timeout: float = 120.0) -> Iterator[int]:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` (the production command) on a free port."""
    port = services.free_port()
    env = {**os.environ, **env, "ENTRYFY_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": str(workers), "LOG_LEVEL": "WARNING"}
    with services.serving_http(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], env,
            f"http://127.0.0.1:{port}/api/v1/openapi.json", what="gunicorn", cwd=ROOT,
            timeout=timeout, stop_timeout=30):
        yield port


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--apps", type=int, default=3, help="app processes behind HAProxy")
    p.add_argument("--workers", type=int, default=1, help="gunicorn workers per app process")
    p.add_argument("--clients", type=int, default=24)
    p.add_argument("--seconds", type=float, default=8.0, help="per round and side")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--pool-size", type=int, default=20,
                   help="PgBouncer's server connections for the app's login")
    p.add_argument("--max-rate", type=int, default=1500,
                   help="check-ins per second to provide fresh sites for")
    p.add_argument("--server-url", default=SERVER_URL)
    args = p.parse_args(argv)
    missing = services.missing("pgbouncer", "haproxy", "redis-server")
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install haproxy pgbouncer redis-server)",
              file=sys.stderr)
        return 2
    checkins = int(args.max_rate * 2 * args.rounds * (args.seconds + args.warmup))
    sites = checkins // args.clients + 20

    with scratch_database(args.server_url) as db, services.redis_server() as redis_port:
        print(f"seeding {args.clients} members with {sites} sites each ...", flush=True)
        common = entryfy_env(db.app_url, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{redis_port}/0")
        tenant = seed_tenant(db.admin_url, people=args.clients, sites_per_person=sites,
                             data_key=common["ENTRYFY_DATA_KEY"])
        # Each (person, site) pair at most once however the clients spread (bench.checkin).
        all_sites = [site for person in tenant.people for site in person.site_ids]
        next_site = itertools.count()

        def checkin_req(idx: int, i: int):
            n = next(next_site)
            if n >= len(all_sites):
                raise RuntimeError("ran out of fresh sites: raise --max-rate")
            return ("POST", "/api/v1/entries",
                    {"site_id": str(all_sites[n]), "latitude": 59.3301, "longitude": 18.0601,
                     "accuracy_m": 15},
                    {"Authorization": f"Bearer {tenant.people[idx].token}",
                     "Idempotency-Key": str(uuid.uuid4())},
                    (201,))

        url = make_url(db.app_url)
        with contextlib.ExitStack() as stack:
            bouncer = stack.enter_context(services.pgbouncer(
                url.host or "127.0.0.1", url.port or 5432, [BENCH_LOGIN_ROLE],
                pool_size=args.pool_size))
            pooled = url.set(host="127.0.0.1", port=bouncer).render_as_string(
                hide_password=False)
            behind = {**common, "DATABASE_URL": pooled, "DATABASE_PREPARED_STATEMENTS": "0",
                      "ENTRYFY_TRUSTED_PROXIES": "1"}
            ports = [stack.enter_context(app_server(behind, workers=args.workers))
                     for _ in range(args.apps)]
            balancer = stack.enter_context(services.haproxy(ports))
            single = stack.enter_context(app_server(common, workers=args.workers))
            print(f"{args.apps} app processes x {args.workers} gevent worker(s) behind HAProxy "
                  f"on PgBouncer (transaction pooling, {args.pool_size} server connections), "
                  f"vs 1 app process x {args.workers} straight on PostgreSQL; "
                  f"{args.clients} clients, {args.rounds} rounds of {args.seconds:g} s per side",
                  flush=True)
            one_name, many_name = "1 app, direct", f"{args.apps} apps, balanced"
            rounds: dict[str, list] = {one_name: [], many_name: []}
            for n in range(args.rounds):
                for name, port in ((one_name, single), (many_name, balancer)):
                    rounds[name].append(run_load(name, f"http://127.0.0.1:{port}", checkin_req,
                                                 clients=args.clients, seconds=args.seconds,
                                                 warmup=args.warmup))
                print(f"round {n + 1}: " + ", ".join(
                    f"{r[-1].rate:.1f}/s {name}" for name, r in rounds.items()), flush=True)
        one, many = combine(rounds[one_name]), combine(rounds[many_name])
        print(one.line())
        print(many.line())
        print(ratio_line(many, one))
    return 1 if (one.failures or many.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
