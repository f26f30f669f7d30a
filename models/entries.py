"""Attendance: check-ins at sites (entries) and their append-only corrections.

An entry belongs to the customer that owns the site: that customer keeps the ledger.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import (
    NOT_PERSONAL,
    Base,
    CreatedMixin,
    IdMixin,
    TenantMixin,
    nulled_tenant_reference,
    personal,
    ref,
)
from models.vocab import ENTRY_SOURCES, in_check


class Entry(IdMixin, CreatedMixin, TenantMixin, Base):
    __tablename__ = "entries"
    __subject_column__ = "account_id"
    __customer_id_index__ = False  # ix_entries_customer_in and _customer_site_in lead with it
    __privacy__ = {"purpose": "personnel_ledger", "retention": "personnel_ledger"}
    __table_args__ = (
        CheckConstraint(in_check("source", ENTRY_SOURCES), name="source"),
        # One open entry per person and site: a double tap cannot open two shifts (the site
        # fixes the customer; a NULL account_id, an anonymised entry, never conflicts). The
        # one index of the open shifts (revision 0020): small whatever the table's size, it
        # also answers a customer's open entries (the dashboard, open_only) and one site's
        # (who is on site now, entryfy.ops.onsite), so the check-in maintains no second one.
        Index(
            "uq_entries_open",
            "customer_id",
            "site_id",
            "account_id",
            unique=True,
            sqlite_where=text("checked_out_at IS NULL"),
            postgresql_where=text("checked_out_at IS NULL"),
        ),
        # A retried tap with the same Idempotency-Key finds the first entry.
        Index("uq_entries_idempotency", "account_id", "idempotency_key", unique=True),
        Index("ix_entries_customer_site_in", "customer_id", "site_id", "checked_in_at"),
        Index("ix_entries_customer_in", "customer_id", "checked_in_at"),
        # The person's own list (GET /me/entries), newest first.
        Index("ix_entries_account_in", "account_id", "checked_in_at"),
        # Keys to other tenant tables lead with customer_id (the same customer's parent, on
        # one shard when distributed: docs/SCALING.md), revision 0021.
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_entries_site", ondelete="CASCADE",
        ),
        *nulled_tenant_reference("membership_id", "memberships", name="fk_entries_membership"),
    )

    # No index of its own (dropped in 0022): the key to sites is (customer_id, site_id), which
    # ix_entries_customer_site_in leads with, and every query of a site's entries names its
    # customer too (the tenant criteria, or the query itself).
    site_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    # None once anonymised by retention or erasure.
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        # No index of its own: ix_entries_account_in and uq_entries_idempotency lead with it.
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref()
    )
    membership_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    # Copied from the membership at check-in: the ledger shows the employer of that day.
    employer_name: Mapped[str | None] = mapped_column(
        String(200), info=personal("employment.employer", subject="member")
    )
    employer_org_nr: Mapped[str | None] = mapped_column(
        String(11), info=personal("employment.employer", subject="member")
    )
    checked_in_at: Mapped[dt.datetime] = mapped_column(info=personal("attendance.time"))
    checked_out_at: Mapped[dt.datetime | None] = mapped_column(info=personal("attendance.time"))
    inside_geofence: Mapped[bool | None] = mapped_column(info=personal("location.verdict"))
    distance_m: Mapped[int | None] = mapped_column(Integer, info=personal("location.distance"))
    coarse_latitude: Mapped[float | None] = mapped_column(Float, info=personal("location.coarse"))
    coarse_longitude: Mapped[float | None] = mapped_column(
        Float, info=personal("location.coarse")
    )
    checkout_inside_geofence: Mapped[bool | None] = mapped_column(
        info=personal("location.verdict")
    )
    idempotency_key: Mapped[str | None] = mapped_column(String(100), info=NOT_PERSONAL)
    source: Mapped[str] = mapped_column(String(8), default="app", info=NOT_PERSONAL)
    ip_prefix: Mapped[str | None] = mapped_column(
        String(45), info=personal("network.ip_truncated")
    )
    # Set when the person asked for erasure while a legal hold keeps the row: ledger use only.
    restricted: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    # Who registered the entry when it was not the person themself (a foreman for a colleague);
    # None: the person, a door or a kiosk (see source). The time it was registered is
    # created_at (served as registered_at); checked_in_at is the time claimed.
    registered_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("member")
    )
    # Closed by the automatic check-out at the site's set time, not by the person.
    auto_checkout: Mapped[bool] = mapped_column(
        default=False, server_default=text("false"), info=NOT_PERSONAL
    )

    corrections: Mapped[list[EntryCorrection]] = relationship(
        back_populates="entry",
        order_by=lambda: EntryCorrection.seq,
    )


class EntryCorrection(IdMixin, CreatedMixin, TenantMixin, Base):
    """An append-only correction of an entry: before and after values, who, when and why."""

    __tablename__ = "entry_corrections"
    __privacy__ = {"purpose": "personnel_ledger", "retention": "personnel_ledger"}
    __table_args__ = (
        # The order of an entry's corrections, even when two share a timestamp: 1, 2, 3...
        Index("uq_entry_corrections_entry_seq", "entry_id", "seq", unique=True),
    )

    # No index of its own: uq_entry_corrections_entry_seq leads with it.
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("entries.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    seq: Mapped[int] = mapped_column(Integer, server_default=text("1"), info=NOT_PERSONAL)
    corrected_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )
    before_checked_in_at: Mapped[dt.datetime | None] = mapped_column(
        info=personal("attendance.time")
    )
    before_checked_out_at: Mapped[dt.datetime | None] = mapped_column(
        info=personal("attendance.time")
    )
    after_checked_in_at: Mapped[dt.datetime | None] = mapped_column(
        info=personal("attendance.time")
    )
    after_checked_out_at: Mapped[dt.datetime | None] = mapped_column(
        info=personal("attendance.time")
    )
    reason: Mapped[str] = mapped_column(Text, info=personal("attendance.correction_reason"))

    entry: Mapped[Entry] = relationship(back_populates="corrections")
