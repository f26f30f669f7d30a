"""``entryfy worker``: delivers the outbox (mail, webhooks) and runs the scheduled jobs.

A small loop of our own. The usual libraries were ruled out (docs/WORKER.md): Celery, RQ and
dramatiq need a broker (Redis/RabbitMQ) besides the database, and the outbox rows already are
the queue; APScheduler 3 keeps its job store per process (several workers would each run
every job) and 4 is still pre-release. The database does the coordination: rows are claimed
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (any number of workers), scheduled jobs by a
conditional UPDATE; on SQLite one worker runs at a time (a file lock beside the database).
SIGTERM/SIGINT finish the step in progress and stop.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from entryfy import jobs, mail, outbox
from entryfy.db import Database
from entryfy.ops import webhooks

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    pass


@contextlib.contextmanager
def sqlite_lock(db: Database) -> Iterator[None]:
    """One worker per SQLite database: an exclusive lock on a file beside it."""
    if db.dialect != "sqlite":
        yield
        return
    path = Path(db.engine.url.database or "entryfy.sqlite3").resolve()
    lock_path = path.with_name(path.name + ".worker.lock")
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(
                "another worker runs on this SQLite database; SQLite takes one") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Worker:
    def __init__(self, db: Database, mailer: mail.Mailer, *, batch: int = 50,
                 poll_s: float = 1.0, jobs_only: list[str] | None = None,
                 send: webhooks.Sender = webhooks.http_sender, run_jobs: bool = True) -> None:
        self.db = db
        self.mailer = mailer
        self.batch = batch
        self.poll_s = poll_s
        self.jobs_only = jobs_only
        self.send = send
        self.run_jobs = run_jobs
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stopping = threading.Event()

    def step(self) -> dict[str, Any]:
        """One pass: send due mail and webhooks, run due jobs. What was done, counted."""
        done: dict[str, Any] = {
            "mail": outbox.deliver_mail(self.db, self.mailer, limit=self.batch),
            "webhooks": webhooks.deliver(self.db, limit=self.batch, send=self.send),
        }
        if self.run_jobs:
            done["jobs"] = jobs.run_due(self.db, self.name, only=self.jobs_only)
        return done

    def run_once(self) -> dict[str, Any]:
        """Until nothing more is due now (for cron and tests): every step's counts summed."""
        total: dict[str, Any] = {"mail": {}, "webhooks": {}, "jobs": {}}
        while not self.stopping.is_set():
            done = self.step()
            for kind in ("mail", "webhooks"):
                for k, v in done[kind].items():
                    if v:
                        total[kind][k] = total[kind].get(k, 0) + v
            total["jobs"].update(done.get("jobs", {}))
            busy = sum(done["mail"].values()) + sum(done["webhooks"].values())
            if busy < self.batch:
                break
        return total

    def run_forever(self) -> None:
        log.info("worker %s started", self.name)
        while not self.stopping.is_set():
            try:
                done = self.step()
            except Exception:
                log.exception("worker step failed; retrying")
                self.stopping.wait(min(30.0, self.poll_s * 5))
                continue
            busy = sum(done["mail"].values()) + sum(done["webhooks"].values())
            if busy < self.batch:  # caught up: wait; else go on at once
                self.stopping.wait(self.poll_s)
        log.info("worker %s stopped", self.name)

    def stop(self, *_: Any) -> None:
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
