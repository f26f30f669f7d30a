"""Support cases: tickets a customer's admins open, their messages, and the access grants that
let the vendor's support staff read some of the customer's data for one ticket, for a while.

Tenant data: the vendor is the customer's processor here (privacy/registry.py names
each purpose's controller).
A ticket's personal content (subject, messages) is removed four weeks after it was closed
(retention rule ``support_case``, carried out by ``entryfy.ops.support``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    NOT_PERSONAL,
    Base,
    CreatedMixin,
    IdMixin,
    TenantMixin,
    personal,
    ref,
    utcnow,
)
from models.customers import Customer

SUPPORT_PRIVACY = {"purpose": "support", "retention": "support_case"}


class Ticket(IdMixin, CreatedMixin, TenantMixin, Base):
    __tablename__ = "tickets"
    __customer_id_index__ = False  # ix_tickets_customer_created leads with it
    __privacy__ = SUPPORT_PRIVACY
    __table_args__ = (
        CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL", name="closed_at"),
        # The target of the composite foreign keys below: a message or grant can only ever
        # point at a ticket of its own customer.
        UniqueConstraint("customer_id", "id", name="uq_tickets_customer_id_id"),
        Index("ix_tickets_customer_created", "customer_id", "created_at"),
        Index("ix_tickets_status_closed", "status", "closed_at"),
    )

    opened_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )
    # None once the content was removed by retention.
    subject: Mapped[str | None] = mapped_column(
        String(200), info=personal("support.case", subject="admin")
    )
    status: Mapped[str] = mapped_column(String(10), default="open", info=NOT_PERSONAL)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
    closed_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # When retention removed the subject, the messages and the grants.
    content_removed_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)

    customer: Mapped[Customer] = relationship()


class TicketMessage(IdMixin, CreatedMixin, TenantMixin, Base):
    __tablename__ = "ticket_messages"
    __privacy__ = SUPPORT_PRIVACY
    __table_args__ = (
        CheckConstraint("author_role IN ('customer', 'support')", name="author_role"),
        ForeignKeyConstraint(
            ["customer_id", "ticket_id"], ["tickets.customer_id", "tickets.id"],
            name="fk_ticket_messages_ticket", ondelete="CASCADE",
        ),
        Index("ix_ticket_messages_ticket_created", "ticket_id", "created_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("account")
    )
    author_role: Mapped[str] = mapped_column(String(10), info=NOT_PERSONAL)
    body: Mapped[str] = mapped_column(Text, info=personal("support.case", subject="account"))


class AccessGrant(IdMixin, CreatedMixin, TenantMixin, Base):
    """The customer lets support read ``scopes`` of its data for one ticket until ``expires_at``
    (or until revoked). Checked on every support request, so expiry and revocation take effect
    at the next one."""

    __tablename__ = "access_grants"
    __privacy__ = SUPPORT_PRIVACY
    __table_args__ = (
        ForeignKeyConstraint(
            ["customer_id", "ticket_id"], ["tickets.customer_id", "tickets.id"],
            name="fk_access_grants_ticket", ondelete="CASCADE",
        ),
        Index("ix_access_grants_ticket", "ticket_id", "expires_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    # Comma-separated, sorted subset of models.vocab.GRANT_SCOPES.
    scopes: Mapped[str] = mapped_column(String(40), info=NOT_PERSONAL)
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]

    def live(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at
