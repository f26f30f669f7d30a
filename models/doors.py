"""Physical access control: doors, door controllers, accesses, door credentials, the
append-only log of every opening attempt, and unlock commands waiting for a controller.

Every table here is tenant data (the customer is controller: privacy/registry.py). Nothing stores a
PIN, a keycard number or a QR secret in clear (keyed hashes, entryfy.ops.doors), and no
access event keeps a raw position: only the geofence verdict.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
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
    utcnow,
)
from models.customers import Site
from models.vocab import (
    ACCESS_EVENT_SOURCES,
    ANTI_PASSBACK,
    CREDENTIAL_KINDS,
    DIRECTIONS,
    OUTCOMES,
    in_check,
)


class Controller(IdMixin, CreatedMixin, TenantMixin, Base):
    """Door-controller hardware with its own key (only the SHA-256 of it is stored)."""

    __tablename__ = "controllers"
    __customer_id_index__ = False  # uq_controllers_customer_id_id leads with it
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __table_args__ = (
        # Target of composite (customer_id, controller_id) keys: no cross-customer links.
        Index("uq_controllers_customer_id_id", "customer_id", "id", unique=True),
    )

    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, info=NOT_PERSONAL)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # Set by the worker's offline check when no call came for a while; cleared when it calls.
    offline_since: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # The credential list is versioned per controller: the version moves on whenever the
    # content it would receive differs from the last one it was given (digest below).
    list_version: Mapped[int] = mapped_column(BigInteger, default=0, info=NOT_PERSONAL)
    list_digest: Mapped[str | None] = mapped_column(String(64), info=NOT_PERSONAL)
    # When it last fetched its credential list (its last sync, shown to admins).
    last_list_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)


class Door(IdMixin, CreatedMixin, TenantMixin, Base):
    __tablename__ = "doors"
    __customer_id_index__ = False  # ix_doors_customer_site, uq_doors_customer_id_id lead
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __table_args__ = (
        CheckConstraint("radius_m IS NULL OR (radius_m >= 5 AND radius_m <= 5000)",
                        name="radius"),
        CheckConstraint("latitude IS NULL OR (latitude >= -90 AND latitude <= 90)",
                        name="latitude"),
        CheckConstraint("longitude IS NULL OR (longitude >= -180 AND longitude <= 180)",
                        name="longitude"),
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="position"),
        Index("ix_doors_customer_site", "customer_id", "site_id"),
        Index("uq_doors_customer_id_id", "customer_id", "id", unique=True),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_doors_site", ondelete="CASCADE",
        ),
        *nulled_tenant_reference("controller_id", "controllers", name="fk_doors_controller"),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(index=True, info=NOT_PERSONAL)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    # The door's own geofence; None: the site's position and radius.
    latitude: Mapped[float | None] = mapped_column(Float, info=NOT_PERSONAL)
    longitude: Mapped[float | None] = mapped_column(Float, info=NOT_PERSONAL)
    radius_m: Mapped[int | None] = mapped_column(Integer, info=NOT_PERSONAL)
    controller_id: Mapped[uuid.UUID | None] = mapped_column(index=True, info=NOT_PERSONAL)
    # Passing this door in/out is passing the site's gate: the ledger records it.
    site_entrance: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    # The printed Entry and Exit QR signs: public, random, unguessable.
    entry_code: Mapped[str] = mapped_column(String(40), unique=True, info=NOT_PERSONAL)
    exit_code: Mapped[str] = mapped_column(String(40), unique=True, info=NOT_PERSONAL)
    # When the door stands unlocked for everyone: weekly windows on the site's wall clock
    # (entryfy.ops.doors.unlock_schedules), except on ``holidays`` (local dates "YYYY-MM-DD").
    unlock_schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON, info=NOT_PERSONAL)
    holidays: Mapped[list[str] | None] = mapped_column(JSON, info=NOT_PERSONAL)
    # First-person-in: a window unlocks the door only once an authorised person has been
    # let in during it; ``first_in_at`` is the last such passage (no one's identity).
    first_person_in: Mapped[bool] = mapped_column(default=False, server_default=text("false"),
                                                  info=NOT_PERSONAL)
    first_in_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)

    site: Mapped[Site] = relationship()


class Access(IdMixin, CreatedMixin, TenantMixin, Base):
    """Who (memberships) may open which doors (of one site), when, and by which methods."""

    __tablename__ = "accesses"
    __customer_id_index__ = False  # uq_accesses_customer_id_id leads with it
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to",
                        name="validity"),
        CheckConstraint(in_check("anti_passback", ANTI_PASSBACK), name="anti_passback"),
        Index("uq_accesses_customer_id_id", "customer_id", "id", unique=True),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_accesses_site", ondelete="CASCADE",
        ),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(index=True, info=NOT_PERSONAL)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    valid_from: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    valid_to: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # None: at any time. Else [{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM"}] in
    # the site's time zone; end <= start crosses midnight (entryfy.ops.doors.in_schedule).
    schedule: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, info=NOT_PERSONAL)
    methods: Mapped[list[str]] = mapped_column(JSON, info=NOT_PERSONAL)
    # A guest's access, made by POST /guests; listed with the guest, not as a setting.
    guest: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    anti_passback: Mapped[str] = mapped_column(String(4), default="off",
                                               server_default=text("'off'"), info=NOT_PERSONAL)
    # Roles the anti-passback rule does not apply to (e.g. security staff doing rounds).
    anti_passback_exempt_roles: Mapped[list[str] | None] = mapped_column(JSON,
                                                                         info=NOT_PERSONAL)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)

    doors: Mapped[list[AccessDoor]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    members: Mapped[list[AccessMember]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class AccessDoor(TenantMixin, Base):
    __tablename__ = "access_doors"
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __table_args__ = (
        # The decision's lookup path: door -> accesses.
        Index("ix_access_doors_door", "door_id", "access_id"),
        ForeignKeyConstraint(
            ["customer_id", "access_id"], ["accesses.customer_id", "accesses.id"],
            name="fk_access_doors_access", ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["customer_id", "door_id"], ["doors.customer_id", "doors.id"],
            name="fk_access_doors_door", ondelete="CASCADE",
        ),
    )

    access_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=NOT_PERSONAL)
    door_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=NOT_PERSONAL)


class AccessMember(TenantMixin, Base):
    __tablename__ = "access_members"
    __privacy__ = {"purpose": "access_control", "retention": "membership"}
    __table_args__ = (
        # The decision's lookup path: membership -> accesses.
        Index("ix_access_members_membership", "membership_id", "access_id"),
        ForeignKeyConstraint(
            ["customer_id", "access_id"], ["accesses.customer_id", "accesses.id"],
            name="fk_access_members_access", ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["customer_id", "membership_id"], ["memberships.customer_id", "memberships.id"],
            name="fk_access_members_membership", ondelete="CASCADE",
        ),
    )

    access_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=NOT_PERSONAL)
    membership_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=ref("member"))


class DoorCredential(IdMixin, CreatedMixin, TenantMixin, Base):
    """A PIN, keycard or personal QR code of one membership.

    Unique per customer and kind, so a keypad PIN or a card identifies one person. A PIN
    belongs to one site (``site_id``): it opens that site's doors only, so a PIN recovered
    from one controller's list opens nothing at another site (docs/DOORS.md, threat model).
    ``value_hash`` is the server's keyed hash (never sent out); ``value_enc`` the value
    encrypted with the data key, from which each controller's list is hashed with that
    controller's own key.
    """

    __tablename__ = "door_credentials"
    __customer_id_index__ = False  # its (customer_id, kind, value_hash) key leads with it
    __privacy__ = {"purpose": "access_control", "retention": "membership"}
    __table_args__ = (
        CheckConstraint(in_check("kind", CREDENTIAL_KINDS), name="kind"),
        UniqueConstraint("customer_id", "kind", "value_hash",
                         name="uq_door_credentials_value"),
        Index("ix_door_credentials_membership", "membership_id", "kind"),
        ForeignKeyConstraint(
            ["customer_id", "membership_id"], ["memberships.customer_id", "memberships.id"],
            name="fk_door_credentials_membership", ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_door_credentials_site", ondelete="CASCADE",
        ),
    )

    membership_id: Mapped[uuid.UUID] = mapped_column(info=ref("member"))
    kind: Mapped[str] = mapped_column(String(8), info=NOT_PERSONAL)
    value_hash: Mapped[str] = mapped_column(
        String(64), info=personal("access.credential", subject="member", erasure="delete")
    )
    valid_from: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    valid_to: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    # PINs: the site whose doors the PIN opens (keycards and QR codes: None, any door).
    site_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    # The value, AES-GCM under the data key (context "door-credential:<id>"): as strong as
    # the keyed hash for a 6-digit PIN (whoever holds the key recovers either), and it lets
    # the server hash each controller's list with that controller's key.
    value_enc: Mapped[str | None] = mapped_column(
        String(255), info=personal("access.credential", subject="member", erasure="delete")
    )


class AccessEvent(IdMixin, TenantMixin, Base):
    """One attempt to pass a door, granted or denied. Append-only; no raw position."""

    __tablename__ = "access_events"
    __customer_id_index__ = False  # ix_access_events_customer_time leads with it
    __subject_column__ = "account_id"
    __privacy__ = {"purpose": "access_control", "retention": "access_log"}
    __table_args__ = (
        CheckConstraint(in_check("outcome", OUTCOMES), name="outcome"),
        CheckConstraint(in_check("direction", DIRECTIONS, nullable=True), name="direction"),
        CheckConstraint(in_check("source", ACCESS_EVENT_SOURCES), name="source"),
        # A controller's retried post records its passage once.
        UniqueConstraint("controller_id", "controller_event_id",
                         name="uq_access_events_controller_event"),
        Index("ix_access_events_customer_time", "customer_id", "occurred_at", "id"),
        Index("ix_access_events_account_time", "account_id", "occurred_at", "id"),
        Index("ix_access_events_door_time", "door_id", "occurred_at"),
        # Counting recent wrong PINs of one membership (throttling) stays an index range.
        Index("ix_access_events_membership_time", "membership_id", "occurred_at"),
        # An event outlives its door, controller and membership (revision 0021).
        *nulled_tenant_reference("door_id", "doors", name="fk_access_events_door"),
        *nulled_tenant_reference("membership_id", "memberships",
                                 name="fk_access_events_membership"),
        *nulled_tenant_reference("controller_id", "controllers",
                                 name="fk_access_events_controller"),
    )

    occurred_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, info=personal("access.event", subject="member")
    )
    door_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    # None for a guest without an account, and once anonymised by retention or erasure.
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref()
    )
    membership_id: Mapped[uuid.UUID | None] = mapped_column(info=ref("member"))
    method: Mapped[str | None] = mapped_column(String(12), info=NOT_PERSONAL)
    direction: Mapped[str | None] = mapped_column(String(3), info=NOT_PERSONAL)
    outcome: Mapped[str] = mapped_column(String(8), info=personal("access.event",
                                                                  subject="member"))
    reason: Mapped[str | None] = mapped_column(String(40), info=NOT_PERSONAL)
    source: Mapped[str] = mapped_column(String(10), default="app", info=NOT_PERSONAL)
    controller_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    controller_event_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow, info=NOT_PERSONAL)


class UnlockCommand(IdMixin, CreatedMixin, TenantMixin, Base):
    """A command waiting for a door's controller: ``unlock`` once (a granted app opening, a
    remote unlock), or a lockdown's ``lock`` / ``hold_open`` and its end, ``release``."""

    __tablename__ = "unlock_commands"
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __table_args__ = (
        Index("ix_unlock_commands_pending", "controller_id", "delivered_at", "expires_at"),
        CheckConstraint("action IN ('unlock', 'lock', 'hold_open', 'release')",
                        name="action"),
        ForeignKeyConstraint(
            ["customer_id", "controller_id"], ["controllers.customer_id", "controllers.id"],
            name="fk_unlock_commands_controller", ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["customer_id", "door_id"], ["doors.customer_id", "doors.id"],
            name="fk_unlock_commands_door", ondelete="CASCADE",
        ),
    )

    controller_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    door_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    # The access event of the opening; None for a lockdown's commands.
    event_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("access_events.id", ondelete="CASCADE"), info=NOT_PERSONAL
    )
    action: Mapped[str] = mapped_column(String(10), default="unlock",
                                        server_default=text("'unlock'"), info=NOT_PERSONAL)
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
