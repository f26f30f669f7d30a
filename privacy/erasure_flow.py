"""Carrying out an erasure so that it wins races and survives restores.

An erasure is several units of work, each committed before the next starts (this module takes
the ``Database``, like the retention job, because one transaction cannot do it):

1. **Freeze** the person, committed on its own: for a customer's part their memberships there
   are switched off; for the platform part the account is deactivated and every session and
   device token revoked (and every membership switched off). From this commit on, a new
   check-in or door attempt is refused (401 ``account-frozen``, or no current membership).
2. **Journal**: one line in the witness (privacy.journal) before anything is reported done. If
   the witness cannot be written, :class:`entryfy.witness.WitnessUnavailable` propagates (503
   with Retry-After): the person stays frozen, the request stays open, nothing says "completed".
3. **Erase** (privacy.erasure.execute), then a **residue check** in a fresh transaction over
   every table the data map lists. A request that was already past the freeze when it committed
   (a check-in signed in a moment before) can add a row after the erase read its snapshot; the
   residue check finds it and the erase runs again, a few rounds at most.
4. **Report**: the part or the request is completed only when the residue is zero outside the
   rows a legal hold keeps; otherwise it stays open and its outcome says what is left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import time
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from entryfy import clock
from entryfy.db import Database
from models import AccessToken, Account, DataRequest, DataRequestPart, Erasure, Membership
from models.tenancy import NOBODY, SYSTEM, system_scope
from privacy import audit, erasure, journal, registry, subjects

log = logging.getLogger(__name__)

MAX_ROUNDS = 5
# SQLite's lock row outlives a crashed run by this much at most.
LOCK_TTL = dt.timedelta(minutes=15)
ROUND_PAUSE_S = 0.05


# ------------------------------------------------------------------ freeze

def freeze(session: Any, account_id: uuid.UUID, customer_id: uuid.UUID | None) -> None:
    """Stop new data about the person from arriving (flushes; the flow commits it alone)."""
    now = clock.now()
    with system_scope(session, "erasure: freeze the person"):
        stmt = update(Membership).where(Membership.account_id == account_id,
                                        Membership.active.is_(True))
        if customer_id is not None:
            stmt = stmt.where(Membership.customer_id == customer_id)
        session.execute(stmt.values(active=False).execution_options(synchronize_session=False))
        if customer_id is None:
            session.execute(update(Account).where(Account.id == account_id)
                            .values(is_active=False)
                            .execution_options(synchronize_session=False))
            session.execute(update(AccessToken).where(AccessToken.account_id == account_id,
                                                      AccessToken.revoked_at.is_(None))
                            .values(revoked_at=now)
                            .execution_options(synchronize_session=False))
        session.flush()
    audit.record(session, action="erasure.freeze", customer_id=customer_id,
                 actor_role="system", object_type="account", object_id=account_id,
                 subject_id=account_id)


# ------------------------------------------------------------------ residue

def residue(session: Any, account_id: uuid.UUID, email: str | None, *,
            customer_id: uuid.UUID | None, platform: bool) -> dict[str, int]:
    """Rows of the person erasure would still change, per table; rows a legal hold keeps (and
    the append-only trails that hold references only) are not residue."""
    with system_scope(session, "erasure: residue check"):
        p = erasure.plan(session, account_id, email,
                         customer_ids={customer_id} if customer_id else set(),
                         platform=platform)
        tables = {tl.name: tl for tl in subjects.person_tables()}
        left: dict[str, int] = {}
        for a in p.actions:
            if a.outcome == "withheld":
                continue
            if a.outcome == "anonymised":
                t = tables[a.table].table
                row = session.execute(select(*[t.c[c] for c in a.values]).where(
                    *[t.c[k] == v for k, v in a.pk.items()])).first() if a.values else None
                if row is None or all(row._mapping[c] == v for c, v in a.values.items()):
                    continue  # already cleared
            left[a.table] = left.get(a.table, 0) + 1
    return left


# ------------------------------------------------------------------ one erasure

@dataclasses.dataclass
class Outcome:
    counts: dict[str, int]
    withheld: list[dict[str, Any]]
    residue: dict[str, int]
    rounds: int

    @property
    def clean(self) -> bool:
        return not self.residue

    def summary(self) -> str:
        text = (f"erased: {self.counts['deleted']} deleted, {self.counts['anonymised']} "
                f"anonymised, {self.counts['withheld']} withheld")
        groups: dict[tuple[str, str], int] = {}
        for w in self.withheld:
            key = (w["table"], w.get("rule") or "no rule")
            groups[key] = groups.get(key, 0) + 1
        if groups:
            # The rule of every withheld row, by table (each row's own is in erasure_records).
            text += " (" + "; ".join(f"{t} {n} under {_rule_text(r)}"
                                     for (t, r), n in sorted(groups.items())) + ")"
        if self.residue:
            text += (". NOT COMPLETE: rows still hold data about the person after "
                     f"{self.rounds} rounds: " + ", ".join(
                         f"{t} {n}" for t, n in sorted(self.residue.items()))
                     + "; the request stays open and is tried again")
        return text


def _rule_text(key: str) -> str:
    try:
        rule = registry.retention_rule(key)
    except KeyError:
        return key
    return f"{key}: legal hold" if rule.legal_hold else key


def _email_of(session: Any, account_id: uuid.UUID) -> str | None:
    email = session.scalar(select(Account.email).where(Account.id == account_id))
    if email is None or email.endswith("@" + erasure.ACCOUNT_EMAIL_DOMAIN):
        return None
    return str(email)


def erase(db: Database, *, account_id: uuid.UUID, request_id: uuid.UUID | None,
          customer_id: uuid.UUID | None, email: str | None = None,
          journal_line: bool = True) -> Outcome:
    """Freeze, journal, erase, check; see the module docstring. ``customer_id`` None: the
    platform part (the account and everything of the person not decided by a customer)."""
    platform = customer_id is None
    with db.transaction(SYSTEM) as s:
        email = email or _email_of(s, account_id)
        freeze(s, account_id, customer_id)
    if journal_line:
        journal.record_erasure(account_id=account_id,
                               email_hash=erasure.email_hash(email) if email else None,
                               request_id=request_id, customer_id=customer_id)
    totals = {"deleted": 0, "anonymised": 0, "withheld": 0}
    withheld: dict[tuple[str, str], dict[str, Any]] = {}
    erasure_id: uuid.UUID | None = None
    left: dict[str, int] = {}
    rounds = 0
    for rounds in range(1, MAX_ROUNDS + 1):
        with db.transaction(SYSTEM) as s:
            existing = s.get(Erasure, erasure_id) if erasure_id else None
            er, p = erasure.execute(s, account_id, request_id=request_id,
                                    customer_id=customer_id, platform=platform,
                                    erasure=existing, email=email)
            erasure_id = er.id
            for a in p.actions:
                if a.outcome == "withheld":
                    withheld[(a.table, a.row_id)] = a.public()
                else:
                    totals[a.outcome] += 1
        with db.transaction(SYSTEM) as s:
            left = residue(s, account_id, email, customer_id=customer_id, platform=platform)
        if not left:
            break
        log.info("erasure residue round=%d tables=%d", rounds, len(left))
        time.sleep(ROUND_PAUSE_S * rounds)
    totals["withheld"] = len(withheld)
    return Outcome(totals, list(withheld.values()), left, rounds)


# ------------------------------------------------------------------ a request's erasures

def run_pending(db: Database, request_id: uuid.UUID) -> None:
    """Carry out whatever the erasure request ``request_id`` has approved and not yet done:
    each approved customer part, then (once no part is pending) the platform part. Safe to
    call again after a failure (e.g. the witness was down): it resumes. Two runs of one
    request at once (two parts approved together, resume-erasures beside the API) would both
    erase and both report: the second finds the request's lock taken and leaves it to the
    first."""
    from privacy.retention import NamedLock

    lock = NamedLock(db, f"{socket.gethostname()[:200]}:{uuid.uuid4().hex[:8]}",
                     name=f"erasure:{request_id.hex}", ttl=LOCK_TTL)
    if not lock.acquire():
        log.info("erasure already running elsewhere; left to it")
        return
    try:
        _run_pending(db, request_id)
    finally:
        lock.release()


def _run_pending(db: Database, request_id: uuid.UUID) -> None:
    from privacy import requests as dsr

    with db.transaction(SYSTEM) as s:
        req = s.get(DataRequest, request_id)
        if req is None or req.type != "erasure" or req.status not in dsr.OPEN \
                or req.account_id is None:
            return
        account_id = req.account_id
        with system_scope(s, "erasure: the request's parts"):
            parts = list(s.scalars(select(DataRequestPart).where(
                DataRequestPart.request_id == request_id)))
        approved = [p.id for p in parts if p.status == "approved"]
        ready = req.status == "in_progress" and not any(p.status == "pending" for p in parts)
        email = _email_of(s, account_id)
    if ready:
        # The whole person goes: freeze the account first, so their phone hears
        # "account-frozen" (401) rather than "no such site" while the parts are erased.
        with db.transaction(SYSTEM) as s:
            freeze(s, account_id, None)
    for part_id in approved:
        with db.transaction(SYSTEM) as s, system_scope(s, "erasure: a customer's part"):
            cid = s.get_one(DataRequestPart, part_id).customer_id
        outcome = erase(db, account_id=account_id, request_id=request_id, customer_id=cid,
                        email=email)
        with db.transaction(SYSTEM) as s, system_scope(s, "erasure: report a part"):
            part = s.get_one(DataRequestPart, part_id)
            req = s.get_one(DataRequest, request_id)
            dsr.part_erased(s, req, part, outcome.summary(), complete=outcome.clean)
        if not outcome.clean:
            return
    if not ready:
        return
    with db.transaction(SYSTEM) as s:
        req = s.get_one(DataRequest, request_id)
        ended = dsr.ended_customers_concerned(s, req)
        notes = dsr.parts_answer(s, req)
        dsr.erasure_starting(s, req, notes)
    for cid in ended:
        outcome = erase(db, account_id=account_id, request_id=request_id, customer_id=cid,
                        email=email)
        notes.append(f"Customer {cid} (contract ended, handled by the vendor): "
                     f"{outcome.summary()}")
        if not outcome.clean:
            with db.transaction(SYSTEM) as s:
                dsr.erasure_finished(s, s.get_one(DataRequest, request_id), notes,
                                     complete=False)
            return
    outcome = erase(db, account_id=account_id, request_id=request_id, customer_id=None,
                    email=email)
    notes.append(f"Your account: {outcome.summary()}")
    with db.transaction(SYSTEM) as s:
        dsr.erasure_finished(s, s.get_one(DataRequest, request_id), notes,
                             complete=outcome.clean)


def decide_part(db: Database, ctx: Any, part_id: uuid.UUID, *, decision: str,
                reason: str | None, actor_id: uuid.UUID | None) -> None:
    """A customer's decision on its part of a request, for the API and the console alike:
    committed in its own unit of work, then an approved erasure runs in steps of its own
    (``run_pending``). Approving again an erasure that stopped part-way (the witness was
    down) resumes it. The caller has settled its own transaction first."""
    from privacy import requests as dsr

    with db.transaction(ctx) as t:
        part = t.get_one(DataRequestPart, part_id)
        request_id = part.request_id
        if not (part.status == "approved" and decision == "approve"):
            dsr.decide(t, part, decision=decision, reason=reason, actor_id=actor_id)
    run_pending(db, request_id)


def submit(db: Database, account: Account, type_: str, details: str | None, password: str,
           *, idempotency_key: str | None) -> tuple[dict[str, Any], bool]:
    """A person's request, for the API: committed in its own unit of work (the same key
    again, also at the same moment, answers with the request the first one made), then an
    erasure is carried out at once when no customer has to decide (``run_pending``). Returns
    the request as ``requests.describe`` shows it, and whether this call made it. The caller
    has settled its own transaction first."""
    from privacy import requests as dsr

    try:
        with db.transaction(NOBODY) as s:
            req, created = dsr.submit_once(s, account, type_, details, password,
                                           idempotency_key=idempotency_key)
            request_id, made = req.id, req.type
    except IntegrityError:  # the same key at the same moment: the other one won
        with db.transaction(NOBODY) as s:
            found = dsr.replayed(s, account.id, idempotency_key, type_, details)
        if found is None:
            raise
        request_id, made, created = found, "replay", False
    if made == "erasure":
        run_pending(db, request_id)
    with db.transaction(NOBODY) as s:
        return dsr.describe(s, s.get_one(DataRequest, request_id)), created


def confirm_from_outside(db: Database, verification_id: uuid.UUID, code: str
                         ) -> dict[str, Any]:
    """A request made without signing in, confirmed by its one-time code: the check commits in
    its own unit of work even when the code is wrong (every try counts), then the request's
    erasure, if any, is carried out. The caller has settled its own transaction first."""
    from privacy import requests as dsr

    with db.transaction(NOBODY) as s:
        req, err = dsr.check_code(s, verification_id, code)
        request_id = req.id if req is not None else None
    if err is not None:
        raise err
    assert request_id is not None  # check_code answers a request or an error
    run_pending(db, request_id)
    with db.transaction(NOBODY) as s:
        return dsr.describe(s, s.get_one(DataRequest, request_id))


def resume_all(db: Database) -> int:
    """Every erasure request still open with approved work: run it (after a witness outage)."""
    with db.transaction(SYSTEM) as s:
        ids = list(s.scalars(select(DataRequest.id).where(
            DataRequest.type == "erasure", DataRequest.status == "in_progress")))
        with system_scope(s, "erasure: requests with approved parts"):
            ids += list(s.scalars(select(DataRequestPart.request_id).where(
                DataRequestPart.status == "approved")))
    for rid in dict.fromkeys(ids):
        run_pending(db, rid)
    return len(set(ids))


# ------------------------------------------------------------------ after a restore

@dataclasses.dataclass
class Reapplied:
    checked: int
    reapplied: int
    bad_lines: list[journal.BadLine]
    residue: dict[str, int]


def _when(at: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def reapply(db: Database) -> Reapplied:
    """Erase again what a restore brought back, from the witness journal (not from the
    restored tables, which may predate the erasure). Idempotent: a person with nothing left
    is not touched. Lines that do not verify are reported, never acted on."""
    lines, bad = journal.erasures()
    hashes = {line.email_hash for line in lines if line.email_hash}
    by_hash: dict[str, list[tuple[uuid.UUID, dt.datetime]]] = {}
    with db.transaction(SYSTEM) as s:
        if hashes:
            for acc_id, addr, created in s.execute(
                    select(Account.id, Account.email, Account.created_at)):
                h = erasure.email_hash(addr)
                if h in hashes:
                    by_hash.setdefault(h, []).append((acc_id, created))
    done = 0
    left: dict[str, int] = {}
    for line in lines:
        targets = [line.account_id]
        erased_at = _when(line.at)
        for acc_id, created in by_hash.get(line.email_hash or "", []):
            # The same person under another id, restored with the old data. An account made
            # with that address after the erasure is someone signing up again: theirs to keep.
            if acc_id not in targets and erased_at is not None and created < erased_at:
                targets.append(acc_id)
        for acc_id in targets:
            with db.transaction(SYSTEM) as s:
                email = _email_of(s, acc_id)
                found = residue(s, acc_id, email, customer_id=line.customer_id,
                                platform=line.customer_id is None)
            if not found:
                continue
            outcome = erase(db, account_id=acc_id, request_id=line.request_id,
                            customer_id=line.customer_id, email=email, journal_line=False)
            done += 1
            for t, n in outcome.residue.items():
                left[t] = left.get(t, 0) + n
            log.info("erasure re-applied journal_line=%d rounds=%d", line.line_no,
                     outcome.rounds)
    return Reapplied(len(lines), done, bad, left)
