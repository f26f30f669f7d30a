"""Which database errors are outages or lost races, whether a request that met one may run
again, and a log that says so once per incident instead of a traceback per request.

Flask-free: the web layer (entryfy.web) and jobs share it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from sqlalchemy import exc

log = logging.getLogger("entryfy.database")

# SQLSTATEs after which the server has rolled the whole transaction back: running it again
# is always safe, even when the error came at COMMIT.
_ROLLED_BACK = {
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available
}
# The server is going away, restarting, or out of connections.
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300", "53400"}


@dataclasses.dataclass(frozen=True)
class Fault:
    """``kind``: "unavailable" (the database cannot be reached or is restarting) or
    "contention" (a deadlock, serialization failure or lock timeout: the transaction lost a
    race and was rolled back). ``rolled_back``: the database certainly did not commit it.
    ``code``: SQLSTATE or driver error name, for the log (never the message: it may quote
    values)."""

    kind: str
    rolled_back: bool
    code: str

    @property
    def retry_after(self) -> int:
        return 1 if self.kind == "contention" else 5


def classify(err: BaseException) -> Fault | None:
    """A Fault for an outage or a lost race; None for any other error (a bug, a constraint)."""
    if isinstance(err, exc.TimeoutError):  # no pooled connection free in time
        return Fault("unavailable", True, "pool-timeout")
    if not isinstance(err, exc.DBAPIError) or isinstance(
        err, exc.IntegrityError | exc.DataError | exc.ProgrammingError
    ):
        return None
    orig = err.orig
    state = getattr(orig, "sqlstate", None) or ""
    code = state or type(orig).__name__
    if state in _ROLLED_BACK:
        return Fault("contention", True, code)
    if type(orig).__module__.startswith("sqlite3"):
        text = str(orig).lower()
        if "locked" in text or "busy" in text:
            # SQLite never commits a transaction whose statement failed to get its lock.
            return Fault("contention", True, "sqlite-busy")
        if isinstance(err, exc.OperationalError):  # disk full, I/O error, unreadable file
            return Fault("unavailable", False, "sqlite-" + type(orig).__name__)
        return None
    if err.connection_invalidated or state.startswith("08") or state in _UNAVAILABLE_STATES:
        # The connection died: whether a COMMIT in flight took effect is unknown.
        return Fault("unavailable", False, code)
    if isinstance(err, exc.OperationalError | exc.InterfaceError):
        return Fault("unavailable", False, code)
    return None


class IncidentLog:
    """One line when an incident starts, at most one summary per ``every`` seconds while it
    lasts, one line when the database answers again. Per process."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._open: dict[str, list[float]] = {}  # kind -> [started, last_logged, count, retried]

    def failed(self, fault: Fault, *, retried: bool, phase: str) -> None:
        now = time.monotonic()
        level = logging.WARNING if fault.kind == "unavailable" else logging.INFO
        with self._lock:
            state = self._open.get(fault.kind)
            line: tuple[object, ...]  # a log format and its arguments
            if state is None:
                self._open[fault.kind] = [now, now, 1, int(retried)]
                line = ("database %s (%s at %s): %s", fault.kind, fault.code, phase,
                        "retrying the request" if retried else "answering 503 with Retry-After")
            else:
                state[2] += 1
                state[3] += int(retried)
                if now - state[1] < self.every:
                    return
                state[1] = now
                line = ("database still %s (%s): %d failed attempts in %.0f s, %d retried",
                        fault.kind, fault.code, state[2], now - state[0], state[3])
        log.log(level, *line)

    def succeeded(self) -> None:
        if not self._open:  # the common case: no lock, no work
            return
        now = time.monotonic()
        with self._lock:
            ended, self._open = self._open, {}
        for kind, (started, _, count, retried) in ended.items():
            level = logging.WARNING if kind == "unavailable" else logging.INFO
            log.log(level, "database %s ended after %.1f s: %d failed attempts, %d retried",
                    kind, now - started, count, retried)


incidents = IncidentLog()
