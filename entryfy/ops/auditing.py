"""Audit events for admin changes, written by the operation that makes the change (never by
a view), so the console, the CLI and the API leave the same trail.

``by`` is the acting membership (``api.access.require_customer`` returns it): its account and
role are recorded. None: the system (a job, a seed, a test arranging data).
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from models import Membership
from privacy import audit


def record_change(session: Session, by: Membership | None, action: str, *,
                  customer_id: uuid.UUID, object_type: str, object_id: object,
                  subject_id: uuid.UUID | None = None) -> None:
    audit.record(session, action=action, customer_id=customer_id,
                 actor_id=by.account_id if by is not None else None,
                 actor_role=by.role if by is not None else None,
                 object_type=object_type, object_id=object_id, subject_id=subject_id)


def record_read(session: Session, by: Membership | None, action: str, *,
                customer_id: uuid.UUID, object_type: str, object_id: object | None = None,
                subject_id: uuid.UUID | None = None) -> None:
    """An admin's read of personal data (members, entries, access events, an export): the
    view calls it once it has what it shows, as the read is the view's query."""
    record_change(session, by, action, customer_id=customer_id, object_type=object_type,
                  object_id=object_id, subject_id=subject_id)
