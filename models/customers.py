"""Customers (tenants), their memberships and their sites."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from sqlalchemy import (
    CheckConstraint,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Time,
    and_,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from entryfy import clock
from models.accounts import Account
from models.base import NOT_PERSONAL, Base, CreatedMixin, IdMixin, TenantMixin, personal, ref
from models.vocab import CUSTOMER_STATUSES, GEOFENCE_MODES, MEMBER_ROLES, Role, in_check

# Why a membership is not current (Membership.standing).
Standing = Literal["inactive", "not_yet_valid", "expired"]

# The one list of membership roles (models.vocab.Role): the check constraint below, the roles
# an admin may assign (entryfy.ops.customers) and the access checks (api.access) derive from it.
ROLE_CHECK = in_check("role", MEMBER_ROLES)


class Customer(IdMixin, CreatedMixin, Base):
    """A company using Entryfy. Platform data: the company record itself is not personal."""

    __tablename__ = "customers"
    __privacy__ = {"purpose": "customer_relationship", "retention": "contract"}
    __table_args__ = (
        CheckConstraint(in_check("status", CUSTOMER_STATUSES), name="status"),
        CheckConstraint("door_list_trust_days >= 1 AND door_list_trust_days <= 30",
                        name="door_list_trust_days"),
    )

    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    org_nr: Mapped[str] = mapped_column(String(11), unique=True, info=NOT_PERSONAL)
    address: Mapped[str | None] = mapped_column(String(300), info=NOT_PERSONAL)
    status: Mapped[str] = mapped_column(String(12), default="active", info=NOT_PERSONAL)
    ended_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # Offline policy: how many days a door controller may decide from its last signed
    # credential list (it refuses everything after that). Alta caps it at 30. The default
    # lives in the database only, so a Core insert that names its columns (models.hot) needs
    # no value for it.
    door_list_trust_days: Mapped[int] = mapped_column(
        Integer, server_default=text("7"), info=NOT_PERSONAL
    )


class Membership(IdMixin, CreatedMixin, TenantMixin, Base):
    """A person's place in one customer. ``account_id`` is None while the invitation is pending."""

    __tablename__ = "memberships"
    __customer_id_index__ = False  # uq_memberships_customer_id_id leads with it
    __subject_column__ = "account_id"
    __privacy__ = {"purpose": "workforce_administration", "retention": "membership"}
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        CheckConstraint(
            "account_id IS NOT NULL OR invited_email IS NOT NULL", name="who"
        ),
        Index("uq_memberships_customer_account", "customer_id", "account_id", unique=True),
        Index(
            "uq_memberships_customer_invite",
            "customer_id",
            text("lower(invited_email)"),
            unique=True,
        ),
        # Lets other tenant tables point at a membership with a composite foreign key
        # (customer_id, membership_id), so a row can never link across customers. A unique
        # index rather than a constraint: both databases accept it as a foreign-key target,
        # and SQLite can add it to an existing table without rebuilding the table.
        Index("uq_memberships_customer_id_id", "customer_id", "id", unique=True),
        # An ID06 card identifies one membership of the customer at its kiosks.
        Index("uq_memberships_customer_card", "customer_id", "id06_card_hash", unique=True),
    )

    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True, info=ref()
    )
    # Only for a pending invitation; cleared when it binds to an account.
    invited_email: Mapped[str | None] = mapped_column(
        String(254), info=personal("contact.email", subject="member", identifier=True)
    )
    role: Mapped[str] = mapped_column(String(20), default="member", info=NOT_PERSONAL)
    active: Mapped[bool] = mapped_column(default=True, info=NOT_PERSONAL)
    employer_name: Mapped[str | None] = mapped_column(
        String(200), info=personal("employment.employer", subject="member")
    )
    employer_org_nr: Mapped[str | None] = mapped_column(
        String(11), info=personal("employment.employer", subject="member")
    )
    valid_from: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    valid_to: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # The person's ID06 card number, only as a keyed hash (security.keys().keyed_hash with
    # purpose "id06-card"): a kiosk's card reader finds the membership, nothing reads it back.
    id06_card_hash: Mapped[str | None] = mapped_column(
        String(64), info=personal("access.credential", subject="member", identifier=True)
    )

    account: Mapped[Account | None] = relationship()
    customer: Mapped[Customer] = relationship()

    # ------------------------------------------------------------------ "current"
    # The one home of the rule: a membership is current while it is active and ``at`` lies in
    # [valid_from, valid_to) (either end open when None). Access checks, check-in, kiosks, the
    # door decision and the console all ask here, in Python or in SQL.

    @staticmethod
    def standing(active: bool, valid_from: dt.datetime | None, valid_to: dt.datetime | None,
                 at: dt.datetime) -> Standing | None:
        """Why a membership with these values is not current at ``at``; None when it is.
        In the order the door decision names them (inactive before the dates)."""
        if not active:
            return "inactive"
        if valid_from is not None and at < valid_from:
            return "not_yet_valid"
        if valid_to is not None and at >= valid_to:
            return "expired"
        return None

    def standing_at(self, at: dt.datetime) -> Standing | None:
        return Membership.standing(self.active, self.valid_from, self.valid_to, at)

    def is_current_at(self, at: dt.datetime) -> bool:
        return self.standing_at(at) is None

    def is_current_or_upcoming_at(self, at: dt.datetime) -> bool:
        """Active and not ended at ``at``, whenever it starts."""
        return self.active and (self.valid_to is None or at < self.valid_to)

    @property
    def is_current(self) -> bool:
        return self.is_current_at(clock.now())

    @classmethod
    def current(cls, at: Any) -> ColumnElement[bool]:
        """``is_current_at`` as SQL; ``at`` a datetime or a bind parameter. Built on the table's
        columns, so a Core statement (the check-in's) stays Core; it serves ORM queries too."""
        c = cls.__table__.c
        return and_(c.active, or_(c.valid_from.is_(None), c.valid_from <= at),
                    or_(c.valid_to.is_(None), at < c.valid_to))

    @classmethod
    def current_or_upcoming(cls, at: Any) -> ColumnElement[bool]:
        """``is_current_or_upcoming_at`` as SQL: active and not yet ended at ``at`` (current, or
        starting later), as a door controller's list carries members, each with its window."""
        c = cls.__table__.c
        return and_(c.active, or_(c.valid_to.is_(None), at < c.valid_to))


def admin_addresses(customer_id: uuid.UUID, at: dt.datetime) -> Select[str]:
    """The e-mail addresses of the customer's current admins at ``at`` (current by the one
    membership rule, ``Membership.current``; the account not deactivated), each once: whom
    the service tells about their company (a support grant, a disabled webhook, a privacy
    request to decide). The caller runs it where it may read the customer's memberships."""
    return (select(Account.email).join(Membership, Membership.account_id == Account.id)
            .where(Membership.customer_id == customer_id, Membership.role == Role.ADMIN,
                   Membership.current(at), Account.is_active.is_(True))
            .distinct().order_by(Account.email))


class Site(IdMixin, CreatedMixin, TenantMixin, Base):
    __tablename__ = "sites"
    __customer_id_index__ = False  # uq_sites_customer_id_id leads with it
    __privacy__ = {"purpose": "attendance", "retention": "contract"}
    __table_args__ = (
        CheckConstraint(in_check("geofence", GEOFENCE_MODES), name="geofence"),
        CheckConstraint("radius_m >= 10 AND radius_m <= 5000", name="radius"),
        CheckConstraint("latitude >= -90 AND latitude <= 90", name="latitude"),
        CheckConstraint("longitude >= -180 AND longitude <= 180", name="longitude"),
        # Target of composite foreign keys (customer_id, site_id) from doors, entries, ...
        Index("uq_sites_customer_id_id", "customer_id", "id", unique=True),
    )

    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    address: Mapped[str | None] = mapped_column(String(300), info=NOT_PERSONAL)
    latitude: Mapped[float] = mapped_column(Float, info=NOT_PERSONAL)
    longitude: Mapped[float] = mapped_column(Float, info=NOT_PERSONAL)
    radius_m: Mapped[int] = mapped_column(Integer, info=NOT_PERSONAL)
    geofence: Mapped[str] = mapped_column(String(8), default="enforce", info=NOT_PERSONAL)
    # The Swedish Tax Agency's personnel-ledger id (byggarbetsplats-ID); None: no ledger here.
    ledger_id: Mapped[str | None] = mapped_column(String(50), info=NOT_PERSONAL)
    timezone: Mapped[str] = mapped_column(
        String(64), default="Europe/Stockholm", info=NOT_PERSONAL
    )
    # Keep a coarse (about 1 km) position with each entry only when the site asks for it.
    store_coarse_position: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    # Late and offline registrations: a claimed time (occurred_at) older than this is refused.
    late_registration_hours: Mapped[int] = mapped_column(
        Integer, default=24, server_default=text("24"), info=NOT_PERSONAL
    )
    # Local time of day (the site's time zone) at which entries still open are closed by the
    # automatic check-out (entryfy.ops.site_ops.auto_check_out); None: never.
    auto_checkout_time: Mapped[dt.time | None] = mapped_column(Time, info=NOT_PERSONAL)
    # The lockdown (or unlock-all) in force here, models.door_control.Lockdown; None: none.
    # Kept on the site so the door decision, which loads the site anyway, needs no extra
    # round trip to learn that nothing is in force.
    lockdown_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
