"""Writing many audit records in one transaction: one ``record`` per person (how a ledger read
audited each identity number it showed before) against one ``record_many`` (one multi-row
INSERT, the hash chain computed in Python), then ``verify`` over the chain.

    python -m bench.audit                  # SQLite file
    python -m bench.audit --pg             # PostgreSQL (BENCH_PG_URL), as the app's role
    python -m bench.audit --people 2000,10000 --repeat 3

Each size is written ``--repeat`` times per way, each time in its own committed transaction on
the same chain (so the chain grows as in production); the median is printed. The figures
depend on the machine; the ratio is what the batching buys.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _urls(pg: bool) -> Iterator[tuple[str, str]]:
    if pg:
        from bench.common import scratch_database

        with scratch_database() as db:
            yield db.admin_url, db.app_url
        return
    from entryfy import migrate

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'audit.sqlite3'}"
        migrate.upgrade(url)
        yield url, url


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg", action="store_true")
    p.add_argument("--people", default="2000,10000",
                   help="records per transaction, comma-separated")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--batch-only", action="store_true", help="skip the slow one-by-one way")
    a = p.parse_args()

    from entryfy import security
    from entryfy.db import Database, make_engine
    from models import Customer
    from models.tenancy import SYSTEM
    from privacy import audit

    security.configure(passwords=security.Passwords(1, 8192, 1), keys=security.DataKeys(
        base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()))
    with _urls(a.pg) as (admin_url, _app_url):
        db = Database(make_engine(admin_url))
        with db.transaction(SYSTEM) as s:
            customer = Customer(name="Bench audit AB", org_nr="5590000000")
            s.add(customer)
            s.flush()
            cid = customer.id
        print(f"audit records in one transaction ({'PostgreSQL' if a.pg else 'SQLite'}); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(f"| {'records':>8} | {'one by one, ms':>14} | {'record_many, ms':>15} |"
              f" {'ratio':>6} |")
        print(f"|{'-' * 10}|{'-' * 16}|{'-' * 17}|{'-' * 8}|")
        for n in (int(x) for x in a.people.split(",")):
            subjects = [uuid.uuid4() for _ in range(n)]
            single, batch = [], []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                with db.transaction(SYSTEM) as s:
                    for subject in [] if a.batch_only else subjects:
                        audit.record(s, action="identity_number.read", customer_id=cid,
                                     actor_role="admin", subject_id=subject,
                                     object_type="ledger", object_id=cid)
                single.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                with db.transaction(SYSTEM) as s:
                    audit.record_many(s, action="identity_number.read", customer_id=cid,
                                      subject_ids=subjects, actor_role="admin",
                                      object_type="ledger", object_id=cid)
                batch.append((time.perf_counter() - t0) * 1000)
            one, many = statistics.median(single), statistics.median(batch)
            if a.batch_only:
                print(f"| {n:8,} | {'-':>14} | {many:15.0f} | {'-':>6} |")
            else:
                print(f"| {n:8,} | {one:14.0f} | {many:15.0f} | {one / many:5.1f}x |")
        t0 = time.perf_counter()
        with db.transaction(SYSTEM) as s:
            total = audit.count(s, cid)
            breaks = list(audit.verify(s, audit.chain_name(cid)))
        print(f"verify: {total:,} records checked in {(time.perf_counter() - t0) * 1000:.0f} ms,"
              f" {len(breaks)} breaks")
        db.engine.dispose()
        if breaks:
            raise SystemExit(f"the chain does not verify: {breaks[:3]}")


if __name__ == "__main__":
    main()
