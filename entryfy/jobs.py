"""The worker's scheduled jobs: a registry other features add to, and the built-in jobs.

Register a job with one line, beside the function it runs::

    jobs.register("auto_checkout", dt.timedelta(minutes=5), jobs.in_transaction(auto_check_out))

``run`` gets the Database; ``in_transaction(fn)`` wraps a plain ``fn(session)`` operation in a
system-scoped transaction (mail it sends goes to the outbox of that transaction). A module
elsewhere that registers jobs is imported here by name (an import statement, never a string:
tests/privacy/test_layers.py sees every arrow), so a worker that never imported it still runs
them. Each job's next run is a row in ``scheduled_jobs``; a worker runs a job only after
winning a conditional UPDATE of that row, so of several workers exactly one runs it per period.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from entryfy import clock, mail
from entryfy.db import Database, rows_written
from entryfy.ops import onsite
from entryfy.ops.doors import alerts as door_alerts
from entryfy.ops.doors import passback
from models import (
    Controller,
    Customer,
    DataRequestPart,
    ScheduledJob,
)
from models.customers import admin_addresses
from models.tenancy import SYSTEM
from privacy import erasure_flow

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta
    run: Callable[[Database], Any]


_JOBS: dict[str, Job] = {}


def register(name: str, every: dt.timedelta, run: Callable[[Database], Any]) -> Job:
    if every <= dt.timedelta(0):
        raise ValueError("a job's period must be positive")
    job = Job(name, every, run)
    _JOBS[name] = job
    return job


def in_transaction(fn: Callable[[Session], Any]) -> Callable[[Database], Any]:
    """Run an operation ``fn(session)`` as a job: one system-scoped transaction."""

    def run(db: Database) -> Any:
        with db.transaction(SYSTEM) as s:
            return fn(s)

    run.__name__ = getattr(fn, "__name__", "job")
    return run


def registered() -> dict[str, Job]:
    return dict(_JOBS)


def _due(db: Database, names: list[str], now: dt.datetime) -> set[str]:
    """Which of ``names`` are due: one read per step; a job without a schedule row yet gets
    one, due at once (several workers may race to add it: the first insert wins)."""
    with db.transaction(SYSTEM) as s:
        rows = dict(s.execute(select(ScheduledJob.name, ScheduledJob.next_run_at).where(
            ScheduledJob.name.in_(names))).all())
        missing = [n for n in names if n not in rows]
        insert = pg_insert if db.dialect == "postgresql" else sqlite_insert
        for name in missing:
            s.execute(insert(ScheduledJob).values(name=name, next_run_at=now)
                      .on_conflict_do_nothing())
    return {n for n, at in rows.items() if at <= now} | set(missing)


def _claim(db: Database, job: Job, holder: str, now: dt.datetime) -> bool:
    """Take this period's run of ``job``: True for exactly one caller per period."""
    with db.transaction(SYSTEM) as s:
        won = rows_written(s.execute(
            update(ScheduledJob)
            .where(and_(ScheduledJob.name == job.name, ScheduledJob.next_run_at <= now))
            .values(next_run_at=now + job.every, last_started_at=now, holder=holder[:255],
                    last_status="running")
            .execution_options(synchronize_session=False)
        ))
    return won == 1


def _finish(db: Database, name: str, status: str) -> None:
    with db.transaction(SYSTEM) as s:
        s.execute(update(ScheduledJob).where(ScheduledJob.name == name)
                  .values(last_finished_at=clock.now(), last_status=status)
                  .execution_options(synchronize_session=False))


def run_due(db: Database, holder: str, *, only: list[str] | None = None) -> dict[str, str]:
    """Run every job whose time has come (and that this worker wins); name -> outcome."""
    jobs = registered()
    if only is not None:
        jobs = {k: v for k, v in jobs.items() if k in only}
    now = clock.now()
    due = _due(db, list(jobs), now) if jobs else set()
    done: dict[str, str] = {}
    for job in jobs.values():
        if job.name not in due or not _claim(db, job, holder, now):
            continue
        status = "finished"
        try:
            job.run(db)
        except Exception:
            log.exception("scheduled job %s failed", job.name)
            status = "failed"
        _finish(db, job.name, status)
        done[job.name] = status
        log.info("scheduled job %s %s", job.name, status)
    return done


# --------------------------------------------------------------------------- built-in jobs

def _retention(db: Database) -> Any:
    from privacy import retention

    return retention.run(db)


REMIND_BEFORE = dt.timedelta(days=7)


def remind_request_due_dates(session: Session) -> int:
    """Tell a customer's admins once when a data-subject request awaiting their decision is
    due within a week (GDPR Art. 12(3): one month). The mail names no person. Returns how
    many parts were reminded; a part whose customer has no current admin stays unreminded
    (and is logged) until one is."""
    now = clock.now()
    parts = session.scalars(
        select(DataRequestPart).where(DataRequestPart.status == "pending",
                                      DataRequestPart.reminded_at.is_(None),
                                      DataRequestPart.due_at <= now + REMIND_BEFORE)
        .order_by(DataRequestPart.due_at).limit(500)
    ).all()
    reminded = 0
    for part in parts:
        customer = session.get(Customer, part.customer_id)
        addresses = _admin_emails(session, part.customer_id)
        if not addresses:
            # Nobody to tell: every admin membership has ended (or starts later), or the
            # accounts are deactivated. Left unmarked, so a later run reminds the admin the
            # customer appoints; the log says which part waits (ids only).
            log.warning("request reminder not sent: customer=%s has no current admin "
                        "(part=%s, due %s)", part.customer_id, part.id,
                        f"{part.due_at:%Y-%m-%d}")
            continue
        for email in addresses:
            mail.send(email, "A privacy request awaits your decision",
                      f"A data-subject request to {customer.name if customer else 'you'} is "
                      f"due on {part.due_at:%Y-%m-%d} (request part {part.id}). Decide it "
                      "in the admin tools before then.\n")
        part.reminded_at = now
        reminded += 1
    session.flush()
    return reminded


def _admin_emails(session: Session, customer_id: uuid.UUID) -> list[str]:
    return list(session.scalars(admin_addresses(customer_id, clock.now())))


HEARTBEAT = dt.timedelta(minutes=5)
# Called with (session, controller) when a controller goes quiet: the doors feature raises
# a door alert (and its door_alert.created webhook) from here.
ON_CONTROLLER_OFFLINE: list[Callable[[Session, Controller], None]] = [
    door_alerts.on_controller_offline,
]


def detect_offline_controllers(session: Session) -> int:
    """Flag controllers not heard from within HEARTBEAT (their last call to the API), once
    per silence; a controller's next call clears the flag (entryfy.ops.doors.seen)."""
    now = clock.now()
    quiet = session.scalars(
        select(Controller).where(Controller.offline_since.is_(None),
                                 Controller.last_seen_at.is_not(None),
                                 Controller.last_seen_at < now - HEARTBEAT).limit(1000)
    ).all()
    for c in quiet:
        c.offline_since = now
        log.warning("controller offline controller=%s customer=%s", c.id, c.customer_id)
        for hook in ON_CONTROLLER_OFFLINE:
            hook(session, c)
    session.flush()
    return len(quiet)


def _resume_erasures(db: Database) -> int:
    """Erasures stopped part-way (the witness was down): finish them once it is back."""
    return erasure_flow.resume_all(db)


register("retention", dt.timedelta(days=1), _retention)
register("resume_erasures", dt.timedelta(minutes=15), _resume_erasures)
register("auto_checkout", dt.timedelta(minutes=5), in_transaction(onsite.auto_check_out))
register("request_due_reminders", dt.timedelta(hours=1),
         in_transaction(remind_request_due_dates))
register("controller_offline", dt.timedelta(minutes=1),
         in_transaction(detect_offline_controllers))
# Anti-passback's nightly reset: a state counts until its site's local midnight anyway
# (passback.still_inside); this deletes the stale rows, hourly so every time zone's night
# is covered.
register("anti_passback_reset", dt.timedelta(hours=1), in_transaction(passback.reset_passback))
