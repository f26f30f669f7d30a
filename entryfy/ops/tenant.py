"""Loading one of a customer's objects: the one rule every operation shares."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from entryfy.errors import NotFound

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
