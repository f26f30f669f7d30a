"""Webhooks: check-ins per second with a webhook on vs off, and events delivered per second.

    python -m bench.webhooks [--clients 8] [--seconds 6] [--rounds 2] [--workers 2]

Part 1 runs real check-ins against gunicorn + PostgreSQL (as bench/checkin.py), alternating
rounds with the customer's entry.created webhook active ("on": each check-in also writes one
outbox row) and inactive ("off": the check-in's lookup answers "nobody listens" in the same
statement, so nothing more is sent). Part 2 delivers the outbox rows part 1 wrote to a
receiver on localhost with ``--workers`` worker threads (entryfy.worker.Worker, Standard
Webhooks signing, SSRF check per delivery) and reports deliveries per second. Exits 1 on any
error or undelivered event.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import func, select, text, update

from bench.common import (
    DEFAULT_SERVER_URL,
    GUNICORN_THREADS,
    combine,
    entryfy_env,
    gunicorn,
    ratio_line,
    run_load,
    scratch_database,
    seed_tenant,
)


class _Sink(BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _Sink.lock:
            _Sink.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=6.0, help="per round and side")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--workers", type=int, default=2, help="worker threads delivering")
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    args = p.parse_args(argv)
    sites = int(500 * args.rounds * 2 * (args.seconds + args.warmup) / args.clients) + 20

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    sink_url = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    os.environ["ENTRYFY_WEBHOOKS_ALLOW_PRIVATE"] = "1"

    with scratch_database(args.server_url) as db:
        env = entryfy_env(db.app_url, DATABASE_POOL_SIZE=str(GUNICORN_THREADS),
                          DATABASE_MAX_OVERFLOW="2")
        print(f"seeding {args.clients} members with {sites} sites each ...", flush=True)
        tenant = seed_tenant(db.admin_url, people=args.clients, sites_per_person=sites,
                             data_key=env["ENTRYFY_DATA_KEY"])
        from entryfy.db import Database, make_engine
        from entryfy.ops import webhooks as webhook_ops
        from models import WebhookDelivery, WebhookEndpoint
        from models.tenancy import SYSTEM

        admin_db = Database(make_engine(db.admin_url))
        with admin_db.transaction(SYSTEM) as s:
            ep, _secret = webhook_ops.create_endpoint(
                s, tenant.customer_id, url=sink_url, events=["entry.created"], actor_id=None)
            ep_id = ep.id

        def set_active(on: bool) -> None:
            with admin_db.transaction(SYSTEM) as s:
                s.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == ep_id)
                          .values(active=on))

        all_sites = [site for person in tenant.people for site in person.site_ids]
        next_site = itertools.count()

        def checkin_req(idx: int, i: int):
            person = tenant.people[idx]
            site = all_sites[next(next_site) % len(all_sites)]
            return ("POST", "/api/v1/entries",
                    {"site_id": str(site), "latitude": 59.3301, "longitude": 18.0601,
                     "accuracy_m": 15},
                    {"Authorization": f"Bearer {person.token}",
                     "Idempotency-Key": str(uuid.uuid4())}, (201,))

        rounds: dict[str, list] = {"off": [], "on": []}
        with gunicorn("wsgi:app", env, ready_path="/api/v1/openapi.json") as app_url:
            for n in range(args.rounds):
                # Alternate which side goes first: a load that drifts during the run (a
                # shared machine) then biases neither side.
                for side in (("off", "on") if n % 2 == 0 else ("on", "off")):
                    set_active(side == "on")
                    rounds[side].append(run_load(
                        f"check-in webhook {side}", app_url, checkin_req,
                        clients=args.clients, seconds=args.seconds, warmup=args.warmup))
                print(f"round {n + 1}: {rounds['off'][-1].rate:.1f}/s off, "
                      f"{rounds['on'][-1].rate:.1f}/s on", flush=True)
        off, on = combine(rounds["off"]), combine(rounds["on"])
        print(off.line())
        print(on.line())
        print(ratio_line(on, off))

        # Part 2: deliver what the "on" rounds queued.
        set_active(True)
        with admin_db.transaction(SYSTEM) as s:
            queued = s.scalar(select(func.count()).select_from(WebhookDelivery)) or 0
        from entryfy import mail
        from entryfy.worker import Worker

        app_db = Database(make_engine(db.app_url, pool_size=args.workers + 1))
        mailer = mail.Mailer(None, tempfile.mkdtemp(prefix="bench-outbox-"))
        workers = [Worker(app_db, mailer, batch=100, run_jobs=False)
                   for _ in range(args.workers)]
        started = time.perf_counter()
        threads = [threading.Thread(target=w.run_once) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        with admin_db.transaction(SYSTEM) as s:
            delivered = s.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status == "delivered")) or 0
            s.execute(text("SELECT 1"))
        print(f"deliveries: {delivered}/{queued} in {elapsed:.2f} s with {args.workers} "
              f"worker threads = {delivered / elapsed:.1f} events/s (receiver got "
              f"{_Sink.count})")
        app_db.engine.dispose()
        admin_db.engine.dispose()
    sink.shutdown()
    bad = off.failures or on.failures or delivered != queued or _Sink.count != queued
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
