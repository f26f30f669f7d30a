"""Door opens per second through the API, next to the one-INSERT baseline, and the door
decision's cost as a customer grows (gunicorn + PostgreSQL, row-level security on).

    python -m bench.doors [--clients 8] [--seconds 8] [--server-url postgresql://...]

Two customers in one database: SMALL (the bench clients, one site, one door, one access)
and LARGE (the same number of bench clients plus 10,000 people, 1,000 doors over 10 sites
and 1,000 accesses of 5 doors and 200 people each). Every request is a real, granted
POST /api/v1/doors/{id}/open (membership, access, schedule, geofence, the event, RLS).
Then the decision alone, in-process against the same PostgreSQL, for both customers, with
the query plan of its one lookup. Prints rates, p50/p99, ratios; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import sys
import time
import uuid
from typing import Any

from sqlalchemy import insert, text

from bench import baseline_app
from bench.common import (
    DEFAULT_SERVER_URL,
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    LoadResult,
    SeededTenant,
    combine,
    entryfy_env,
    gunicorn,
    print_results,
    ratio_line,
    run_load,
    scratch_database,
    seed_tenant,
)

LARGE_PEOPLE = 10_000
LARGE_SITES = 10
DOORS_PER_SITE = 100
LARGE_ACCESSES = 1_000
DOORS_PER_ACCESS = 5
PEOPLE_PER_ACCESS = 200
INSIDE = {"latitude": 59.3301, "longitude": 18.0601, "accuracy_m": 15}


def _site(s: Any, customer_id: uuid.UUID, name: str) -> uuid.UUID:
    from models import Site

    site = Site(id=uuid.uuid4(), customer_id=customer_id, name=name, latitude=59.33,
                longitude=18.06, radius_m=200, geofence="enforce", ledger_id=None)
    s.add(site)
    s.flush()
    return site.id


def _door_rows(customer_id: uuid.UUID, site_id: uuid.UUID, n: int) -> list[dict[str, Any]]:
    from entryfy.ops.doors import new_door_code

    now = dt.datetime.now(dt.UTC)
    return [{"id": uuid.uuid4(), "customer_id": customer_id, "site_id": site_id,
             "name": f"Door {i}", "site_entrance": False, "entry_code": new_door_code(),
             "exit_code": new_door_code(), "created_at": now} for i in range(n)]


def build(admin_url: str, tenant: SeededTenant, *, large: bool) -> uuid.UUID:
    """Doors, accesses (and for LARGE the crowd) for ``tenant``; returns the bench door."""
    from entryfy.db import Database, make_engine
    from models import (
        Access,
        AccessDoor,
        AccessMember,
        Account,
        Door,
        Membership,
    )
    from models.tenancy import SYSTEM

    db = Database(make_engine(admin_url))
    cid = tenant.customer_id
    now = dt.datetime.now(dt.UTC)
    with db.transaction(SYSTEM) as s:
        bench_members = list(s.scalars(text(
            "SELECT id FROM memberships WHERE customer_id = :c AND role = 'member'"
        ).bindparams(c=cid)))
        sites = [_site(s, cid, f"Bench site {i}") for i in range(LARGE_SITES if large else 1)]
        doors_by_site = {}
        for site_id in sites:
            rows = _door_rows(cid, site_id, DOORS_PER_SITE if large else 1)
            s.execute(insert(Door), rows)
            doors_by_site[site_id] = [r["id"] for r in rows]
        crowd: list[uuid.UUID] = []
        if large:
            run = secrets.token_hex(3)
            accounts = [{"id": uuid.uuid4(), "email": f"crowd-{run}-{i}@example.test",
                         "first_name": "Crowd", "last_name": str(i), "password_hash": None,
                         "is_active": True, "created_at": now} for i in range(LARGE_PEOPLE)]
            s.execute(insert(Account), accounts)
            ms: list[dict[str, Any]] = [
                {"id": uuid.uuid4(), "customer_id": cid, "account_id": a["id"],
                 "role": "member", "active": True, "created_at": now} for a in accounts]
            s.execute(insert(Membership), ms)
            crowd = [m["id"] for m in ms]
        accesses, a_doors, a_members = [], [], []
        for i in range(LARGE_ACCESSES if large else 1):
            site_id = sites[i % len(sites)]
            aid = uuid.uuid4()
            accesses.append({"id": aid, "customer_id": cid, "site_id": site_id,
                             "name": f"Access {i}", "methods": ["app", "keycard"],
                             "schedule": None, "guest": False, "created_at": now,
                             "updated_at": now})
            site_doors = doors_by_site[site_id]
            for k in range(min(DOORS_PER_ACCESS, len(site_doors))):
                a_doors.append({"access_id": aid, "customer_id": cid,
                                "door_id": site_doors[(i * DOORS_PER_ACCESS + k)
                                                      % len(site_doors)]})
            for k in range(PEOPLE_PER_ACCESS if large else 0):
                a_members.append({"access_id": aid, "customer_id": cid,
                                  "membership_id": crowd[(i * PEOPLE_PER_ACCESS + k)
                                                         % len(crowd)]})
        s.execute(insert(Access), accesses)
        s.execute(insert(AccessDoor), a_doors)
        if a_members:
            s.execute(insert(AccessMember), a_members)
        # The bench people: one more access on the first door, among the crowd's accesses.
        bench_door = doors_by_site[sites[0]][0]
        aid = uuid.uuid4()
        s.execute(insert(Access), [{"id": aid, "customer_id": cid, "site_id": sites[0],
                                    "name": "Bench", "methods": ["app"],
                                    "schedule": [{"days": ["mon", "tue", "wed", "thu", "fri",
                                                           "sat", "sun"],
                                                  "start": "00:00", "end": "24:00"}],
                                    "guest": False, "created_at": now, "updated_at": now}])
        s.execute(insert(AccessDoor), [{"access_id": aid, "customer_id": cid,
                                        "door_id": bench_door}])
        s.execute(insert(AccessMember), [{"access_id": aid, "customer_id": cid,
                                          "membership_id": m} for m in bench_members])
    # Vacuum now, not during the timed runs: autovacuum of freshly bulk-inserted tables would
    # otherwise compete for the two shared cores while LARGE is being measured.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM (ANALYZE)"))
    db.engine.dispose()
    return bench_door


def decision_timing(app_url: str, data_key: str, customer_id: uuid.UUID, door_id: uuid.UUID,
                    n: int) -> tuple[float, float, str]:
    """Mean and p99 of ``decide`` (ms) in-process, as the app's role, scoped to the tenant;
    and the plan of its lookup."""
    from entryfy import security
    from entryfy.db import Database, make_engine
    from entryfy.ops import doors as ops
    from models import Door, Membership
    from models.tenancy import TenantContext, set_context

    security.configure(passwords=security.Passwords(1, 8192, 1),
                       keys=security.DataKeys(data_key))
    db = Database(make_engine(app_url))
    times = []
    with db.session() as s:
        set_context(s, TenantContext(customer_ids=frozenset({customer_id})))
        door = s.get_one(Door, door_id)
        members = list(s.scalars(
            text("SELECT m.id FROM memberships m JOIN access_members am ON am.membership_id"
                 " = m.id JOIN access_doors ad ON ad.access_id = am.access_id"
                 " WHERE ad.door_id = :d").bindparams(d=door_id)))
        ms = [s.get_one(Membership, m) for m in members]
        pos = ops.Position(59.3301, 18.0601, 15)
        for i in range(n):
            m = ms[i % len(ms)]
            t0 = time.perf_counter()
            d = ops.decide(s, membership=m, door=door, channel="app",
                           at=dt.datetime.now(dt.UTC), position=pos)
            times.append((time.perf_counter() - t0) * 1000)
            assert d.granted, d
        plan = "\n".join(r[0] for r in s.execute(text(
            "EXPLAIN SELECT accesses.* FROM accesses JOIN access_doors ON"
            " access_doors.access_id = accesses.id JOIN access_members ON"
            " access_members.access_id = accesses.id WHERE access_doors.door_id = :d AND"
            " access_members.membership_id = :m"), {"d": door_id, "m": ms[0].id}))
    db.engine.dispose()
    times.sort()
    return statistics.fmean(times), times[int(len(times) * 0.99) - 1], plan


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--decisions", type=int, default=2000)
    p.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    args = p.parse_args(argv)

    with scratch_database(args.server_url) as db:
        env = entryfy_env(db.app_url, DATABASE_POOL_SIZE=str(GUNICORN_THREADS),
                          DATABASE_MAX_OVERFLOW="2")
        key = env["ENTRYFY_DATA_KEY"]
        print(f"seeding SMALL and LARGE customers ({args.clients} bench clients each) ...",
              flush=True)
        t0 = time.perf_counter()
        small = seed_tenant(db.admin_url, people=args.clients, sites_per_person=0,
                            ledger=False, identity_numbers=False, data_key=key)
        large = seed_tenant(db.admin_url, people=args.clients, sites_per_person=0,
                            ledger=False, identity_numbers=False, data_key=key)
        small_door = build(db.admin_url, small, large=False)
        large_door = build(db.admin_url, large, large=True)
        print(f"seeded in {time.perf_counter() - t0:.1f} s: LARGE has {LARGE_PEOPLE} + "
              f"{args.clients} people, {LARGE_SITES * DOORS_PER_SITE} doors, "
              f"{LARGE_ACCESSES + 1} accesses", flush=True)
        baseline_app.create_table(db.admin_url)

        def baseline_req(idx: int, i: int):
            return ("POST", "/insert", {"payload": f"client {idx} request {i}"}, {}, (201,))

        def opener(tenant: SeededTenant, door: uuid.UUID):
            def req(idx: int, i: int):
                return ("POST", f"/api/v1/doors/{door}/open", INSIDE,
                        {"Authorization": f"Bearer {tenant.people[idx].token}"}, (200,))
            return req

        print(f"gunicorn: {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread); "
              f"{args.clients} clients; {args.seconds:g} s each", flush=True)
        # Both servers up at once (an idle one costs nothing); the baseline's rounds alternate
        # with the door opens', and small, LARGE, LARGE, small: drift in the machine's load
        # (CPU is shared) hits every side alike instead of favouring whichever ran first.
        runs: dict[str, list[LoadResult]] = {"baseline": [], "small": [], "LARGE": []}
        with gunicorn("bench.baseline_app:app", {"BASELINE_DATABASE_URL": db.admin_url,
                                                 "DATABASE_POOL_SIZE": str(GUNICORN_THREADS),
                                                 "DATABASE_MAX_OVERFLOW": "2"}) as base_url, \
                gunicorn("wsgi:app", env, ready_path="/api/v1/openapi.json") as url:
            for size in ("small", "LARGE", "LARGE", "small"):
                if size == "small" or not runs["LARGE"]:
                    r = run_load("baseline insert", base_url, baseline_req,
                                 clients=args.clients, seconds=args.seconds / 2,
                                 warmup=args.warmup)
                    print("  " + r.line(), flush=True)
                    runs["baseline"].append(r)
                tenant, door = (small, small_door) if size == "small" else (large, large_door)
                r = run_load(f"door open ({size})", url, opener(tenant, door),
                             clients=args.clients, seconds=args.seconds / 2,
                             warmup=args.warmup)
                print("  " + r.line(), flush=True)
                runs[size].append(r)
        base = combine(runs["baseline"])
        o_small, o_large = combine(runs["small"]), combine(runs["LARGE"])
        print_results([base, o_small, o_large])
        print(ratio_line(o_small, base))
        print(ratio_line(o_large, base))
        print(f"ratio door open LARGE / small: {o_large.rate / o_small.rate:.2f}")

        print(f"\ndecision alone, in-process as the app role ({args.decisions} decisions):")
        sm, sp, _ = decision_timing(db.app_url, key, small.customer_id, small_door,
                                    args.decisions)
        lm, lp, plan = decision_timing(db.app_url, key, large.customer_id, large_door,
                                       args.decisions)
        print(f"  small customer: mean {sm:.3f} ms  p99 {sp:.3f} ms")
        print(f"  LARGE customer: mean {lm:.3f} ms  p99 {lp:.3f} ms  (x{lm / sm:.2f})")
        print("  plan of the lookup (LARGE):")
        print("\n".join("    " + line for line in plan.splitlines()))
    return 1 if (base.failures or o_small.failures or o_large.failures) else 0


if __name__ == "__main__":
    sys.exit(main())
