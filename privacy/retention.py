"""Retention ("gallring"): delete or anonymise what has passed its period.

Periods come from the registry (privacy/registry.py); each retention rule the job carries out
has an *executor*, registered with :func:`register`. A run:

* takes a lock so two hosts never run at once (PostgreSQL: ``pg_try_advisory_lock`` on a
  dedicated connection, held for the run; SQLite: a row in ``job_locks``); a run that finds
  the lock taken records itself as ``skipped`` and does nothing;
* calls each executor in batches of at most ``batch_size`` rows, one transaction per batch,
  in the named cross-tenant path (``models.tenancy.system_scope``), until a batch finds
  nothing more to do; so it is idempotent: a second run finds nothing;
* with ``dry_run`` asks each executor only what it *would* do and changes nothing;
* records itself in ``retention_runs`` (started, finished, host, dry-run, counts per rule).

Legal holds outrank deletion: the personnel ledger is kept until its own period ends
(:func:`hold_or_erase_entries` is what an erasure request calls for ledger entries).

Other modules add rules with ``register(rule_key, executor)``: an executor is a callable
taking a :class:`Batch` and returning ``{action: count}`` (e.g. ``{"deleted": 12}``). It
processes at most ``batch.limit`` rows and flushes, never commits; the job commits. When
``batch.dry_run`` is set it returns the counts of everything due and changes nothing. The run
stops calling it when it returns all zeros. :func:`delete_rows` builds the common executor
(delete rows of one model matching a condition on the cutoff).
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
    ColumnElement,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from entryfy import clock
from entryfy.db import Database
from models import (
    AccessToken,
    AuditEvent,
    Entry,
    EntryCorrection,
    JobLock,
    Membership,
    RetentionRun,
)
from models.tenancy import SYSTEM, set_context, system_scope
from privacy import audit, registry

log = logging.getLogger(__name__)

LOCK_NAME = "retention"
# A stable 63-bit key for pg_advisory_lock, derived from the name (crc32 is stable).
PG_LOCK_KEY = 0x454E5452 << 32 | zlib.crc32(LOCK_NAME.encode())
SQLITE_LOCK_TTL = dt.timedelta(hours=6)
DEFAULT_BATCH = 5000


@dataclasses.dataclass
class Batch:
    session: Session
    rule: registry.RetentionRule
    now: dt.datetime
    cutoff: dt.datetime
    limit: int
    dry_run: bool = False
    # Carried from one batch to the next within a run (e.g. a keyset position).
    state: dict[str, Any] = dataclasses.field(default_factory=dict)


Executor = Callable[[Batch], dict[str, int]]
_EXECUTORS: dict[str, Executor] = {}


def register(rule_key: str, executor: Executor) -> None:
    """Let the job carry out ``rule_key`` (which must be in the registry) with ``executor``."""
    registry.retention_rule(rule_key)  # KeyError for an undeclared rule
    _EXECUTORS[rule_key] = executor


# Modules outside privacy/ that register executors for their own tables. Loaded by every run,
# so a job that never built the app still carries out every rule.
EXECUTOR_MODULES = ("entryfy.ops.support", "entryfy.ops.inspections")


def _load_executor_modules() -> None:
    import importlib

    for name in EXECUTOR_MODULES:
        importlib.import_module(name)


def executors() -> dict[str, Executor]:
    _load_executor_modules()
    return dict(_EXECUTORS)


def delete_rows(model: type[Any], due: Callable[[dt.datetime], ColumnElement[bool]]
                ) -> Executor:
    """An executor deleting rows of ``model`` (primary key ``id``) for which ``due(cutoff)``
    holds: ``DELETE ... WHERE id IN (SELECT id ... LIMIT n)``, one statement per batch."""

    def run(b: Batch) -> dict[str, int]:
        cond = due(b.cutoff)
        if b.dry_run:
            n = b.session.scalar(select(func.count()).select_from(model).where(cond)) or 0
            return {"deleted": n}
        n = b.session.execute(
            delete(model).where(model.id.in_(select(model.id).where(cond).limit(b.limit)))
            .execution_options(synchronize_session=False)
        ).rowcount
        return {"deleted": n}

    return run


# --------------------------------------------------------------------------- the rules

def _tokens_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return or_(AccessToken.expires_at < cutoff,
               and_(AccessToken.revoked_at.is_not(None), AccessToken.revoked_at < cutoff))


def _memberships_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(Membership.valid_to.is_not(None), Membership.valid_to < cutoff)


def _entries_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    """A ledger entry is due when every note about it is past the period: the check-in and
    check-out, when it was written, and every correction of it."""
    later = aliased(EntryCorrection)
    return and_(
        Entry.checked_in_at < cutoff,
        Entry.created_at < cutoff,
        or_(Entry.checked_out_at.is_(None), Entry.checked_out_at < cutoff),
        ~exists().where(later.entry_id == Entry.id, later.created_at >= cutoff)
        .correlate(Entry),
    )


def _ledger(b: Batch) -> dict[str, int]:
    cond = _entries_due(b.cutoff)
    s = b.session
    if b.dry_run:
        entries = s.scalar(select(func.count()).select_from(Entry).where(cond)) or 0
        corrections = s.scalar(
            select(func.count()).select_from(EntryCorrection)
            .join(Entry, Entry.id == EntryCorrection.entry_id).where(cond)
        ) or 0
        return {"entries_deleted": entries, "corrections_deleted": corrections}
    stmt = select(Entry.id, Entry.checked_in_at).where(cond)
    if "from" in b.state:  # keyset: never rescan what earlier batches already removed
        stmt = stmt.where(Entry.checked_in_at >= b.state["from"])
    stmt = stmt.order_by(Entry.checked_in_at, Entry.id).limit(b.limit)
    if s.get_bind().dialect.name == "postgresql":
        # One statement, no ids travelling to the client and back.
        batch = stmt.cte("batch")
        gone_c = (delete(EntryCorrection)
                  .where(EntryCorrection.entry_id.in_(select(batch.c.id)))
                  .returning(EntryCorrection.id).cte("gone_c"))
        gone_e = (delete(Entry).where(Entry.id.in_(select(batch.c.id)))
                  .returning(Entry.checked_in_at).cte("gone_e"))
        entries, corrections, last = s.execute(select(
            select(func.count()).select_from(gone_e).scalar_subquery(),
            select(func.count()).select_from(gone_c).scalar_subquery(),
            select(func.max(gone_e.c.checked_in_at)).scalar_subquery(),
        )).one()
        if last is not None:
            b.state["from"] = last
        return {"entries_deleted": entries, "corrections_deleted": corrections}
    rows = s.execute(stmt).all()
    if not rows:
        return {"entries_deleted": 0, "corrections_deleted": 0}
    ids = [r[0] for r in rows]
    b.state["from"] = rows[-1][1]
    corrections = s.execute(
        delete(EntryCorrection).where(EntryCorrection.entry_id.in_(ids))
        .execution_options(synchronize_session=False)
    ).rowcount
    entries = s.execute(
        delete(Entry).where(Entry.id.in_(ids)).execution_options(synchronize_session=False)
    ).rowcount
    return {"entries_deleted": entries, "corrections_deleted": corrections}


def _audit(b: Batch) -> dict[str, int]:
    """Whole prefixes of each chain older than the period; the chain's anchor moves to the
    last deleted record so the rest still verifies. Old retention-run records go too."""
    s = b.session
    if b.dry_run:
        events = 0
        for chain in audit.chains(s):
            young = s.scalar(select(func.min(AuditEvent.seq)).where(
                AuditEvent.chain == chain, AuditEvent.occurred_at >= b.cutoff))
            q = select(func.count()).select_from(AuditEvent).where(AuditEvent.chain == chain)
            if young is not None:
                q = q.where(AuditEvent.seq < young)
            events += s.scalar(q) or 0
        runs = s.scalar(select(func.count()).select_from(RetentionRun).where(
            RetentionRun.finished_at < b.cutoff)) or 0
        return {"audit_events_deleted": events, "retention_runs_deleted": runs}
    pending: list[str] = b.state.setdefault("chains", list(audit.chains(s)))
    while pending:
        n = audit.prune_prefix(s, pending[0], before=b.cutoff, limit=b.limit)
        if n:
            return {"audit_events_deleted": n, "retention_runs_deleted": 0}
        pending.pop(0)
    runs = s.execute(
        delete(RetentionRun).where(RetentionRun.id.in_(
            select(RetentionRun.id).where(RetentionRun.finished_at < b.cutoff).limit(b.limit)
        )).execution_options(synchronize_session=False)
    ).rowcount
    return {"audit_events_deleted": 0, "retention_runs_deleted": runs}


def _access_events() -> Executor | None:
    try:
        from models.doors import AccessEvent
    except ImportError:  # pragma: no cover - the doors module is optional in old trees
        return None
    return delete_rows(AccessEvent, lambda cutoff: AccessEvent.occurred_at < cutoff)


register("security_log", delete_rows(AccessToken, _tokens_due))
if (_ae := _access_events()) is not None:
    register("access_log", _ae)
register("membership", delete_rows(Membership, _memberships_due))
register("personnel_ledger", _ledger)
register("audit_log", _audit)


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
        corrections += session.execute(
            delete(EntryCorrection).where(EntryCorrection.entry_id.in_(chunk))
            .execution_options(synchronize_session=False)).rowcount
        entries += session.execute(
            delete(Entry).where(Entry.id.in_(chunk))
            .execution_options(synchronize_session=False)).rowcount
    restricted = session.execute(
        update(Entry).where(mine, Entry.restricted.is_(False))
        .values(restricted=True).execution_options(synchronize_session=False)
    ).rowcount
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
    """The run's lock: an advisory lock on its own connection (PostgreSQL) or a lock row."""

    def __init__(self, db: Database, holder: str) -> None:
        self.db = db
        self.holder = holder
        self.conn: Any = None

    def acquire(self) -> bool:
        if self.db.dialect == "postgresql":
            self.conn = self.db.engine.connect()
            got = bool(self.conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                         {"k": PG_LOCK_KEY}).scalar())
            self.conn.commit()
            if not got:
                self.conn.close()
                self.conn = None
            return got
        now = clock.now()
        with self.db.session() as s:
            set_context(s, SYSTEM)
            s.execute(delete(JobLock).where(JobLock.name == LOCK_NAME, JobLock.expires_at < now))
            s.add(JobLock(name=LOCK_NAME, holder=self.holder, acquired_at=now,
                          expires_at=now + SQLITE_LOCK_TTL))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                return False
        return True

    def release(self) -> None:
        if self.db.dialect == "postgresql":
            if self.conn is not None:
                self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                self.conn.commit()
                self.conn.close()
                self.conn = None
            return
        with self.db.session() as s:
            set_context(s, SYSTEM)
            s.execute(delete(JobLock).where(JobLock.name == LOCK_NAME,
                                            JobLock.holder == self.holder))
            s.commit()


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
    _load_executor_modules()
    host = (host or socket.gethostname())[:200]
    holder = f"{host}:{uuid.uuid4().hex[:8]}"
    lock = _Lock(db, holder)
    if not lock.acquire():
        run_id = _record_start(db, host, dry_run, "skipped")
        log.info("retention run skipped: another run holds the lock")
        return RunReport(run_id, "skipped", dry_run, [], host)
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
