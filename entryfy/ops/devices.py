"""The person's own devices: list them, and sign one out (revoke every token issued to it).

A device is known only by the keyed hash of the id the app sent; its tokens are bound to it
(``access_tokens.device_id``), so revoking by device ends every sign-in from that phone.
"""

from __future__ import annotations

import dataclasses
import uuid

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from entryfy import clock
from entryfy.db import rows_written
from entryfy.errors import NotFound
from models import AccessToken, Account, Device


@dataclasses.dataclass(frozen=True)
class DeviceView:
    device: Device
    active: bool  # at least one live token: the device is signed in


def _live(now):
    return (AccessToken.revoked_at.is_(None), AccessToken.expires_at > now)


def list_devices(session: Session, account: Account) -> list[DeviceView]:
    now = clock.now()
    live = exists().where(AccessToken.device_id == Device.id, *_live(now)).label("active")
    rows = session.execute(
        select(Device, live)
        .where(Device.account_id == account.id)
        .order_by(Device.created_at.desc(), Device.id)
    ).all()
    return [DeviceView(d, bool(active)) for d, active in rows]


def revoke_device(session: Session, account: Account, device_id: uuid.UUID) -> int:
    """Revoke every live token of the account's device; returns how many. Not the account's
    device (or none such): NotFound, alike. Revoking again is harmless (0)."""
    device = session.scalar(
        select(Device).where(Device.id == device_id, Device.account_id == account.id)
    )
    if device is None:
        raise NotFound("No such device.")
    now = clock.now()
    result = session.execute(
        update(AccessToken)
        .where(AccessToken.device_id == device.id, AccessToken.account_id == account.id,
               *_live(now))
        .values(revoked_at=now)
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return rows_written(result)
