"""Door health: alerts for a door forced open, held open, a tampered reader (reported by the
door's controller in its events) and a controller silent past its heartbeat (the worker's
``controller_offline`` job calls ``on_controller_offline``). Each alert goes to the
customer's webhooks as ``door_alert.created``; alerts name doors and controllers, no person.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.ops import events
from models import Controller, DoorAlert

log = logging.getLogger(__name__)

# The types a controller reports in POST /controller/events (controller_offline is ours).
CONTROLLER_ALERTS = ("forced_open", "held_open", "tamper")


def raise_alert(session: Session, *, customer_id: uuid.UUID, type: str,
                occurred_at: dt.datetime, door_id: uuid.UUID | None = None,
                controller_id: uuid.UUID | None = None,
                controller_event_id: uuid.UUID | None = None) -> DoorAlert | None:
    """Record the alert and emit door_alert.created; None when the controller's event was
    recorded already (a retried post)."""
    alert = DoorAlert(id=uuid.uuid4(), customer_id=customer_id, type=type, door_id=door_id,
                      controller_id=controller_id, controller_event_id=controller_event_id,
                      occurred_at=occurred_at, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        return None
    events.emit(session, customer_id, "door_alert.created", {
        "id": alert.id, "type": type, "door_id": door_id, "controller_id": controller_id,
        "occurred_at": occurred_at,
    })
    log.warning("door alert type=%s door=%s controller=%s customer=%s", type, door_id,
                controller_id, customer_id)
    return alert


def on_controller_offline(session: Session, c: Controller) -> None:
    """The worker found the controller silent past its heartbeat."""
    raise_alert(session, customer_id=c.customer_id, type="controller_offline",
                occurred_at=clock.now(), controller_id=c.id)
