"""Invitations: a membership that waits for the invited person's consent.

An admin (or the vendor, for a customer's first admin) invites an e-mail address; the
membership row keeps the address (``invited_email``) and no account. It binds only when a
person signed in with that address, proven by a code (entryfy.ops.mailbox), accepts it. So
nobody becomes a customer's member, let alone its admin, by registering someone else's
address, and an admin who invites an address learns nothing about whether it has an account
(the answer is the same "pending" either way, and no name is shown until the person joins).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from entryfy import mail
from entryfy.errors import Conflict, NotFound
from entryfy.ops.mailbox import normalise_email, one_line
from models import Account, Customer, Membership
from models.tenancy import system_scope
from privacy import audit

ROLE_WORDS = {"admin": "an admin", "member": "a member", "operator": "an operator"}


def send_invitation(customer_name: str, email: str, role: str) -> None:
    """The invitation by mail, with the customer's name: the person decides in the app."""
    name = one_line(customer_name)
    mail.send(email, f"You are invited to {name} on Entryfy",
              f"{name} has invited you to join them on Entryfy as "
              f"{ROLE_WORDS.get(role, 'a ' + role)}.\n\nSign in to the Entryfy app with this "
              "address (register first if you have no account) and accept the invitation "
              "under your invitations. Until you accept, you are not a member and the "
              "company sees nothing about you but this address. If you do not know them, "
              "ignore this message.")


@dataclasses.dataclass(frozen=True)
class Invitation:
    id: uuid.UUID
    customer_id: uuid.UUID
    customer_name: str
    role: str
    invited_at: dt.datetime


def _open_invitations(account: Account):
    return (
        select(Membership, Customer.name)
        .join(Customer, Customer.id == Membership.customer_id)
        .where(Membership.account_id.is_(None),
               func.lower(Membership.invited_email) == normalise_email(account.email),
               Customer.status == "active")
    )


def pending_for(session: Session, account: Account) -> list[Invitation]:
    """Invitations to the person's proven address, oldest first (none while unproven)."""
    if account.email_verified_at is None:
        return []
    with system_scope(session, "invitations to the signed-in person's proven address"):
        rows = session.execute(
            _open_invitations(account).order_by(Membership.created_at, Membership.id)
        ).all()
    return [Invitation(m.id, m.customer_id, name, m.role, m.created_at) for m, name in rows]


def accept(session: Session, account: Account, invitation_id: uuid.UUID) -> Membership:
    """Bind the invitation to the person: from now on a member. 404 for anything that is not
    an open invitation to their proven address; 409 when already a member there."""
    if account.email_verified_at is None:
        raise NotFound("No such invitation.", slug="invitation-not-found")
    with system_scope(session, "accept an invitation to the signed-in person's address"):
        found = session.execute(
            _open_invitations(account).where(Membership.id == invitation_id)
            .with_for_update(of=Membership)
        ).first()
        if found is None:
            raise NotFound("No such invitation.", slug="invitation-not-found")
        m = found[0]
        already = session.scalar(select(Membership.id).where(
            Membership.customer_id == m.customer_id, Membership.account_id == account.id))
        if already is not None:
            raise Conflict("You are already a member of this customer.", slug="already-member")
        try:
            with session.begin_nested():
                m.account_id = account.id
                m.invited_email = None
                session.flush()
        except IntegrityError:
            raise Conflict("You are already a member of this customer.",
                           slug="already-member") from None
        audit.record(session, action="member.joined", customer_id=m.customer_id,
                     actor_id=account.id, actor_role="self", object_type="membership",
                     object_id=m.id, subject_id=account.id)
    return m
