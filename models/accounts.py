"""Platform data: the person's account, their devices and their sign-in tokens.

The vendor is controller for these (privacy/registry.py names each
purpose's controller).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import NOT_PERSONAL, Base, CreatedMixin, IdMixin, personal, ref
from models.vocab import STAFF_ROLES, in_check


class Account(IdMixin, CreatedMixin, Base):
    __tablename__ = "accounts"
    __privacy__ = {"purpose": "account", "retention": "account_lifetime"}
    __table_args__ = (
        CheckConstraint(in_check("staff_role", STAFF_ROLES, nullable=True), name="staff_role"),
        # One account per address, whatever its case.
        Index("uq_accounts_email_lower", text("lower(email)"), unique=True),
    )

    email: Mapped[str] = mapped_column(
        String(254), info=personal("contact.email", identifier=True)
    )
    password_hash: Mapped[str | None] = mapped_column(
        String(255), info=personal("auth.credential", erasure="delete")
    )
    first_name: Mapped[str] = mapped_column(
        String(100), info=personal("identity.name", identifier=True)
    )
    last_name: Mapped[str] = mapped_column(
        String(100), info=personal("identity.name", identifier=True)
    )
    phone: Mapped[str | None] = mapped_column(
        String(32), info=personal("contact.phone", identifier=True)
    )
    # Personnummer or samordningsnummer for the personnel ledger, normalised YYYYMMDD-NNNN and
    # encrypted (entryfy.ops.identity); never stored or logged in clear.
    identity_number_enc: Mapped[str | None] = mapped_column(
        String(200),
        info=personal("identity.national_id", identifier=True, erasure="delete"),
    )
    # The same number as a keyed hash (security.keys().keyed_hash, purpose "identity-number"),
    # so a site kiosk can find the person by the number typed in without decrypting anyone's.
    # A credential for the kiosk, not the ledger's copy of the number: an erasure clears it
    # even while a legal hold keeps identity_number_enc for the ledger.
    identity_number_hash: Mapped[str | None] = mapped_column(
        String(64), index=True,
        info=personal("access.credential", identifier=True, erasure="delete"),
    )
    # Vendor staff only: support or platform_admin. Customers' people have None.
    staff_role: Mapped[str | None] = mapped_column(String(20), info=NOT_PERSONAL)
    # Second factor (vendor staff must have one; entryfy.ops.staff): the TOTP secret encrypted
    # (AES-GCM, bound to the account), the last time step used (a code is good only once), and
    # one-time recovery codes, each kept only as a keyed hash, comma-separated.
    totp_secret_enc: Mapped[str | None] = mapped_column(
        String(200), info=personal("auth.credential", erasure="delete")
    )
    totp_last_step: Mapped[int | None] = mapped_column(
        BigInteger, info=personal("activity.sign_in", erasure="delete")
    )
    recovery_codes_hash: Mapped[str | None] = mapped_column(
        Text, info=personal("auth.credential", erasure="delete")
    )
    is_active: Mapped[bool] = mapped_column(default=True, info=NOT_PERSONAL)
    # When the person proved they receive mail at ``email`` (a code sent there, see
    # entryfy.ops.mailbox). None: registered, not yet proven; such an account cannot sign in
    # and no invitation is shown to it.
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    updated_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(
        info=personal("activity.sign_in")
    )

    devices: Mapped[list[Device]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    # Flask-Login protocol, kept framework-free: these are plain attributes/methods.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)

    @property
    def is_staff(self) -> bool:
        return self.staff_role is not None


class Device(IdMixin, CreatedMixin, Base):
    """A phone or tablet an account signs in from. The device id is kept only as a keyed hash."""

    __tablename__ = "devices"
    __privacy__ = {"purpose": "account", "retention": "account_lifetime"}
    __table_args__ = (Index("uq_devices_account_hash", "account_id", "device_hash", unique=True),)

    # No index of its own: uq_devices_account_hash leads with it.
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), info=ref()
    )
    device_hash: Mapped[str] = mapped_column(
        String(64), info=personal("device.id", identifier=True)
    )
    name: Mapped[str | None] = mapped_column(String(100), info=personal("device.name"))
    platform: Mapped[str | None] = mapped_column(String(20), info=personal("device.platform"))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(info=personal("activity.sign_in"))

    account: Mapped[Account] = relationship(back_populates="devices")


class AccessToken(IdMixin, CreatedMixin, Base):
    """A sign-in: a browser session (kind 'session') or a device bearer token (kind 'device').

    Only the SHA-256 of the secret is stored; the secret is shown once. Revoking the row ends
    the session or token at its next request, which is how logout and password change work.
    """

    __tablename__ = "access_tokens"
    __privacy__ = {"purpose": "security", "retention": "security_log"}
    __table_args__ = (
        CheckConstraint("kind IN ('session', 'device')", name="kind"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True, info=ref()
    )
    kind: Mapped[str] = mapped_column(String(10), info=NOT_PERSONAL)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=NOT_PERSONAL)
    device_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), index=True, info=NOT_PERSONAL
    )
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(info=personal("activity.sign_in"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # First three octets of IPv4 / first 48 bits of IPv6: enough to spot abuse, not a person.
    ip_prefix: Mapped[str | None] = mapped_column(String(45), info=personal("network.ip_truncated"))

    device: Mapped[Device | None] = relationship()


class EmailVerification(IdMixin, CreatedMixin, Base):
    """A one-time code sent to ``email`` to prove the person receives mail there: at
    registration (``purpose`` 'register', ``email`` is the account's) or for a change of
    address (``purpose`` 'change', ``email`` is the new one, applied only when proven).

    Only a keyed hash of the code is kept; a few tries, a short life, single use. Rows of an
    account are replaced when a new code is sent and deleted when one is used, so at most a
    handful exist per account (they go with the account).
    """

    __tablename__ = "email_verifications"
    __privacy__ = {"purpose": "account", "retention": "account_lifetime"}
    __table_args__ = (
        CheckConstraint("purpose IN ('register', 'change')", name="purpose"),
        Index("ix_email_verifications_email_lower", text("lower(email)")),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True, info=ref()
    )
    email: Mapped[str] = mapped_column(
        String(254), info=personal("contact.email", identifier=True)
    )
    purpose: Mapped[str] = mapped_column(String(10), info=NOT_PERSONAL)
    code_hash: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    attempts: Mapped[int] = mapped_column(default=0, info=NOT_PERSONAL)
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
