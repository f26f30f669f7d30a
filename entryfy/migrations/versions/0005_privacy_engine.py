"""privacy_engine: audit chain heads, append-only audit trail, notices and consents,
retention runs and job locks.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa  # noqa: F401
from alembic import context, op  # noqa: F401

import models.base  # noqa: F401
from models import rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None).
TENANT_TABLES: dict[str, str | None] = {}

GENESIS = "0" * 64

# audit_events: rows never change; they are deleted only as whole chain prefixes by the
# retention path (which sets entryfy.audit_prune for its transaction) or with their customer
# (a cascade from customers, i.e. from inside the foreign key's own trigger).
PG_AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION entryfy_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF coalesce(current_setting('entryfy.audit_prune', true), '') = 'on'
     OR pg_trigger_depth() > 1 THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (only retention prunes it)'
    USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION entryfy_audit_append_only();
"""

# Row-level security for audit_events (customer_id is NULL on the platform chain, so the
# generic tenant policy does not fit): a customer's rows are visible in its context, the
# person's own rows (subject_id) to them, everything in the system scope. Any context may
# append to the platform chain or to the customers it is scoped to. No UPDATE policy: none.
_IDS = ("customer_id = ANY (string_to_array(nullif(current_setting('entryfy.customer_ids', "
        "true), ''), ',')::uuid[])")
_SYSTEM = "current_setting('entryfy.scope', true) = 'system'"
_OWN = "subject_id = nullif(current_setting('entryfy.account_id', true), '')::uuid"
PG_AUDIT_RLS = [
    "DROP POLICY IF EXISTS audit_read ON audit_events",
    "DROP POLICY IF EXISTS audit_append ON audit_events",
    "DROP POLICY IF EXISTS audit_prune ON audit_events",
    f"CREATE POLICY audit_read ON audit_events FOR SELECT USING ({_SYSTEM} OR {_IDS} OR {_OWN})",
    f"CREATE POLICY audit_append ON audit_events FOR INSERT WITH CHECK "
    f"({_SYSTEM} OR customer_id IS NULL OR {_IDS})",
    f"CREATE POLICY audit_prune ON audit_events FOR DELETE USING ({_SYSTEM})",
    "ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE audit_events FORCE ROW LEVEL SECURITY",
]


def upgrade() -> None:
    # "customer:<uuid>" is 45 characters: the chain name needs more than 40.
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("chain", existing_type=sa.String(length=40),
                           type_=sa.String(length=64), existing_nullable=False)
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_audit_chain_heads_customer_id_customers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chain", name=op.f("pk_audit_chain_heads")),
    )
    op.create_index(op.f("ix_audit_chain_heads_customer_id"), "audit_chain_heads",
                    ["customer_id"], unique=False)

    op.create_table(
        "notice_versions",
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("text_sha256", sa.String(length=64), nullable=False),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_versions")),
    )
    op.create_index("uq_notice_versions_purpose_version", "notice_versions",
                    ["purpose", "version"], unique=True)

    op.create_table(
        "consents",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("notice_version_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("channel IN ('app', 'web', 'api', 'email_link')",
                           name=op.f("ck_consents_channel")),
        sa.CheckConstraint("granted = false OR notice_version_id IS NOT NULL",
                           name=op.f("ck_consents_notice")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_consents_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["notice_version_id"], ["notice_versions.id"],
                                name=op.f("fk_consents_notice_version_id_notice_versions"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_account_purpose", "consents",
                    ["account_id", "purpose", "decided_at"], unique=False)

    op.create_table(
        "retention_runs",
        sa.Column("started_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("status IN ('running', 'finished', 'failed', 'skipped')",
                           name=op.f("ck_retention_runs_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )

    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )

    # Retention finds due ledger entries by time, across customers.
    op.create_index("ix_entries_checked_in_at", "entries", ["checked_in_at", "id"],
                    unique=False)

    # Every existing chain gets its head (its last record) and the genesis anchor.
    op.execute(sa.text(
        "INSERT INTO audit_chain_heads "
        "(chain, customer_id, seq, hash, anchor_seq, anchor_hash, updated_at) "
        "SELECT e.chain, e.customer_id, e.seq, e.hash, 0, :genesis, e.occurred_at "
        "FROM audit_events e WHERE e.seq = "
        "(SELECT max(x.seq) FROM audit_events x WHERE x.chain = e.chain)"
    ).bindparams(genesis=GENESIS))

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(PG_AUDIT_GUARD)
        for stmt in PG_AUDIT_RLS:
            op.execute(stmt)
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )

    rls.enable(bind, TENANT_TABLES)
    rls.ensure_app_role(bind, context.config.attributes.get("app_role"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for stmt in ("DROP POLICY IF EXISTS audit_read ON audit_events",
                     "DROP POLICY IF EXISTS audit_append ON audit_events",
                     "DROP POLICY IF EXISTS audit_prune ON audit_events",
                     "ALTER TABLE audit_events NO FORCE ROW LEVEL SECURITY",
                     "ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY",
                     "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
                     "DROP FUNCTION IF EXISTS entryfy_audit_append_only()"):
            op.execute(stmt)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
    op.drop_index("ix_entries_checked_in_at", table_name="entries")
    op.drop_table("job_locks")
    op.drop_table("retention_runs")
    op.drop_index("ix_consents_account_purpose", table_name="consents")
    op.drop_table("consents")
    op.drop_index("uq_notice_versions_purpose_version", table_name="notice_versions")
    op.drop_table("notice_versions")
    op.drop_index(op.f("ix_audit_chain_heads_customer_id"), table_name="audit_chain_heads")
    op.drop_table("audit_chain_heads")
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("chain", existing_type=sa.String(length=64),
                           type_=sa.String(length=40), existing_nullable=False)
