"""site operations: kiosks, inspections, foreman role, registered_by / auto check-out on
entries, ID06 card and identity-number lookup hashes, site settings

uq_entries_open is rebuilt site first, so the same partial index serves "who is on site
now". entries.source and memberships.role gain a value each: a CHECK constraint cannot be
altered on SQLite, so those two tables are rebuilt there (batch mode); the expression index
on memberships (lower(invited_email)), which SQLite cannot reflect, is dropped before and
made again after.

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import context, op

import models.base  # noqa: F401
from models import rls

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TENANT_TABLES: dict[str, str | None] = {"kiosks": None, "inspections": None}

OLD_ROLES = "role IN ('member', 'admin', 'operator', 'guest')"
NEW_ROLES = "role IN ('member', 'admin', 'operator', 'guest', 'foreman')"
OLD_SOURCES = "source IN ('app', 'door', 'admin')"
NEW_SOURCES = "source IN ('app', 'door', 'admin', 'kiosk')"
OPEN = "checked_out_at IS NULL AND account_id IS NOT NULL"


def _open_index(columns: list[str]) -> None:
    op.create_index("uq_entries_open", "entries", columns, unique=True,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def _swap_check(table: str, name: str, sql: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.drop_constraint(op.f(name), type_="check")
        batch.create_check_constraint(op.f(name), sql)


def _memberships_role(sql: str) -> None:
    op.drop_index("uq_memberships_customer_invite", table_name="memberships")
    _swap_check("memberships", "ck_memberships_role", sql)
    op.create_index("uq_memberships_customer_invite", "memberships",
                    ["customer_id", sa.literal_column("lower(invited_email)")], unique=True)


def _entries_source(sql: str, open_columns: list[str]) -> None:
    # The partial unique index is dropped and made again around the rebuild, so its WHERE
    # clause survives on SQLite whatever batch mode reflects.
    op.drop_index("uq_entries_open", table_name="entries")
    _swap_check("entries", "ck_entries_source", sql)
    _open_index(open_columns)


def upgrade() -> None:
    op.add_column("accounts", sa.Column("identity_number_hash", sa.String(64), nullable=True))
    op.create_index("ix_accounts_identity_number_hash", "accounts", ["identity_number_hash"])

    op.add_column("memberships", sa.Column("id06_card_hash", sa.String(64), nullable=True))
    op.create_index("uq_memberships_customer_card", "memberships",
                    ["customer_id", "id06_card_hash"], unique=True)
    _memberships_role(NEW_ROLES)

    op.add_column("sites", sa.Column("late_registration_hours", sa.Integer(),
                                     server_default=sa.text("24"), nullable=False))
    op.add_column("sites", sa.Column("auto_checkout_time", sa.Time(), nullable=True))

    op.add_column("entries", sa.Column("registered_by_id", sa.Uuid(), nullable=True))
    op.add_column("entries", sa.Column("auto_checkout", sa.Boolean(),
                                       server_default=sa.text("false"), nullable=False))
    with op.batch_alter_table("entries") as batch:
        batch.create_foreign_key(op.f("fk_entries_registered_by_id_accounts"), "accounts",
                                 ["registered_by_id"], ["id"], ondelete="SET NULL")
    _entries_source(NEW_SOURCES, ["site_id", "account_id"])

    op.create_table(
        "kiosks",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("require_pin", sa.Boolean(), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["accounts.id"],
                                name=op.f("fk_kiosks_created_by_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_kiosks_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
                                name="fk_kiosks_site", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_kiosks_token_hash")),
    )
    op.create_index("ix_kiosks_customer_site", "kiosks", ["customer_id", "site_id"])

    op.create_table(
        "inspections",
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("period_from", models.base.UTCDateTime(), nullable=False),
        sa.Column("period_to", models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("last_used_at", models.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("period_from < period_to", name=op.f("ck_inspections_period")),
        sa.ForeignKeyConstraint(["created_by_id"], ["accounts.id"],
                                name=op.f("fk_inspections_created_by_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_inspections_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id", "site_id"], ["sites.customer_id", "sites.id"],
                                name="fk_inspections_site", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_inspections_code_hash")),
    )
    op.create_index("ix_inspections_customer_site", "inspections", ["customer_id", "site_id"])

    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_table("inspections")
    op.drop_table("kiosks")
    _entries_source(OLD_SOURCES, ["account_id", "site_id"])
    with op.batch_alter_table("entries") as batch:
        batch.drop_constraint(op.f("fk_entries_registered_by_id_accounts"), type_="foreignkey")
        batch.drop_column("auto_checkout")
        batch.drop_column("registered_by_id")
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("auto_checkout_time")
        batch.drop_column("late_registration_hours")
    op.drop_index("uq_memberships_customer_card", table_name="memberships")
    _memberships_role(OLD_ROLES)
    op.drop_index("uq_memberships_customer_invite", table_name="memberships")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("id06_card_hash")
    op.create_index("uq_memberships_customer_invite", "memberships",
                    ["customer_id", sa.literal_column("lower(invited_email)")], unique=True)
    op.drop_index("ix_accounts_identity_number_hash", table_name="accounts")
    op.drop_index("uq_accounts_email_lower", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("identity_number_hash")
    op.create_index("uq_accounts_email_lower", "accounts", [sa.literal_column("lower(email)")],
                    unique=True)
