"""Loading one of a customer's objects: the one rule every operation shares."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.errors import NotFound
from privacy import audit

T = TypeVar("T")


def load_owned(session: Session, model: type[T], customer_id: uuid.UUID, obj_id: uuid.UUID,
               what: str, *, for_update: bool = False) -> T:
    """``model`` row ``obj_id`` of ``customer_id``, through the (scoped) session.

    The customer is named explicitly as well as by the session's scope: another customer's
    object is "not found", exactly like a missing one, so ids never reveal existence.
    ``for_update`` locks the row (PostgreSQL) for read-modify-write sequences.
    """
    m: Any = model
    stmt = select(m).where(m.id == obj_id, m.customer_id == customer_id)
    if for_update:
        stmt = stmt.with_for_update()
    obj = session.scalar(stmt)
    if obj is None:
        raise NotFound(f"No such {what}.")
    return obj


def revoke_at_site(session: Session, model: Any, site: Any, obj_id: uuid.UUID, what: str, *,
                   actor_id: uuid.UUID | None) -> None:
    """Revoke a site's device or code (a kiosk, an inspector's access): another customer's
    or another site's id is 404; revoking again changes nothing and writes no second audit
    record. One rule for every such object; the audit event is ``<what>.revoked``."""
    obj = load_owned(session, model, site.customer_id, obj_id, what)
    if obj.site_id != site.id:
        raise NotFound(f"No such {what}.")
    if obj.revoked_at is not None:
        return
    obj.revoked_at = clock.now()
    session.flush()
    audit.record(session, action=f"{what}.revoked", customer_id=site.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type=what, object_id=obj.id)
