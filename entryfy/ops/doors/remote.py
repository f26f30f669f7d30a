"""Remote unlock: an admin or operator opens a door from the admin tools. It is queued as an
``unlock`` command for the door's controller (delivered once, within 60 s, like an app
opening), recorded as an access event of the person who asked (method ``remote``) and
audited. A door without a controller cannot be opened remotely; during a lockdown or
unlock-all of its site neither (end that first)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import Conflict, Unprocessable
from entryfy.ops.auditing import record_change
from entryfy.ops.doors.decision import emit_access_event
from entryfy.ops.doors.vocabulary import UNLOCK_COMMAND_TTL
from models import AccessEvent, Door, Membership, UnlockCommand


def remote_unlock(session: Session, door: Door, *, by: Membership) -> UnlockCommand:
    if door.controller_id is None:
        raise Unprocessable("This door has no controller to unlock it.",
                            slug="door-without-controller")
    if door.site.lockdown_id is not None:
        raise Conflict("A lockdown or unlock-all is in force at this door's site.",
                       slug="lockdown-active")
    now = clock.now()
    event = AccessEvent(
        id=uuid.uuid4(), customer_id=door.customer_id, occurred_at=now, door_id=door.id,
        account_id=by.account_id, membership_id=by.id, method="remote", direction=None,
        outcome="granted", reason=None, source="app", recorded_at=now)
    session.add(event)
    cmd = UnlockCommand(id=uuid.uuid4(), customer_id=door.customer_id,
                        controller_id=door.controller_id, door_id=door.id, event_id=event.id,
                        action="unlock", expires_at=now + UNLOCK_COMMAND_TTL, created_at=now)
    session.add(cmd)
    session.flush()
    emit_access_event(session, event)
    record_change(session, by, "door.remote_unlock", customer_id=door.customer_id,
                  object_type="door", object_id=door.id)
    return cmd
