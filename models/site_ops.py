"""Site operations: kiosks (site devices that check people in and out) and inspectors'
accesses to a site's personnel ledger (Skatteverket's kontrollbesök).

Neither row holds a secret in clear: a kiosk's token and an inspection's code are kept as
SHA-256 hashes (random, high-entropy values: a keyed or slow hash would add nothing) and
shown once, when made.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import NOT_PERSONAL, Base, CreatedMixin, IdMixin, TenantMixin, ref


class Kiosk(IdMixin, CreatedMixin, TenantMixin, Base):
    """A tablet at a site's gate where people without the app check in and out."""

    __tablename__ = "kiosks"
    __privacy__ = {"purpose": "attendance", "retention": "contract"}
    __customer_id_index__ = False  # ix_kiosks_customer_site leads with it
    __table_args__ = (
        Index("ix_kiosks_customer_site", "customer_id", "site_id"),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_kiosks_site", ondelete="CASCADE",
        ),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, info=NOT_PERSONAL)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )
    # Ask every person for their door PIN as well (a number or card alone is not enough).
    require_pin: Mapped[bool] = mapped_column(default=False, info=NOT_PERSONAL)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)


class Inspection(IdMixin, CreatedMixin, TenantMixin, Base):
    """An inspector's read-only access to one site's ledger for a period, by a short code,
    until it expires or an admin revokes it. Every use is audited in the customer's trail."""

    __tablename__ = "inspections"
    __privacy__ = {"purpose": "personnel_ledger", "retention": "inspection_access"}
    __customer_id_index__ = False  # ix_inspections_customer_site leads with it
    __table_args__ = (
        CheckConstraint("period_from < period_to", name="period"),
        Index("ix_inspections_customer_site", "customer_id", "site_id"),
        ForeignKeyConstraint(
            ["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
            name="fk_inspections_site", ondelete="CASCADE",
        ),
    )

    site_id: Mapped[uuid.UUID] = mapped_column(info=NOT_PERSONAL)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, info=NOT_PERSONAL)
    period_from: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    period_to: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    expires_at: Mapped[dt.datetime] = mapped_column(info=NOT_PERSONAL)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), info=ref("admin")
    )
    last_used_at: Mapped[dt.datetime | None] = mapped_column(info=NOT_PERSONAL)
