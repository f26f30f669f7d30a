"""Emitting events to the customer's webhooks: one outbox row per endpoint that subscribed,
written in the caller's transaction (a rolled-back change emits nothing).

Cheap when nobody listens: one indexed INSERT ... SELECT that inserts nothing, and no
statement at all when the caller already knows (the check-in's and the door opening's
lookups answer "does anyone listen?" in their own statement: entryfy.ops.entries passes the
answer on, the door opening records it with ``note_listening``). Payloads carry ids and what a
receiver needs to act (times, outcome), never names, e-mail addresses or identity numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Text,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.orm import Session

from entryfy import clock
from models import WebhookDelivery, WebhookEndpoint
from models.base import UTCDateTime
from models.vocab import WEBHOOK_EVENTS

_EP = WebhookEndpoint.__table__.c


def listening(event_type: str, customer_id: Any) -> Any:
    """A SQL condition: the customer has an active endpoint for ``event_type`` (for a hot
    statement to answer in its own round trip)."""
    return exists().where(and_(_EP.customer_id == customer_id, _EP.active,
                               _EP.events.like(f"%,{event_type},%")))


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def payload(event_type: str, data: dict[str, Any], at: dt.datetime) -> str:
    return json.dumps({"type": event_type, "timestamp": _encode(at),
                       "data": {k: _encode(v) for k, v in data.items()}},
                      separators=(",", ":"), sort_keys=True)


def _new_id(dialect: str) -> Any:
    """A fresh UUID per inserted row, made by the database (one statement for any number of
    endpoints): gen_random_uuid() on PostgreSQL (13+), 16 random bytes as the 32 hex digits
    SQLAlchemy's Uuid type stores on SQLite."""
    if dialect == "postgresql":
        return func.gen_random_uuid()
    return func.lower(func.hex(func.randomblob(16)))


_KNOWN = "entryfy.events.listening"


def note_listening(session: Session, customer_id: uuid.UUID, event_type: str,
                   listening: bool) -> None:
    """Record the answer to ``listening(event_type, customer_id)`` that a statement of the
    caller read in the session's current transaction: ``emit`` of that event for that
    customer then runs no statement when the answer was no (until the transaction ends)."""
    session.info[_KNOWN] = (session.get_transaction(), customer_id, event_type, listening)


def _known_silent(session: Session, customer_id: uuid.UUID, event_type: str) -> bool:
    known = session.info.get(_KNOWN)
    if known is None:
        return False
    tx, cid, etype, listening = known
    return (tx is not None and tx is session.get_transaction() and cid == customer_id
            and etype == event_type and not listening)


def emit(session: Session, customer_id: uuid.UUID, event_type: str, data: dict[str, Any],
         *, conn: Connection | None = None) -> int:
    """Queue ``event_type`` with ``data`` for each subscribed endpoint; how many queued.

    One ``INSERT ... SELECT`` from the customer's matching endpoints: no row and no second
    statement when none listens. Runs as Core on the session's connection (no ORM objects,
    no flush of its own): safe on the hot paths and under any tenant scope that shows the
    customer's rows. One message id per event (the webhook-id every endpoint gets)."""
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown event type {event_type!r}")
    if _known_silent(session, customer_id, event_type):
        return 0
    conn = conn or session.connection()
    now = clock.now()
    d = WebhookDelivery.__table__.c
    rows = select(
        _new_id(conn.dialect.name), literal(now, UTCDateTime()), _EP.customer_id, _EP.id,
        literal(event_type, String()), literal(f"msg_{uuid.uuid4().hex}", String()),
        literal(payload(event_type, data, now), Text()), literal("pending", String()),
        literal(0, Integer()), literal(now, UTCDateTime()),
    ).where(_EP.customer_id == customer_id, _EP.active, _EP.events.like(f"%,{event_type},%"))
    return conn.execute(insert(WebhookDelivery.__table__).from_select(
        [d.id, d.created_at, d.customer_id, d.endpoint_id, d.event_type, d.message_id,
         d.payload, d.status, d.attempts, d.next_attempt_at], rows)).rowcount
