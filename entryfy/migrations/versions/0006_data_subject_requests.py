"""data_subject_requests: requests, their parts per customer, history, verification codes,
erasure proof and tombstones, customer offboarding.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None).
TENANT_TABLES: dict[str, str | None] = {"data_request_parts": "account_id"}


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('email_hash', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('performed_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reapplied_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('withheld', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures'))
    )
    op.create_index('ix_erasures_account', 'erasures', ['account_id'], unique=False)
    op.create_table('customer_offboardings',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('started_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('grace_until', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_export_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_export_sha256', sa.String(length=64), nullable=True),
    sa.Column('purged_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('certificate', sa.Text(), nullable=True),
    sa.Column('certificate_sha256', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_offboardings_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_offboardings')),
    sa.UniqueConstraint('customer_id', name=op.f('uq_customer_offboardings_customer_id'))
    )
    op.create_table('data_requests',
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('received_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('extended_months', sa.Integer(), nullable=False),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('closed_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('session', 'email')", name=op.f('ck_data_requests_channel')),
    sa.CheckConstraint("status IN ('received', 'verified', 'in_progress', 'waiting_for_customer', 'completed', 'denied')", name=op.f('ck_data_requests_status')),
    sa.CheckConstraint("type IN ('access', 'rectification', 'erasure', 'restriction', 'objection', 'portability')", name=op.f('ck_data_requests_type')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_data_requests_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_requests'))
    )
    op.create_index('ix_data_requests_account_received', 'data_requests', ['account_id', 'received_at'], unique=False)
    op.create_table('erasure_records',
    sa.Column('erasure_id', sa.Uuid(), nullable=False),
    sa.Column('recorded_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=False),
    sa.Column('row_id', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=True),
    sa.Column('columns', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("outcome IN ('deleted', 'anonymised', 'withheld')", name=op.f('ck_erasure_records_outcome')),
    sa.ForeignKeyConstraint(['erasure_id'], ['erasures.id'], name=op.f('fk_erasure_records_erasure_id_erasures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasure_records'))
    )
    op.create_index(op.f('ix_erasure_records_erasure_id'), 'erasure_records', ['erasure_id'], unique=False)
    op.create_table('data_request_events',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Uuid(), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('occurred_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_role', sa.String(length=20), nullable=True),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_data_request_events_request_id_data_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request_events'))
    )
    op.create_index('uq_data_request_events_request_seq', 'data_request_events', ['request_id', 'seq'], unique=True)
    op.create_table('data_request_parts',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('due_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied', 'completed')", name=op.f('ck_data_request_parts_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_data_request_parts_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_data_request_parts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_data_request_parts_request_id_data_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request_parts'))
    )
    op.create_index(op.f('ix_data_request_parts_account_id'), 'data_request_parts', ['account_id'], unique=False)
    op.create_index('ix_data_request_parts_customer_due', 'data_request_parts', ['customer_id', 'due_at'], unique=False)
    op.create_index(op.f('ix_data_request_parts_customer_id'), 'data_request_parts', ['customer_id'], unique=False)
    op.create_index(op.f('ix_data_request_parts_request_id'), 'data_request_parts', ['request_id'], unique=False)
    op.create_index('uq_data_request_parts_request_customer', 'data_request_parts', ['request_id', 'customer_id'], unique=True)
    op.create_table('request_verifications',
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_requests.id'], name=op.f('fk_request_verifications_request_id_data_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_verifications'))
    )
    op.create_index(op.f('ix_request_verifications_request_id'), 'request_verifications', ['request_id'], unique=False)
    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    op.drop_index(op.f('ix_request_verifications_request_id'), table_name='request_verifications')
    op.drop_table('request_verifications')
    op.drop_index('uq_data_request_parts_request_customer', table_name='data_request_parts')
    op.drop_index(op.f('ix_data_request_parts_request_id'), table_name='data_request_parts')
    op.drop_index(op.f('ix_data_request_parts_customer_id'), table_name='data_request_parts')
    op.drop_index('ix_data_request_parts_customer_due', table_name='data_request_parts')
    op.drop_index(op.f('ix_data_request_parts_account_id'), table_name='data_request_parts')
    op.drop_table('data_request_parts')
    op.drop_index('uq_data_request_events_request_seq', table_name='data_request_events')
    op.drop_table('data_request_events')
    op.drop_index(op.f('ix_erasure_records_erasure_id'), table_name='erasure_records')
    op.drop_table('erasure_records')
    op.drop_index('ix_data_requests_account_received', table_name='data_requests')
    op.drop_table('data_requests')
    op.drop_table('customer_offboardings')
    op.drop_index('ix_erasures_account', table_name='erasures')
    op.drop_table('erasures')
