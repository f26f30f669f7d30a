"""Short-term guests: a membership with a window, accesses to the doors, a PIN and a QR code sent
by e-mail."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from entryfy import clock, mail
from entryfy.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from entryfy.ops.auditing import record_change
from entryfy.ops.doors.admin import create_access, delete_access
from entryfy.ops.doors.credentials import _add_credential, _revoke_where, issue_pin
from entryfy.ops.doors.schedules import _zone, check_validity
from entryfy.ops.doors.vocabulary import GUEST_MAX_DAYS
from entryfy.ops.signs import qr_png
from models import (
    Access,
    AccessMember,
    Customer,
    Door,
    Membership,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class GuestInvitation:
    membership: Membership
    accesses: list[Access]


def invite_guest(session: Session, *, customer_id: uuid.UUID, email: str,
                 valid_from: dt.datetime, valid_to: dt.datetime,
                 door_ids: Sequence[uuid.UUID], first_name: str | None = None,
                 invited_by: uuid.UUID | None = None,
                 by: Membership | None = None) -> GuestInvitation:
    """A short-term guest: a membership with role "guest" valid from/to, accesses to the doors
    (by PIN or personal QR code, at the doors' readers), and a PIN and QR code sent by e-mail.

    Inviting the same e-mail again renews the window, the doors and both codes. The guest's
    name is used in the e-mail only, not stored (minimisation).
    """
    from entryfy.ops.accounts import find_by_email, normalise_email

    email = normalise_email(email)
    now = clock.now()
    check_validity(valid_from, valid_to)
    if valid_to <= now:
        raise Unprocessable("The guest's window has already ended.", slug="guest-window-past")
    if valid_to - valid_from > dt.timedelta(days=GUEST_MAX_DAYS):
        raise Unprocessable(f"Guests are short-term: at most {GUEST_MAX_DAYS} days.",
                            slug="guest-window-too-long")
    ids = list(dict.fromkeys(door_ids))
    if not ids:
        raise ValidationFailed({"door_ids": ["At least one door."]})
    doors = list(session.scalars(
        select(Door).where(Door.id.in_(ids), Door.customer_id == customer_id)))
    if len(doors) != len(ids):
        raise NotFound("No such door.", slug="door-not-found")

    account = find_by_email(session, email)
    same_person = func.lower(Membership.invited_email) == email
    if account is not None:
        same_person = same_person | (Membership.account_id == account.id)
    existing = session.scalar(select(Membership).where(
        Membership.customer_id == customer_id, same_person))
    if existing is not None and existing.role != "guest":
        raise Conflict("That person is already a member of this customer.",
                       slug="already-member")
    if existing is None:
        existing = Membership(id=uuid.uuid4(), customer_id=customer_id, role="guest",
                              account_id=account.id if account else None,
                              invited_email=None if account else email, active=True)
        session.add(existing)
    existing.active = True
    existing.valid_from, existing.valid_to = valid_from, valid_to
    session.flush()
    # Renewal: the guest's previous accesses and codes end here.
    old = select(AccessMember.access_id).where(AccessMember.membership_id == existing.id)
    for access in list(session.scalars(select(Access).where(
            Access.id.in_(old), Access.guest.is_(True), Access.customer_id == customer_id))):
        delete_access(session, access, by=by)
    _revoke_where(session, existing, by)
    by_site: dict[uuid.UUID, list[Door]] = {}
    for d in doors:
        by_site.setdefault(d.site_id, []).append(d)
    accesses = [
        create_access(session, customer_id=customer_id, name="Guest", guest=True,
                      door_ids=[d.id for d in site_doors], member_ids=[existing.id],
                      methods=["pin", "qr"], valid_from=valid_from, valid_to=valid_to, by=by)
        for site_doors in by_site.values()
    ]
    # One PIN per site of the visit: a PIN opens the doors of its own site only.
    pins = []
    for site_doors in by_site.values():
        _, pin = issue_pin(session, existing, site_id=site_doors[0].site_id,
                           valid_from=valid_from, valid_to=valid_to, by=by)
        pins.append((site_doors[0].site.name, pin))
    pin_lines = (f"Your PIN for the door keypads: {pins[0][1]}" if len(pins) == 1 else
                 "\n".join(f"Your PIN for the door keypads at {name}: {pin}"
                           for name, pin in sorted(pins)))
    qr = "EFG1." + secrets.token_urlsafe(24)
    _add_credential(session, existing, "qr", qr, valid_from=valid_from, valid_to=valid_to,
                    by=by)
    customer = session.get(Customer, customer_id)
    tz = _zone(doors[0].site.timezone)
    greeting = f"Hello {first_name}," if first_name else "Hello,"
    mail.send(email, f"Your visit to {customer.name if customer else 'us'}",
              f"{greeting}\n\nYou are welcome from "
              f"{valid_from.astimezone(tz):%Y-%m-%d %H:%M} to "
              f"{valid_to.astimezone(tz):%Y-%m-%d %H:%M} ({tz.key}).\n"
              f"Doors: {', '.join(sorted(d.name for d in doors))}\n\n"
              f"{pin_lines}\n"
              f"Your QR code for the door readers is attached as an image: show it on "
              f"your phone or printed. Its text, should a reader ask for it:\n"
              f"{qr}\n\nNo app is needed. The codes stop working when your visit ends.",
              attachments=[mail.Attachment("entryfy-qr.png", "image/png", qr_png(qr))])
    record_change(session, by, "guest.invite", customer_id=customer_id,
                  object_type="membership", object_id=existing.id,
                  subject_id=existing.account_id)
    log.info("guest invited membership=%s by=%s", existing.id, invited_by)
    return GuestInvitation(existing, accesses)
