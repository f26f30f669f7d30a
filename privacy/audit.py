"""The append-only, hash-chained audit trail.

Each customer has its own chain (``customer:<id>``); platform events form the ``platform``
chain. A record's hash covers its content and the previous record's hash, so changing or
removing any record breaks every hash after it, which ``verify`` finds. Records hold
references (ids, actions), never personal data in clear.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from entryfy import clock
from models.audit import AuditEvent

GENESIS = "0" * 64


def chain_name(customer_id: uuid.UUID | None) -> str:
    return f"customer:{customer_id}" if customer_id else "platform"


def _payload(ev: AuditEvent) -> str:
    data = {
        "chain": ev.chain,
        "seq": ev.seq,
        "customer_id": str(ev.customer_id) if ev.customer_id else None,
        "occurred_at": ev.occurred_at.isoformat(timespec="microseconds"),
        "actor_id": str(ev.actor_id) if ev.actor_id else None,
        "actor_role": ev.actor_role,
        "action": ev.action,
        "object_type": ev.object_type,
        "object_id": ev.object_id,
        "subject_id": str(ev.subject_id) if ev.subject_id else None,
        "ticket_id": str(ev.ticket_id) if ev.ticket_id else None,
        "prev_hash": ev.prev_hash,
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def compute_hash(ev: AuditEvent) -> str:
    return hashlib.sha256(_payload(ev).encode()).hexdigest()


def record(
    session: Session,
    *,
    action: str,
    customer_id: uuid.UUID | None,
    actor_id: uuid.UUID | None = None,
    actor_role: str | None = None,
    object_type: str | None = None,
    object_id: object | None = None,
    subject_id: uuid.UUID | None = None,
    ticket_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one event to its chain. Flushes; the caller's transaction commits it."""
    chain = chain_name(customer_id)
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends per chain until commit, so two writers never fork it.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:c))"), {"c": chain})
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    ev = AuditEvent(
        id=uuid.uuid4(),
        chain=chain,
        seq=seq,
        customer_id=customer_id,
        occurred_at=clock.now(),
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        subject_id=subject_id,
        ticket_id=ticket_id,
        prev_hash=prev,
    )
    ev.hash = compute_hash(ev)
    session.add(ev)
    session.flush()
    return ev


@dataclasses.dataclass
class ChainBreak:
    chain: str
    seq: int
    problem: str


def verify(session: Session, chain: str | None = None) -> Iterator[ChainBreak]:
    """Yield every break: a changed record, a removed one (gap or hash mismatch), a reordering."""
    chains = [chain] if chain else list(
        session.scalars(select(AuditEvent.chain).group_by(AuditEvent.chain))
    )
    for name in chains:
        prev_hash, expected_seq = GENESIS, 1
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.chain == name).order_by(AuditEvent.seq)
            .execution_options(yield_per=1000)
        )
        for ev in rows:
            if ev.seq != expected_seq:
                yield ChainBreak(name, ev.seq, f"record {expected_seq} is missing")
            if ev.prev_hash != prev_hash:
                yield ChainBreak(name, ev.seq, "previous-hash link broken")
            if compute_hash(ev) != ev.hash:
                yield ChainBreak(name, ev.seq, "record content changed")
            prev_hash, expected_seq = ev.hash, ev.seq + 1


def count(session: Session, customer_id: uuid.UUID | None) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent).where(
            AuditEvent.chain == chain_name(customer_id)
        )
    ) or 0
