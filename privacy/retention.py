"""Retention ("gallring"): delete or anonymise what has passed its period.

Periods come from the registry (privacy/registry.py); each retention rule the job carries out
has an *executor*, in the one registry of executors beside the rules (privacy/executors.py).
A run:

* takes a lock so two hosts never run at once (PostgreSQL: ``pg_try_advisory_lock`` on a
  dedicated connection, held for the run; SQLite: a row in ``job_locks``); a run that finds
  the lock taken records itself as ``skipped`` and does nothing;
* calls each executor in batches of at most ``batch_size`` rows, one transaction per batch,
  in the named cross-tenant path (``models.tenancy.system_scope``), until a batch finds
  nothing more to do; so it is idempotent: a second run finds nothing;
* with ``dry_run`` asks each executor only what it *would* do and changes nothing;
* records itself in ``retention_runs`` (started, finished, host, dry-run, counts per rule).

Legal holds outrank deletion: the personnel ledger is kept until its own period ends
(erasure decides per row, privacy.erasure.HoldScope: only entries at ledger sites are held).

What an executor is and does: privacy/executors.py (a new rule gets its executor there; a
test fails while an automated rule has none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import socket
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    and_,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.db import Database, rows_written
from models import (
    Entry,
    EntryCorrection,
    JobLock,
    RetentionRun,
)
from models.tenancy import SYSTEM, set_context, system_scope
from privacy import registry
from privacy.executors import EXECUTORS as _EXECUTORS
from privacy.executors import (  # noqa: F401  (re-exported: the job's callers use them)
    Batch,
    Executor,
    _entries_due,
    delete_rows,
    executors,
    register,
)

log = logging.getLogger(__name__)

LOCK_NAME = "retention"
# A stable 63-bit key for pg_advisory_lock, derived from the name (crc32 is stable).
PG_LOCK_KEY = 0x454E5452 << 32 | zlib.crc32(LOCK_NAME.encode())
SQLITE_LOCK_TTL = dt.timedelta(hours=6)
DEFAULT_BATCH = 5000

# --------------------------------------------------------------------------- legal hold

def hold_or_erase_entries(session: Session, account_id: uuid.UUID,
                          now: dt.datetime | None = None) -> dict[str, int]:
    """What an erasure request does to the person's ledger entries: those past the legal
    period are deleted now, those still under legal hold are kept and marked restricted (used
    for the ledger only, deleted by retention when their period ends). Flushes."""
    now = now or clock.now()
    rule = registry.retention_rule("personnel_ledger")
    cutoff = rule.cutoff(now)
    assert cutoff is not None
    mine = Entry.account_id == account_id
    due = and_(mine, _entries_due(cutoff))
    ids = list(session.scalars(select(Entry.id).where(due)))
    corrections = entries = 0
    for i in range(0, len(ids), DEFAULT_BATCH):
        chunk = ids[i:i + DEFAULT_BATCH]
        corrections += rows_written(session.execute(
            delete(EntryCorrection).where(EntryCorrection.entry_id.in_(chunk))
            .execution_options(synchronize_session=False)))
        entries += rows_written(session.execute(
            delete(Entry).where(Entry.id.in_(chunk))
            .execution_options(synchronize_session=False)))
    restricted = rows_written(session.execute(
        update(Entry).where(mine, Entry.restricted.is_(False))
        .values(restricted=True).execution_options(synchronize_session=False)
    ))
    session.flush()
    return {"entries_deleted": entries, "corrections_deleted": corrections,
            "entries_restricted": restricted}


def held_entries(session: Session, account_id: uuid.UUID,
                 now: dt.datetime | None = None) -> int:
    """How many of the person's ledger entries a legal hold keeps today (to tell them)."""
    cutoff = registry.retention_rule("personnel_ledger").cutoff(now or clock.now())
    assert cutoff is not None
    return session.scalar(
        select(func.count()).select_from(Entry).where(
            Entry.account_id == account_id, ~_entries_due(cutoff))
    ) or 0


# --------------------------------------------------------------------------- the job

@dataclasses.dataclass
class RuleReport:
    rule: str
    cutoff: dt.datetime | None
    counts: dict[str, int]
    batches: int = 0
    longest_batch_s: float = 0.0
    note: str | None = None


@dataclasses.dataclass
class RunReport:
    run_id: uuid.UUID | None
    status: str
    dry_run: bool
    rules: list[RuleReport]
    host: str

    @property
    def longest_batch_s(self) -> float:
        return max((r.longest_batch_s for r in self.rules), default=0.0)

    def total(self) -> int:
        return sum(sum(r.counts.values()) for r in self.rules)


Progress = Callable[[RuleReport], None]


class _Lock:
    """The run's lock: an advisory lock on its own connection (PostgreSQL) or a lock row.
    ``name`` (at most 40 characters): the retention job's by default; privacy.erasure_flow
    takes one per erasure request."""

    def __init__(self, db: Database, holder: str, name: str = LOCK_NAME,
                 ttl: dt.timedelta = SQLITE_LOCK_TTL) -> None:
        self.db = db
        self.holder = holder
        self.name = name
        self.ttl = ttl
        self.key = 0x454E5452 << 32 | zlib.crc32(name.encode())
        self.conn: Any = None

    def acquire(self) -> bool:
        if self.db.dialect == "postgresql":
            self.conn = self.db.engine.connect()
            got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": self.key}).scalar())
            self.conn.commit()
            if not got:
                self.conn.close()
                self.conn = None
            return got
        now = clock.now()
        with self.db.session() as s:
            set_context(s, SYSTEM)
            s.execute(delete(JobLock).where(JobLock.name == self.name, JobLock.expires_at < now))
            s.add(JobLock(name=self.name, holder=self.holder, acquired_at=now,
                          expires_at=now + self.ttl))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
        return True

    def release(self) -> None:
        if self.db.dialect == "postgresql":
            if self.conn is not None:
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self.conn.commit()
                self.conn.close()
                self.conn = None
            return
        with self.db.session() as s:
            set_context(s, SYSTEM)
            s.execute(delete(JobLock).where(JobLock.name == self.name,
                                            JobLock.holder == self.holder))
            s.commit()


NamedLock = _Lock  # for other runs that must not overlap (privacy.erasure_flow)


def _record_start(db: Database, host: str, dry_run: bool, status: str) -> uuid.UUID:
    with db.session() as s:
        set_context(s, SYSTEM)
        run = RetentionRun(id=uuid.uuid4(), started_at=clock.now(), dry_run=dry_run, host=host,
                           status=status, counts="{}",
                           finished_at=clock.now() if status == "skipped" else None)
        s.add(run)
        s.commit()
        return run.id


def _record_end(db: Database, run_id: uuid.UUID, status: str, rules: list[RuleReport]) -> None:
    counts = {r.rule: r.counts for r in rules}
    with db.session() as s:
        set_context(s, SYSTEM)
        run = s.get(RetentionRun, run_id)
        if run is not None:  # pruned by its own run only if the clock went very far
            run.status, run.finished_at = status, clock.now()
            run.counts = json.dumps(counts, sort_keys=True)
            s.commit()


def run(db: Database, *, dry_run: bool = False, batch_size: int = DEFAULT_BATCH,
        only: list[str] | None = None, progress: Progress | None = None,
        host: str | None = None) -> RunReport:
    """One retention run over every rule with an executor (or only ``only``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    host = (host or socket.gethostname())[:200]
    holder = f"{host}:{uuid.uuid4().hex[:8]}"
    lock = _Lock(db, holder)
    if not lock.acquire():
        skipped_id = _record_start(db, host, dry_run, "skipped")
        log.info("retention run skipped: another run holds the lock")
        return RunReport(skipped_id, "skipped", dry_run, [], host)
    reports: list[RuleReport] = []
    run_id: uuid.UUID | None = None
    status = "failed"
    try:
        run_id = _record_start(db, host, dry_run, "running")
        now = clock.now()
        for rule in registry.retention_rules():
            if only and rule.key not in only:
                continue
            report = RuleReport(rule.key, rule.cutoff(now), {})
            reports.append(report)
            executor = _EXECUTORS.get(rule.key)
            if executor is None or report.cutoff is None:
                report.note = (f"not run by this job: {rule.carried_out_by}"
                               if rule.carried_out_by else
                               "no period" if report.cutoff is None else
                               "no executor registered")
                if progress:
                    progress(report)
                continue
            state: dict[str, Any] = {}
            while True:
                started = time.monotonic()
                with db.session() as s, system_scope(s, f"retention:{rule.key}"):
                    counts = executor(Batch(s, rule, now, report.cutoff, batch_size,
                                            dry_run, state))
                    if dry_run:
                        s.rollback()
                    else:
                        s.commit()
                elapsed = time.monotonic() - started
                report.batches += 1
                report.longest_batch_s = max(report.longest_batch_s, elapsed)
                for k, v in counts.items():
                    report.counts[k] = report.counts.get(k, 0) + v
                if progress:
                    progress(report)
                if dry_run or not any(counts.values()):
                    break
            log.info("retention rule=%s batches=%d counts=%s", rule.key, report.batches,
                     report.counts)
        status = "finished"
    finally:
        if run_id is not None:
            _record_end(db, run_id, status, reports)
        lock.release()
    return RunReport(run_id, status, dry_run, reports, host)
