"""Privacy-engine bookkeeping: published notices, consents, retention runs and job locks.

Platform data (the vendor is controller): consents belong to the account, not to a tenant.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NOT_PERSONAL, Base, IdMixin, personal, ref, utcnow
from models.entries import Entry
from models.vocab import CONSENT_CHANNELS, in_check


class NoticeVersion(IdMixin, Base):
    """A published version of the notice a person agrees to for one consent-based purpose."""

    __tablename__ = "notice_versions"
    __privacy__ = {"purpose": "consent_management", "retention": "account_lifetime"}
    __table_args__ = (
        Index("uq_notice_versions_purpose_version", "purpose", "version", unique=True),
    )

    purpose: Mapped[str] = mapped_column(String(40), info=NOT_PERSONAL)
    version: Mapped[int] = mapped_column(Integer, info=NOT_PERSONAL)
    url: Mapped[str] = mapped_column(String(500), info=NOT_PERSONAL)
    # SHA-256 of the exact text shown, so a later dispute can prove what was agreed to.
    text_sha256: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)


class Consent(IdMixin, Base):
    """One decision of a person about one purpose: given (with the notice version) or withdrawn.

    Append-only history: the latest row per (account, purpose) is the current choice, earlier
    rows demonstrate what was agreed to and when (GDPR Art. 7(1)).
    """

    __tablename__ = "consents"
    __privacy__ = {"purpose": "consent_management", "retention": "account_lifetime"}
    __table_args__ = (
        CheckConstraint(in_check("channel", CONSENT_CHANNELS), name="channel"),
        CheckConstraint("granted = false OR notice_version_id IS NOT NULL", name="notice"),
        Index("ix_consents_account_purpose", "account_id", "purpose", "decided_at"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), info=ref()
    )
    purpose: Mapped[str] = mapped_column(String(40), info=personal("consent.choice"))
    granted: Mapped[bool] = mapped_column(info=personal("consent.choice"))
    notice_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notice_versions.id", ondelete="RESTRICT"), info=personal("consent.choice")
    )
    channel: Mapped[str] = mapped_column(String(12), info=personal("consent.choice"))
    decided_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, info=personal("consent.choice")
    )


class RetentionRun(IdMixin, Base):
    """A record of each retention run: when, where, what it did per rule (counts only)."""

    __tablename__ = "retention_runs"
    __privacy__ = {"purpose": "security", "retention": "audit_log"}
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'finished', 'failed', 'skipped')", name="status"
        ),
    )

    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)
    finished_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    dry_run: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    host: Mapped[str] = mapped_column(String(255), info=NOT_PERSONAL)
    status: Mapped[str] = mapped_column(String(10), default="running", info=NOT_PERSONAL)
    # JSON: {rule_key: {"action": count, ...}}; counts and rule keys only.
    counts: Mapped[str] = mapped_column(Text, default="{}", info=NOT_PERSONAL)


class JobLock(Base):
    """A named lock row for jobs on SQLite (PostgreSQL uses advisory locks instead)."""

    __tablename__ = "job_locks"
    __privacy__ = {"purpose": "security", "retention": "audit_log"}

    name: Mapped[str] = mapped_column(String(40), primary_key=True, info=NOT_PERSONAL)
    holder: Mapped[str] = mapped_column(String(255), info=NOT_PERSONAL)
    acquired_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)


# Retention finds due ledger entries by time across customers (keyset on checked_in_at, id).
# Declared here, beside the job that needs it; the table stays models/entries.py's.
Index("ix_entries_checked_in_at", Entry.checked_in_at, Entry.id)
