"""The executors of the retention rules: one registry, beside the rules it carries out.

Every rule the registry (privacy/registry.py) marks automated has its executor here, and
:func:`missing` lists any that has none (a test keeps it empty). An executor is a callable
taking a :class:`Batch` and returning ``{action: count}`` (e.g. ``{"deleted": 12}``); it
processes at most ``batch.limit`` rows and flushes, never commits (the job in
privacy/retention.py commits each batch). With ``batch.dry_run`` it returns the counts of
everything due and changes nothing. The job stops calling it when it returns all zeros.

Executors used to register themselves from the modules owning their tables (a string list of
modules the job imported); they live here now, over models/ only, so privacy/ imports nothing
of entryfy.ops and a job that never built the app still sees every executor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
)
from sqlalchemy.orm import Session, aliased

from entryfy.db import rows_written
from models import (
    AccessToken,
    AuditEvent,
    DataRequest,
    Entry,
    EntryCorrection,
    Erasure,
    Membership,
    RetentionRun,
)
from models.outbox import OutboxMail, WebhookDelivery
from models.site_ops import Inspection
from models.support import AccessGrant, Ticket, TicketMessage
from models.tenancy import system_scope
from privacy import audit, registry


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
# The one registry: retention rule key -> its executor. Filled below, beside the rules.
EXECUTORS: dict[str, Executor] = {}


def register(rule_key: str, executor: Executor) -> None:
    """Let the job carry out ``rule_key`` (which must be in the registry) with ``executor``."""
    registry.retention_rule(rule_key)  # KeyError for an undeclared rule
    EXECUTORS[rule_key] = executor


def executors() -> dict[str, Executor]:
    return dict(EXECUTORS)


def missing() -> list[str]:
    """Rules the registry marks automated (no ``carried_out_by``, a period) that have no
    executor: each is a promise nothing keeps. The tests hold this list empty."""
    return [r.key for r in registry.retention_rules()
            if r.carried_out_by is None and r.period is not None and r.key not in EXECUTORS]


def delete_rows(model: type[Any], due: Callable[[dt.datetime], ColumnElement[bool]]
                ) -> Executor:
    """An executor deleting rows of ``model`` (primary key ``id``) for which ``due(cutoff)``
    holds: ``DELETE ... WHERE id IN (SELECT id ... LIMIT n)``, one statement per batch."""

    def run(b: Batch) -> dict[str, int]:
        cond = due(b.cutoff)
        if b.dry_run:
            n = b.session.scalar(select(func.count()).select_from(model).where(cond)) or 0
            return {"deleted": n}
        n = rows_written(b.session.execute(
            delete(model).where(model.id.in_(select(model.id).where(cond).limit(b.limit)))
            .execution_options(synchronize_session=False)
        ))
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
    corrections = rows_written(s.execute(
        delete(EntryCorrection).where(EntryCorrection.entry_id.in_(ids))
        .execution_options(synchronize_session=False)
    ))
    entries = rows_written(s.execute(
        delete(Entry).where(Entry.id.in_(ids)).execution_options(synchronize_session=False)
    ))
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
    runs = rows_written(s.execute(
        delete(RetentionRun).where(RetentionRun.id.in_(
            select(RetentionRun.id).where(RetentionRun.finished_at < b.cutoff).limit(b.limit)
        )).execution_options(synchronize_session=False)
    ))
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


# --------------------------------------------------------------------------- support_case

def retire_support_cases(session: Session, now: dt.datetime, *, limit: int = 500,
                         dry_run: bool = False) -> int:
    """Rule ``support_case``: four weeks after a ticket was closed, remove its personal
    content (subject, messages, grants, who opened it); the bare ticket (ids, status, times)
    stays, so audit records naming it still resolve.

    One batch of at most ``limit`` tickets; returns how many were handled (with ``dry_run``:
    how many are due, changing nothing); 0 means nothing more is due. Idempotent, and safe
    to run from several hosts at once (PostgreSQL: rows another run holds are skipped).
    """
    cutoff = registry.retention_rule("support_case").cutoff(now)
    if cutoff is None:
        return 0
    with system_scope(session, "retention: support_case"):
        stmt = (select(Ticket)
                .where(Ticket.status == "closed", Ticket.closed_at < cutoff,
                       Ticket.content_removed_at.is_(None))
                .order_by(Ticket.closed_at, Ticket.id)
                .limit(limit))
        if session.get_bind().dialect.name == "postgresql" and not dry_run:
            stmt = stmt.with_for_update(skip_locked=True)
        if dry_run:
            return session.scalar(
                select(func.count()).select_from(stmt.order_by(None).limit(None).subquery())
            ) or 0
        due = list(session.scalars(stmt))
        if not due:
            return 0
        ids = [t.id for t in due]
        session.execute(delete(TicketMessage).where(TicketMessage.ticket_id.in_(ids))
                        .execution_options(synchronize_session=False))
        session.execute(delete(AccessGrant).where(AccessGrant.ticket_id.in_(ids))
                        .execution_options(synchronize_session=False))
        for t in due:
            t.subject = None
            t.opened_by_id = None
            t.content_removed_at = now
        session.flush()
    return len(due)


def _support_cases(b: Batch) -> dict[str, int]:
    return {"tickets_cleared": retire_support_cases(b.session, b.now, limit=b.limit,
                                                    dry_run=b.dry_run)}


register("support_case", _support_cases)


# --------------------------------------------------------------------------- request_record

def _requests_due(cutoff: dt.datetime) -> ColumnElement[bool]:
    return and_(DataRequest.closed_at.is_not(None), DataRequest.closed_at < cutoff)


def _request_records(b: Batch) -> dict[str, int]:
    """Rule ``request_record``: a data-subject request, its parts, history and codes (ON
    DELETE CASCADE) two years after it was closed; with it the erasure proof in the database
    (tombstone and per-row records) of erasures older than that. What erasing again after a
    restore needs is in the witness journal, not here."""
    s = b.session
    old_erasures = Erasure.performed_at < b.cutoff
    if b.dry_run:
        return {
            "requests_deleted": s.scalar(select(func.count()).select_from(DataRequest)
                                         .where(_requests_due(b.cutoff))) or 0,
            "erasures_deleted": s.scalar(select(func.count()).select_from(Erasure)
                                         .where(old_erasures)) or 0,
        }
    reqs = rows_written(s.execute(
        delete(DataRequest).where(DataRequest.id.in_(
            select(DataRequest.id).where(_requests_due(b.cutoff)).limit(b.limit)))
        .execution_options(synchronize_session=False)))
    ers = rows_written(s.execute(
        delete(Erasure).where(Erasure.id.in_(
            select(Erasure.id).where(old_erasures).limit(b.limit)))
        .execution_options(synchronize_session=False)))
    return {"requests_deleted": reqs, "erasures_deleted": ers}


register("request_record", _request_records)


# ------------------------------------------------------- outgoing mail and webhook deliveries

# Rule ``outbox_mail``: a mail's row (address, encrypted content) once it was sent or given up.
register("outbox_mail", delete_rows(
    OutboxMail, lambda cutoff: (OutboxMail.status != "pending") & (OutboxMail.sent_at < cutoff)))
# Rule ``webhook_log``: the deliveries log, once a delivery is no longer pending.
register("webhook_log", delete_rows(
    WebhookDelivery, lambda cutoff: (WebhookDelivery.status != "pending")
    & (WebhookDelivery.created_at < cutoff)))

# Rule ``inspection_access``: an inspector's access, two years after it expired or was revoked.
register("inspection_access", delete_rows(
    Inspection, lambda cutoff: or_(Inspection.expires_at < cutoff, Inspection.revoked_at < cutoff)))
