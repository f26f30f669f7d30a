"""support: tickets, their messages and access grants; the second factor on accounts

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None).
TENANT_TABLES: dict[str, str | None] = {
    "tickets": None,
    "ticket_messages": None,
    "access_grants": None,
}


def upgrade() -> None:
    # Nullable columns without constraints: a plain ADD COLUMN on both backends (a batch
    # rebuild of accounts on SQLite would lose its expression index on lower(email)).
    op.add_column("accounts", sa.Column("totp_secret_enc", sa.String(length=200), nullable=True))
    op.add_column("accounts", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("accounts", sa.Column("recovery_codes_hash", sa.Text(), nullable=True))

    op.create_table(
        "tickets",
        sa.Column("opened_by_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("content_removed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')",
                           name=op.f("ck_tickets_status")),
        sa.CheckConstraint("status <> 'closed' OR closed_at IS NOT NULL",
                           name=op.f("ck_tickets_closed_at")),
        sa.ForeignKeyConstraint(["opened_by_id"], ["accounts.id"],
                                name=op.f("fk_tickets_opened_by_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_tickets_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("customer_id", "id", name="uq_tickets_customer_id_id"),
    )
    op.create_index(op.f("ix_tickets_customer_id"), "tickets", ["customer_id"], unique=False)
    op.create_index("ix_tickets_customer_created", "tickets", ["customer_id", "created_at"],
                    unique=False)
    op.create_index("ix_tickets_status_closed", "tickets", ["status", "closed_at"],
                    unique=False)

    op.create_table(
        "ticket_messages",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("author_role", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("author_role IN ('customer', 'support')",
                           name=op.f("ck_ticket_messages_author_role")),
        sa.ForeignKeyConstraint(["author_id"], ["accounts.id"],
                                name=op.f("fk_ticket_messages_author_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_ticket_messages_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id", "ticket_id"],
                                ["tickets.customer_id", "tickets.id"],
                                name="fk_ticket_messages_ticket", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_messages")),
    )
    op.create_index(op.f("ix_ticket_messages_customer_id"), "ticket_messages", ["customer_id"],
                    unique=False)
    op.create_index("ix_ticket_messages_ticket_created", "ticket_messages",
                    ["ticket_id", "created_at"], unique=False)

    op.create_table(
        "access_grants",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("scopes", sa.String(length=40), nullable=False),
        sa.Column("granted_by_id", sa.Uuid(), nullable=True),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["granted_by_id"], ["accounts.id"],
                                name=op.f("fk_access_grants_granted_by_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["accounts.id"],
                                name=op.f("fk_access_grants_revoked_by_id_accounts"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_access_grants_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id", "ticket_id"],
                                ["tickets.customer_id", "tickets.id"],
                                name="fk_access_grants_ticket", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_grants")),
    )
    op.create_index(op.f("ix_access_grants_customer_id"), "access_grants", ["customer_id"],
                    unique=False)
    op.create_index("ix_access_grants_ticket", "access_grants", ["ticket_id", "expires_at"],
                    unique=False)

    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_index("ix_access_grants_ticket", table_name="access_grants")
    op.drop_index(op.f("ix_access_grants_customer_id"), table_name="access_grants")
    op.drop_table("access_grants")
    op.drop_index("ix_ticket_messages_ticket_created", table_name="ticket_messages")
    op.drop_index(op.f("ix_ticket_messages_customer_id"), table_name="ticket_messages")
    op.drop_table("ticket_messages")
    op.drop_index("ix_tickets_status_closed", table_name="tickets")
    op.drop_index("ix_tickets_customer_created", table_name="tickets")
    op.drop_index(op.f("ix_tickets_customer_id"), table_name="tickets")
    op.drop_table("tickets")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("recovery_codes_hash")
        batch.drop_column("totp_last_step")
        batch.drop_column("totp_secret_enc")
