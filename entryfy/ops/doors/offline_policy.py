"""The offline policy: how many days a door controller may decide from its last signed list
(``Customer.door_list_trust_days``: default 7, at most 30, as Avigilon Alta caps it). The list
carries ``trust_until``; past it the controller refuses every credential (``list_expired``)
until it reaches the server again. Shorter is safer (a revoked card stops sooner on a cut-off
controller); longer keeps doors working through a long outage."""

from __future__ import annotations

from sqlalchemy.orm import Session

from entryfy.errors import ValidationFailed
from entryfy.ops.auditing import record_change
from models import Customer, Membership

DEFAULT_TRUST_DAYS = 7
MAX_TRUST_DAYS = 30


def set_trust_days(session: Session, customer: Customer, days: int, *,
                   by: Membership | None = None) -> Customer:
    if not 1 <= days <= MAX_TRUST_DAYS:
        raise ValidationFailed({"trust_days": [f"From 1 to {MAX_TRUST_DAYS} days."]})
    customer.door_list_trust_days = days
    session.flush()
    record_change(session, by, "door_offline_policy.update", customer_id=customer.id,
                  object_type="customer", object_id=customer.id)
    return customer
