"""The append-only, hash-chained audit trail (see privacy/audit.py for writing and verifying)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NOT_PERSONAL, Base, IdMixin, ref, utcnow


class AuditEvent(IdMixin, Base):
    """Who read or changed whose personal data. Holds references, never the data itself.

    ``customer_id`` is None for platform events (the vendor as controller, e.g. a sign-in from
    a new device); each customer's events and the platform's form separate chains, each record
    carrying the hash of the one before it in its chain (``seq`` orders a chain).
    """

    __tablename__ = "audit_events"
    # Erasure of a person keeps their references here until the trail's own period ends:
    # the record of who looked at whose data is what lets them (and IMY) check it.
    __privacy__ = {"purpose": "security", "retention": "audit_log", "erasure": "keep"}
    __table_args__ = (
        Index("uq_audit_chain_seq", "chain", "seq", unique=True),
        Index("ix_audit_customer_time", "customer_id", "occurred_at"),
    )

    chain: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    seq: Mapped[int] = mapped_column(BigInteger, info=NOT_PERSONAL)
    # No index of its own: ix_audit_customer_time leads with it.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(info=ref("actor"))
    actor_role: Mapped[str | None] = mapped_column(String(20), info=NOT_PERSONAL)
    action: Mapped[str] = mapped_column(String(60), info=NOT_PERSONAL)
    object_type: Mapped[str | None] = mapped_column(String(40), info=NOT_PERSONAL)
    object_id: Mapped[str | None] = mapped_column(String(64), info=NOT_PERSONAL)
    # The person whose data was read or changed (a reference, for their own register extract).
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True, info=ref())
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    prev_hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)


class AuditChainHead(Base):
    """The last record of each chain, updated in the same transaction as every append.

    Removing the last records of a chain leaves ``seq``/``hash`` here pointing past them, so
    ``verify`` notices. ``anchor_seq``/``anchor_hash`` are where the retained chain starts:
    retention deletes whole prefixes of a chain and moves the anchor to the last record it
    deleted, so the remaining records still verify from there.
    """

    __tablename__ = "audit_chain_heads"
    __privacy__ = {"purpose": "security", "retention": "audit_log"}

    chain: Mapped[str] = mapped_column(String(64), primary_key=True, info=NOT_PERSONAL)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True, info=NOT_PERSONAL
    )
    seq: Mapped[int] = mapped_column(BigInteger, info=NOT_PERSONAL)
    hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    anchor_seq: Mapped[int] = mapped_column(BigInteger, default=0, info=NOT_PERSONAL)
    anchor_hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
