"""accounts: proof of the mailbox (email_verified_at) and one-time e-mail codes

Accounts that exist before this revision were made by the old registration, which proved
nothing; they are marked verified at their creation time all the same, so nobody is locked
out by the upgrade (their invitations had already bound; what binds from now on needs an
acceptance, entryfy.ops.invitations).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

import models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without constraints: a plain ADD COLUMN on both backends (a batch
    # rebuild of accounts on SQLite would lose its expression index on lower(email)).
    op.add_column("accounts", sa.Column("email_verified_at",
                                        models.base.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE accounts SET email_verified_at = created_at")
    op.create_table(
        "email_verifications",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("purpose IN ('register', 'change')",
                           name=op.f("ck_email_verifications_purpose")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_email_verifications_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_verifications")),
    )
    op.create_index(op.f("ix_email_verifications_account_id"), "email_verifications",
                    ["account_id"], unique=False)
    op.create_index("ix_email_verifications_email_lower", "email_verifications",
                    [sa.literal_column("lower(email)")], unique=False)


def downgrade() -> None:
    op.drop_index("ix_email_verifications_email_lower", table_name="email_verifications")
    op.drop_index(op.f("ix_email_verifications_account_id"), table_name="email_verifications")
    op.drop_table("email_verifications")
    op.drop_column("accounts", "email_verified_at")
