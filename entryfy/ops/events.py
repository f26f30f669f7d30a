"""Emitting events to the customer's webhooks: one outbox row per endpoint that subscribed,
written in the caller's transaction (a rolled-back change emits nothing).

Cheap when nobody listens: one indexed SELECT of the customer's matching endpoints, and none
at all when the caller already knows (the check-in's lookup answers "does anyone listen?" in
its own statement, see entryfy.ops.entries). Payloads carry ids and what a receiver needs to
act (times, outcome), never names, e-mail addresses or identity numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select
from sqlalchemy.orm import Session

from entryfy import clock
from models import WebhookDelivery, WebhookEndpoint
from models.outbox import WEBHOOK_EVENTS

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


def emit(session: Session, customer_id: uuid.UUID, event_type: str, data: dict[str, Any],
         *, conn: Connection | None = None) -> int:
    """Queue ``event_type`` with ``data`` for each subscribed endpoint; how many queued.

    Runs as Core on the session's connection (no ORM objects, no flush of its own): safe on
    the hot paths and under any tenant scope that shows the customer's rows."""
    if event_type not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown event type {event_type!r}")
    conn = conn or session.connection()
    endpoints = conn.execute(
        select(_EP.id).where(_EP.customer_id == customer_id, _EP.active,
                             _EP.events.like(f"%,{event_type},%"))
    ).scalars().all()
    if not endpoints:
        return 0
    now = clock.now()
    body = payload(event_type, data, now)
    conn.execute(insert(WebhookDelivery.__table__), [
        {"id": uuid.uuid4(), "created_at": now, "customer_id": customer_id,
         "endpoint_id": ep, "event_type": event_type, "message_id": f"msg_{uuid.uuid4().hex}",
         "payload": body, "status": "pending", "attempts": 0, "next_attempt_at": now}
        for ep in endpoints
    ])
    return len(endpoints)
