"""Support cases: the vendor as the customer's processor, on the customer's terms.

A customer's admins open tickets and exchange messages with the vendor's support staff.
Support reads the tickets themselves without a grant (the customer sent them), but the
customer's data (members, sites, entries) only while a live grant the customer gave *for that
ticket* covers *that scope*; the check runs on every request, so expiry and revocation take
effect at once. Every support read goes into the customer's audit trail with the ticket.

Plain functions over a session: they flush, never commit, and raise ``entryfy.errors``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from entryfy import clock, mail
from entryfy.errors import Forbidden, NotFound, Unprocessable, ValidationFailed
from entryfy.ops.tenant import load_owned
from models import Account, Customer
from models.customers import admin_addresses
from models.support import AccessGrant, Ticket, TicketMessage
from models.tenancy import scope_to, system_scope
from models.vocab import GRANT_SCOPES
from privacy import audit, executors

MIN_GRANT_HOURS = 1
MAX_GRANT_HOURS = 168
MAX_MESSAGES_PER_TICKET = 500
RETENTION_RULE = "support_case"

# What each scope reads, for the audit record.
SCOPE_OBJECT_TYPES = {"members": "membership", "sites": "site", "entries": "entry"}


# ------------------------------------------------------------------ the customer's side

def open_ticket(session: Session, *, customer_id: uuid.UUID, author: Account, subject: str,
                body: str) -> Ticket:
    subject, body = _text("subject", subject), _text("body", body)
    now = clock.now()
    ticket = Ticket(customer_id=customer_id, opened_by_id=author.id, subject=subject,
                    status="open", created_at=now, updated_at=now)
    session.add(ticket)
    session.flush()
    session.add(TicketMessage(customer_id=customer_id, ticket_id=ticket.id, author_id=author.id,
                              author_role="customer", body=body, created_at=now))
    session.flush()
    return ticket


def get_ticket(session: Session, customer_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    """A ticket of ``customer_id`` through the (scoped) session; anything else is 404."""
    return load_owned(session, Ticket, customer_id, ticket_id, "ticket")


def customer_message(session: Session, ticket: Ticket, *, author: Account,
                     body: str) -> TicketMessage:
    """The customer writes: the ticket is open again (waiting for support)."""
    return _add_message(session, ticket, author=author, role="customer", body=body)


def close_ticket(session: Session, ticket: Ticket, *, by: Account) -> Ticket:
    """Closed as handled: no more messages or grants, live grants end now, and the retention
    period for support cases starts. Closing twice is harmless."""
    if ticket.status == "closed":
        return ticket
    now = clock.now()
    ticket.status = "closed"
    ticket.closed_at = now
    ticket.updated_at = now
    for grant in live_grants(session, ticket):
        _revoke(session, ticket, grant, by=by, now=now)
    session.flush()
    return ticket


def messages(session: Session, ticket: Ticket) -> list[TicketMessage]:
    return list(session.scalars(
        select(TicketMessage)
        .where(TicketMessage.ticket_id == ticket.id,
               TicketMessage.customer_id == ticket.customer_id)
        .order_by(TicketMessage.created_at, TicketMessage.id)
    ))


def grants(session: Session, ticket: Ticket) -> list[AccessGrant]:
    return list(session.scalars(
        select(AccessGrant)
        .where(AccessGrant.ticket_id == ticket.id,
               AccessGrant.customer_id == ticket.customer_id)
        .order_by(AccessGrant.created_at, AccessGrant.id)
    ))


def live_grants(session: Session, ticket: Ticket) -> list[AccessGrant]:
    now = clock.now()
    return [g for g in grants(session, ticket) if g.live(now)]


def create_grant(session: Session, ticket: Ticket, *, by: Account, scopes: Iterable[str],
                 expires_in_hours: int) -> AccessGrant:
    """Let support read ``scopes`` of the customer's data for this ticket, for a while."""
    wanted = sorted(set(scopes))
    if not wanted or any(s not in GRANT_SCOPES for s in wanted):
        raise ValidationFailed({"scopes": [f"One or more of: {', '.join(GRANT_SCOPES)}."]})
    if isinstance(expires_in_hours, bool) or not (
        MIN_GRANT_HOURS <= expires_in_hours <= MAX_GRANT_HOURS
    ):
        raise ValidationFailed({"expires_in_hours": [
            f"Between {MIN_GRANT_HOURS} and {MAX_GRANT_HOURS} hours."]})
    _require_open(ticket, "A closed ticket cannot be given a grant.")
    now = clock.now()
    grant = AccessGrant(
        customer_id=ticket.customer_id, ticket_id=ticket.id, scopes=",".join(wanted),
        granted_by_id=by.id, expires_at=now + dt.timedelta(hours=expires_in_hours),
        created_at=now,
    )
    session.add(grant)
    session.flush()
    _tell_customer(session, ticket, "Support access granted",
                   f"Support may read {', '.join(wanted)} for the ticket "
                   f"\"{ticket.subject or ''}\" until {grant.expires_at:%Y-%m-%d %H:%M} UTC. "
                   "Every read is in your audit trail; you can revoke it in the console.")
    audit.record(
        session, action="support.grant.created", customer_id=ticket.customer_id,
        actor_id=by.id, actor_role="admin", object_type="access_grant", object_id=grant.id,
        ticket_id=ticket.id,
    )
    return grant


def revoke_grant(session: Session, ticket: Ticket, grant_id: uuid.UUID, *,
                 by: Account) -> AccessGrant:
    """End a grant now. Revoking an ended (revoked or expired) grant again changes nothing."""
    grant = session.scalar(
        select(AccessGrant).where(AccessGrant.id == grant_id,
                                  AccessGrant.ticket_id == ticket.id,
                                  AccessGrant.customer_id == ticket.customer_id)
    )
    if grant is None:
        raise NotFound("No such grant.")
    if grant.revoked_at is None:
        _revoke(session, ticket, grant, by=by, now=clock.now())
        session.flush()
    return grant


def _revoke(session: Session, ticket: Ticket, grant: AccessGrant, *, by: Account,
            now: dt.datetime) -> None:
    grant.revoked_at = now
    grant.revoked_by_id = by.id
    _tell_customer(session, ticket, "Support access revoked",
                   f"Support may no longer read {', '.join(grant.scope_list)} for the ticket "
                   f"\"{ticket.subject or ''}\".")
    audit.record(
        session, action="support.grant.revoked", customer_id=ticket.customer_id,
        actor_id=by.id, actor_role="admin", object_type="access_grant", object_id=grant.id,
        ticket_id=ticket.id,
    )


# ------------------------------------------------------------------ the vendor's side

def support_tickets_query(status: str | None = None) -> Select[Ticket]:
    """Every customer's tickets (not those of ended customers). Run it in a system scope."""
    stmt = (select(Ticket).join(Customer, Customer.id == Ticket.customer_id)
            .where(Customer.status != "ended"))
    if status is not None:
        stmt = stmt.where(Ticket.status == status)
    return stmt


def support_ticket(session: Session, ticket_id: uuid.UUID) -> Ticket:
    """Find a ticket across customers (support needs no grant for the ticket itself)."""
    with system_scope(session, "support: find a ticket"):
        ticket = session.scalar(support_tickets_query().where(Ticket.id == ticket_id))
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def read_ticket(session: Session, staff: Account, ticket_id: uuid.UUID
                ) -> tuple[Ticket, list[TicketMessage], list[AccessGrant]]:
    """The ticket with its messages and grants, for support; the read is audited."""
    ticket = support_ticket(session, ticket_id)
    with system_scope(session, "support: read a ticket"):
        msgs, grs = messages(session, ticket), grants(session, ticket)
        audit.record(
            session, action="support.read.ticket", customer_id=ticket.customer_id,
            actor_id=staff.id, actor_role="support", object_type="ticket",
            object_id=ticket.id, ticket_id=ticket.id,
        )
    return ticket, msgs, grs


def support_message(session: Session, staff: Account, ticket_id: uuid.UUID,
                    body: str) -> TicketMessage:
    """Support answers: the ticket becomes 'answered' (waiting for the customer)."""
    ticket = support_ticket(session, ticket_id)
    with system_scope(session, "support: answer a ticket"):
        msg = _add_message(session, ticket, author=staff, role="support", body=body)
        _tell_customer(session, ticket, f"Support answered: {ticket.subject or 'your ticket'}",
                       "Support has answered your ticket. Read the answer in the console "
                       "(Support).", opener_only=True)
        return msg


def open_grant_scope(session: Session, staff: Account, ticket_id: uuid.UUID,
                     scope: str) -> Ticket:
    """The gate of every support read of a customer's data.

    404 for a ticket that does not exist; 403 unless a live grant given for *this* ticket
    covers *this* scope. Only then is the session scoped to the ticket's customer (and no
    other), and the read is written to the customer's audit trail with the ticket.
    """
    if scope not in GRANT_SCOPES:
        raise NotFound("No such scope.")
    ticket = support_ticket(session, ticket_id)
    with system_scope(session, "support: check the grants of a ticket"):
        live = [g for g in live_grants(session, ticket) if scope in g.scope_list]
    if ticket.status == "closed" or not live:
        raise Forbidden(
            f"The customer has not granted access to {scope} for this ticket, or the grant "
            "has expired or was revoked.", slug="grant-required",
        )
    scope_to(session, ticket.customer_id)
    audit.record(
        session, action=f"support.read.{scope}", customer_id=ticket.customer_id,
        actor_id=staff.id, actor_role="support", object_type=SCOPE_OBJECT_TYPES[scope],
        ticket_id=ticket.id,
    )
    return ticket


# ------------------------------------------------------------------ retention

# The executor of rule ``support_case`` lives with the other retention executors.
retire_support_cases = executors.retire_support_cases


# ------------------------------------------------------------------ helpers

def _text(field: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed({field: ["Must not be blank."]})
    return value


def _require_open(ticket: Ticket, detail: str) -> None:
    if ticket.status == "closed" or ticket.content_removed_at is not None:
        raise Unprocessable(detail, slug="ticket-closed")


def _tell_customer(session: Session, ticket: Ticket, subject: str, body: str, *,
                   opener_only: bool = False) -> None:
    """Mail the ticket's opener (answers) or the customer's current admins (grant changes:
    every admin should know who may read their people's data). The body names no person.

    The opener only while they can still read the answer: an active account and a current
    admin membership of the ticket's customer (the one rule, ``Membership.current``; tickets
    are read by admins). Someone who has left the company, was made a foreman or member, or
    whose account is frozen for erasure, is not told about the company's ticket; its current
    admins are, so the answer still reaches someone."""
    now = clock.now()
    with system_scope(session, "support: whom to tell about a ticket"):
        addresses: list[str] = []
        if opener_only:
            # The one rule for the company's current admins, narrowed to the opener.
            addresses = list(session.scalars(admin_addresses(ticket.customer_id, now)
                                             .where(Account.id == ticket.opened_by_id)))
        if not addresses:
            addresses = list(session.scalars(admin_addresses(ticket.customer_id, now)))
        addresses = sorted(set(addresses))
    for address in addresses:
        mail.send(address, subject, body)


def _add_message(session: Session, ticket: Ticket, *, author: Account, role: str,
                 body: str) -> TicketMessage:
    body = _text("body", body)
    _require_open(ticket, "The ticket is closed; open a new one.")
    count = session.scalar(
        select(func.count()).select_from(TicketMessage)
        .where(TicketMessage.ticket_id == ticket.id,
               TicketMessage.customer_id == ticket.customer_id)
    ) or 0
    if count >= MAX_MESSAGES_PER_TICKET:
        raise Unprocessable("This ticket has too many messages; open a new one.",
                            slug="ticket-full")
    now = clock.now()
    msg = TicketMessage(customer_id=ticket.customer_id, ticket_id=ticket.id,
                        author_id=author.id, author_role=role, body=body, created_at=now)
    session.add(msg)
    ticket.status = "answered" if role == "support" else "open"
    ticket.updated_at = now
    session.flush()
    return msg

