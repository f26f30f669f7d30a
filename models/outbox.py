"""Events out: the transactional outbox (mail, webhook deliveries), webhook endpoints and the
schedule of the worker's jobs.

A request writes these rows in its own transaction, so a rolled-back change sends nothing and
a receiver or mail server that is down loses nothing: ``entryfy worker`` delivers them later.
Rows are claimed by the worker with a lease (``locked_until``), never held locked across a
slow send.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NOT_PERSONAL, Base, CreatedMixin, IdMixin, TenantMixin, personal, utcnow
from models.vocab import DELIVERY_STATUSES, OUTBOX_STATUSES, in_check


class OutboxMail(IdMixin, CreatedMixin, Base):
    """One e-mail to send. Platform data: mail goes out for the vendor (sign-up codes) as well
    as for customers (invitations); the worker sends it and the retention job deletes it a
    short while after it was sent or given up on."""

    __tablename__ = "outbox_mails"
    __privacy__ = {"purpose": "mail_delivery", "retention": "outbox_mail"}
    __table_args__ = (
        CheckConstraint(in_check("status", OUTBOX_STATUSES), name="status"),
        # The worker's claim: pending rows by due time.
        Index("ix_outbox_mails_status_next", "status", "next_attempt_at"),
    )

    to_address: Mapped[str] = mapped_column(
        String(320), info=personal("contact.email", "account", identifier=True)
    )
    # Subject and body, encrypted (they may carry a one-time code or a PIN).
    content_enc: Mapped[str] = mapped_column(Text, info=personal("mail.content", "account"))
    message_id: Mapped[str] = mapped_column(String(100), info=NOT_PERSONAL)
    status: Mapped[str] = mapped_column(String(10), default="pending", info=NOT_PERSONAL)
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
    locked_until: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    sent_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # A short slug of the last failure ("smtp-unavailable"); never the server's reply text.
    last_error: Mapped[str | None] = mapped_column(String(60), info=NOT_PERSONAL)


class WebhookEndpoint(IdMixin, CreatedMixin, TenantMixin, Base):
    """A customer's receiver of event notifications (a recipient the customer chose)."""

    __tablename__ = "webhook_endpoints"
    __customer_id_index__ = False  # uq_webhook_endpoints_customer_id_id leads with it
    __privacy__ = {"purpose": "integrations", "retention": "contract"}
    __table_args__ = (
        Index("uq_webhook_endpoints_customer_id_id", "customer_id", "id", unique=True),
    )

    url: Mapped[str] = mapped_column(String(2000), info=NOT_PERSONAL)
    # ",entry.created,member.created," so one LIKE finds the endpoints for an event type.
    events: Mapped[str] = mapped_column(String(500), info=NOT_PERSONAL)
    # The signing secret (whsec_...), encrypted with the data key; shown once at creation.
    secret_enc: Mapped[str] = mapped_column(String(300), info=NOT_PERSONAL)
    active: Mapped[bool] = mapped_column(Boolean, default=True, info=NOT_PERSONAL)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # Why it was disabled: "retries-exhausted".
    disabled_reason: Mapped[str | None] = mapped_column(String(40), info=NOT_PERSONAL)

    def event_list(self) -> list[str]:
        return [e for e in self.events.split(",") if e]


class WebhookDelivery(IdMixin, CreatedMixin, TenantMixin, Base):
    """One event for one endpoint: the outbox row and, once tried, its line in the deliveries
    log. The payload carries ids (entry, site, member, door), never names or identity
    numbers."""

    __tablename__ = "webhook_deliveries"
    __customer_id_index__ = False
    __privacy__ = {"purpose": "integrations", "retention": "webhook_log"}
    __table_args__ = (
        CheckConstraint(in_check("status", DELIVERY_STATUSES), name="status"),
        ForeignKeyConstraint(
            ["customer_id", "endpoint_id"],
            ["webhook_endpoints.customer_id", "webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint", ondelete="CASCADE",
        ),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_customer_endpoint", "customer_id", "endpoint_id",
              "created_at"),
        Index("ix_webhook_deliveries_created_at", "created_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    event_type: Mapped[str] = mapped_column(String(40), info=NOT_PERSONAL)
    # The Standard Webhooks message id (webhook-id); a replay keeps it so receivers dedupe.
    message_id: Mapped[str] = mapped_column(String(60), info=NOT_PERSONAL)
    # The JSON body sent: ids of the entry, site, door and membership, times and outcomes; no
    # names, addresses or identity numbers. Pseudonymous (a membership id), so personal data,
    # but no column links it to the person: it lives out its 30 days (retention webhook_log).
    payload: Mapped[str] = mapped_column(Text, info=personal("integration.event", "member"))
    status: Mapped[str] = mapped_column(String(10), default="pending", info=NOT_PERSONAL)
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
    locked_until: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    response_code: Mapped[int | None] = mapped_column(Integer, info=NOT_PERSONAL)
    # A short slug ("timeout", "private-address", "http-500"); never the receiver's body.
    error: Mapped[str | None] = mapped_column(String(60), info=NOT_PERSONAL)
    replay_of_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)


class ScheduledJob(Base):
    """When each of the worker's scheduled jobs runs next. Claimed by a conditional UPDATE
    (``next_run_at <= now``), so of several workers exactly one runs each due job."""

    __tablename__ = "scheduled_jobs"
    __privacy__ = {"purpose": "security", "retention": "audit_log"}

    name: Mapped[str] = mapped_column(String(60), primary_key=True, info=NOT_PERSONAL)
    next_run_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_finished_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_status: Mapped[str | None] = mapped_column(String(10), info=NOT_PERSONAL)
    holder: Mapped[str | None] = mapped_column(String(255), info=NOT_PERSONAL)
