"""Data-subject requests (GDPR Art. 12, 15-22), their routing to customers, erasure proof and
customer offboarding (Art. 28(3)(g)).

The vendor is controller for a request and its history (platform tables); the part of a request
that concerns one customer's tenant data is a tenant row (``DataRequestPart``) that the
customer's admins decide on. Erasure is recorded as proof (what happened to which row, under
which rule) and as a tombstone that lets a restore from backup apply it again; neither holds
the erased data.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NOT_PERSONAL, Base, CreatedMixin, IdMixin, TenantMixin, personal, ref
from models.vocab import (
    ERASURE_OUTCOMES,
    PART_STATUSES,
    REQUEST_STATUSES,
    REQUEST_TYPES,
    in_check,
)

_PRIVACY = {"purpose": "data_subject_requests", "retention": "request_record"}


class DataRequest(IdMixin, CreatedMixin, Base):
    """One request of one person. ``account_id`` is None once the person is erased."""

    __tablename__ = "data_requests"
    __privacy__ = {**_PRIVACY, "erasure": "anonymise"}
    __table_args__ = (
        CheckConstraint(in_check("type", REQUEST_TYPES), name="type"),
        CheckConstraint(in_check("status", REQUEST_STATUSES), name="status"),
        CheckConstraint("channel IN ('session', 'email')", name="channel"),
        Index("ix_data_requests_account_received", "account_id", "received_at"),
        Index("uq_data_requests_account_idempotency", "account_id", "idempotency_key",
              unique=True),
    )

    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref()
    )
    type: Mapped[str] = mapped_column(String(16), info=NOT_PERSONAL)
    status: Mapped[str] = mapped_column(String(24), default="received", info=NOT_PERSONAL)
    # What the person wrote (e.g. which data to rectify): theirs, cleared on erasure.
    details: Mapped[str | None] = mapped_column(Text, info=personal("request.case"))
    channel: Mapped[str] = mapped_column(String(10), info=NOT_PERSONAL)
    received_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    due_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    verified_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    extended_months: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)
    extension_reason: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)
    closed_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # The answer: what was done, or why the request was denied.
    outcome: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)
    # The client's retry key (POST /me/requests): the same key again is the same request.
    idempotency_key: Mapped[str | None] = mapped_column(String(100), info=NOT_PERSONAL)


class DataRequestPart(IdMixin, CreatedMixin, TenantMixin, Base):
    """The part of a request that concerns one customer's data: that customer decides."""

    __tablename__ = "data_request_parts"
    __customer_id_index__ = False  # ix_data_request_parts_customer_due leads with it
    __subject_column__ = "account_id"
    __privacy__ = {**_PRIVACY, "erasure": "anonymise"}
    __table_args__ = (
        CheckConstraint(in_check("status", PART_STATUSES), name="status"),
        Index("uq_data_request_parts_request_customer", "request_id", "customer_id",
              unique=True),
        Index("ix_data_request_parts_customer_due", "customer_id", "due_at"),
    )

    # No index of its own: uq_data_request_parts_request_customer leads with it.
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_requests.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True, info=ref()
    )
    status: Mapped[str] = mapped_column(String(10), default="pending", info=NOT_PERSONAL)
    due_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    # Who decided is in the customer's audit trail (actor, action, this part's id).
    decided_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # When the worker reminded the customer's admins that the due date is near (once).
    reminded_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # The customer's reason, told to the person.
    reason: Mapped[str | None] = mapped_column(Text, info=personal("request.case"))
    outcome: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)


class DataRequestEvent(IdMixin, Base):
    """The history of a request: every step, in which role, when. No personal data in ``note``;
    which admin acted is in that customer's audit trail."""

    __tablename__ = "data_request_events"
    __privacy__ = {**_PRIVACY, "erasure": "anonymise"}
    __table_args__ = (Index("uq_data_request_events_request_seq", "request_id", "seq",
                            unique=True),)

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("data_requests.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    # Order of the steps within the request (times can tie).
    seq: Mapped[int] = mapped_column(Integer, info=NOT_PERSONAL)
    part_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    occurred_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    actor_role: Mapped[str | None] = mapped_column(String(20), info=NOT_PERSONAL)
    action: Mapped[str] = mapped_column(String(40), info=NOT_PERSONAL)
    status: Mapped[str | None] = mapped_column(String(24), info=NOT_PERSONAL)
    note: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)


class VerificationCode(IdMixin, CreatedMixin, Base):
    """A one-time code proving a request from outside comes from the account's mailbox.

    Only a keyed hash of the code is stored; a few tries, a short lifetime, single use. A
    request for an unknown address gets a code row too (``request_id`` None, no mail), so the
    answers never tell whether an address has an account.
    """

    __tablename__ = "request_verifications"
    __privacy__ = {**_PRIVACY, "erasure": "delete"}

    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("data_requests.id", ondelete="CASCADE"), index=True, info=NOT_PERSONAL
    )
    # HMAC of a random one-time code: says nothing about anyone.
    code_hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    attempts: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    used_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)


class Erasure(IdMixin, Base):
    """A tombstone: this person's data (all, or one customer's part) were erased.

    Holds the account id and a keyed hash of the e-mail address, never the address: enough
    for ``privacy.erasure.reapply`` to erase again what a restore from backup brings back.
    """

    __tablename__ = "erasures"
    __privacy__ = {**_PRIVACY, "erasure": "keep"}
    __table_args__ = (Index("ix_erasures_account", "account_id"),)

    request_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    account_id: Mapped[uuid.UUID] = mapped_column(info=personal("request.case"))
    email_hash: Mapped[str | None] = mapped_column(String(64), info=personal("request.case"))
    # None: the platform part (the account and everything of the person); else one customer.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    performed_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    reapplied_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # Rows were withheld under a legal hold: to be erased when the hold ends.
    withheld: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)


class ErasureRecord(IdMixin, Base):
    """Proof, per table and row, of what erasure did and under which rule. Not the data."""

    __tablename__ = "erasure_records"
    __privacy__ = {**_PRIVACY, "erasure": "keep"}
    __table_args__ = (
        CheckConstraint(in_check("outcome", ERASURE_OUTCOMES), name="outcome"),
    )

    erasure_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("erasures.id", ondelete="CASCADE"), index=True, info=NOT_PERSONAL
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    table_name: Mapped[str] = mapped_column(String(63), info=NOT_PERSONAL)
    row_id: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    outcome: Mapped[str] = mapped_column(String(12), info=NOT_PERSONAL)
    # The retention rule (registry key) behind the outcome, e.g. personnel_ledger.
    rule: Mapped[str | None] = mapped_column(String(40), info=NOT_PERSONAL)
    # Column names changed (anonymised) or kept (withheld), comma-separated.
    columns: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)


class CustomerOffboarding(IdMixin, CreatedMixin, Base):
    """The end of a customer: grace period to download its data, purge, deletion certificate.

    Which platform admin started it is in the platform audit trail."""

    __tablename__ = "customer_offboardings"
    __privacy__ = {"purpose": "customer_relationship", "retention": "contract"}

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True, info=NOT_PERSONAL
    )
    started_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    grace_until: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    last_export_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_export_sha256: Mapped[str | None] = mapped_column(String(64), info=NOT_PERSONAL)
    purged_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # The deletion certificate (canonical JSON: counts per table, time, export hash).
    certificate: Mapped[str | None] = mapped_column(Text, info=NOT_PERSONAL)
    certificate_sha256: Mapped[str | None] = mapped_column(String(64), info=NOT_PERSONAL)


class CustomerExport(IdMixin, Base):
    """Each export of a customer's whole data set (GET /customers/{id}/export): when, its
    SHA-256 and format. The offboarding certificate lists them all. Who asked is in the
    customer's audit trail (``customer.export``)."""

    __tablename__ = "customer_exports"
    __privacy__ = {"purpose": "customer_relationship", "retention": "contract"}
    __table_args__ = (Index("ix_customer_exports_customer_at", "customer_id", "exported_at"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    exported_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    sha256: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    format: Mapped[str] = mapped_column(String(8), info=NOT_PERSONAL)
    rows: Mapped[int] = mapped_column(Integer, default=0, info=NOT_PERSONAL)
