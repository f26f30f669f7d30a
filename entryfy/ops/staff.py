"""Vendor staff (support, platform admin) and sign-in events the platform audits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from entryfy.errors import Unauthorized
from models import Account, Device
from privacy import audit


def check_second_factor(session: Session, account: Account, otp: str | None) -> None:
    """Vendor staff must present a second factor. Until TOTP enrolment exists, they fail closed."""
    if not account.is_staff:
        return
    raise Unauthorized(
        "A second factor is required for this account.", slug="otp-required"
    )


def note_new_device(session: Session, account: Account, device: Device) -> None:
    """A sign-in from a device never seen on this account goes into the platform audit chain."""
    audit.record(
        session,
        action="account.new_device_sign_in",
        customer_id=None,
        actor_id=account.id,
        actor_role="self",
        object_type="device",
        object_id=device.id,
        subject_id=account.id,
    )
