"""Access control in depth: lockdowns (and unlock-all), door alerts from the controllers and
the worker, and who is inside a site for anti-passback.

A lockdown is a customer's record of an emergency action; the site it covers points at it
(``Site.lockdown_id``) so the door decision learns it from the site it loads anyway. A door
alert names a door and a controller, never a person. An anti-passback state names the
membership that came in, and is void after the site's next local midnight.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

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
from models.vocab import ALERT_TYPES, LOCKDOWN_MODES, in_check


class Lockdown(IdMixin, CreatedMixin, TenantMixin, Base):
    """Every door of one site (or of the customer, ``site_id`` None) locked for all but the
    exempt roles, or held open for an evacuation; active until ``ended_at``."""

    __tablename__ = "lockdowns"
    __privacy__ = {"purpose": "access_control", "retention": "contract"}
    __customer_id_index__ = False  # ix_lockdowns_customer leads with it
    __table_args__ = (
        CheckConstraint(in_check("mode", LOCKDOWN_MODES), name="mode"),
        Index("ix_lockdowns_customer", "customer_id", "created_at", "id"),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_lockdowns_site", ondelete="CASCADE",
        ),
    )

    site_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    mode: Mapped[str] = mapped_column(String(12), info=NOT_PERSONAL)
    exempt_roles: Mapped[list[str]] = mapped_column(JSON, default=list, info=NOT_PERSONAL)
    started_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref()
    )
    ended_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    ended_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref()
    )


class DoorAlert(IdMixin, CreatedMixin, TenantMixin, Base):
    """A door forced or held open, a tampered reader, a controller gone quiet."""

    __tablename__ = "door_alerts"
    __privacy__ = {"purpose": "access_control", "retention": "access_log"}
    __customer_id_index__ = False  # ix_door_alerts_customer_time leads with it
    __table_args__ = (
        CheckConstraint(in_check("type", ALERT_TYPES), name="type"),
        # A controller's retried post raises its alert once.
        UniqueConstraint("controller_id", "controller_event_id",
                         name="uq_door_alerts_controller_event"),
        Index("ix_door_alerts_customer_time", "customer_id", "occurred_at", "id"),
        # An alert outlives its door and controller (revision 0021).
        *nulled_tenant_reference("door_id", "doors", name="fk_door_alerts_door"),
        *nulled_tenant_reference("controller_id", "controllers",
                                 name="fk_door_alerts_controller"),
    )

    type: Mapped[str] = mapped_column(String(20), info=NOT_PERSONAL)
    door_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    controller_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    controller_event_id: Mapped[uuid.UUID | None] = mapped_column(info=NOT_PERSONAL)
    occurred_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)


class PassbackState(TenantMixin, Base):
    """A membership let in at a site and not yet out: entering again is anti-passback."""

    __tablename__ = "passback_states"
    __privacy__ = {"purpose": "access_control", "retention": "access_log"}
    __customer_id_index__ = False  # the composite keys lead with it
    __table_args__ = (
        ForeignKeyConstraint(
            ["customer_id", "membership_id"], ["memberships.customer_id", "memberships.id"],
            name="fk_passback_states_membership", ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_passback_states_site", ondelete="CASCADE",
        ),
        Index("ix_passback_states_entered", "entered_at"),
    )

    membership_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=ref("member"))
    site_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, info=NOT_PERSONAL)
    entered_at: Mapped[dt.datetime] = mapped_column(
        info=personal("access.event", subject="member", erasure="delete")
    )
