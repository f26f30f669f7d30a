"""doors: controllers, doors, accesses, door credentials, access events, unlock commands

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None), frozen at this revision.
TENANT_TABLES: dict[str, str | None] = {
    "controllers": None,
    "doors": None,
    "accesses": None,
    "access_doors": None,
    "access_members": None,
    "door_credentials": None,
    "access_events": "account_id",
    "unlock_commands": None,
}


def upgrade() -> None:
    op.create_table('controllers',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('last_seen_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('list_version', sa.BigInteger(), nullable=False),
    sa.Column('list_digest', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_controllers_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_controllers')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_controllers_key_hash'))
    )
    op.create_index(op.f('ix_controllers_customer_id'), 'controllers', ['customer_id'], unique=False)
    op.create_index('uq_controllers_customer_id_id', 'controllers', ['customer_id', 'id'], unique=True)
    op.create_table('doors',
    sa.Column('site_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('radius_m', sa.Integer(), nullable=True),
    sa.Column('controller_id', sa.Uuid(), nullable=True),
    sa.Column('site_entrance', sa.Boolean(), nullable=False),
    sa.Column('entry_code', sa.String(length=40), nullable=False),
    sa.Column('exit_code', sa.String(length=40), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('(latitude IS NULL) = (longitude IS NULL)', name=op.f('ck_doors_position')),
    sa.CheckConstraint('latitude IS NULL OR (latitude >= -90 AND latitude <= 90)', name=op.f('ck_doors_latitude')),
    sa.CheckConstraint('longitude IS NULL OR (longitude >= -180 AND longitude <= 180)', name=op.f('ck_doors_longitude')),
    sa.CheckConstraint('radius_m IS NULL OR (radius_m >= 5 AND radius_m <= 5000)', name=op.f('ck_doors_radius')),
    sa.ForeignKeyConstraint(['controller_id'], ['controllers.id'], name=op.f('fk_doors_controller_id_controllers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id', 'site_id'], ['sites.customer_id', 'sites.id'], name='fk_doors_site', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_doors_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_doors')),
    sa.UniqueConstraint('entry_code', name=op.f('uq_doors_entry_code')),
    sa.UniqueConstraint('exit_code', name=op.f('uq_doors_exit_code'))
    )
    op.create_index(op.f('ix_doors_controller_id'), 'doors', ['controller_id'], unique=False)
    op.create_index(op.f('ix_doors_customer_id'), 'doors', ['customer_id'], unique=False)
    op.create_index('ix_doors_customer_site', 'doors', ['customer_id', 'site_id'], unique=False)
    op.create_index(op.f('ix_doors_site_id'), 'doors', ['site_id'], unique=False)
    op.create_index('uq_doors_customer_id_id', 'doors', ['customer_id', 'id'], unique=True)
    op.create_table('accesses',
    sa.Column('site_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('valid_from', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_to', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('schedule', sa.JSON(), nullable=True),
    sa.Column('methods', sa.JSON(), nullable=False),
    sa.Column('guest', sa.Boolean(), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('valid_to IS NULL OR valid_from IS NULL OR valid_from < valid_to', name=op.f('ck_accesses_validity')),
    sa.ForeignKeyConstraint(['customer_id', 'site_id'], ['sites.customer_id', 'sites.id'], name='fk_accesses_site', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_accesses_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accesses'))
    )
    op.create_index(op.f('ix_accesses_customer_id'), 'accesses', ['customer_id'], unique=False)
    op.create_index(op.f('ix_accesses_site_id'), 'accesses', ['site_id'], unique=False)
    op.create_index('uq_accesses_customer_id_id', 'accesses', ['customer_id', 'id'], unique=True)
    op.create_table('access_doors',
    sa.Column('access_id', sa.Uuid(), nullable=False),
    sa.Column('door_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id', 'access_id'], ['accesses.customer_id', 'accesses.id'], name='fk_access_doors_access', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id', 'door_id'], ['doors.customer_id', 'doors.id'], name='fk_access_doors_door', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_access_doors_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('access_id', 'door_id', name=op.f('pk_access_doors'))
    )
    op.create_index(op.f('ix_access_doors_customer_id'), 'access_doors', ['customer_id'], unique=False)
    op.create_index('ix_access_doors_door', 'access_doors', ['door_id', 'access_id'], unique=False)
    op.create_table('access_members',
    sa.Column('access_id', sa.Uuid(), nullable=False),
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id', 'access_id'], ['accesses.customer_id', 'accesses.id'], name='fk_access_members_access', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id', 'membership_id'], ['memberships.customer_id', 'memberships.id'], name='fk_access_members_membership', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_access_members_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('access_id', 'membership_id', name=op.f('pk_access_members'))
    )
    op.create_index(op.f('ix_access_members_customer_id'), 'access_members', ['customer_id'], unique=False)
    op.create_index('ix_access_members_membership', 'access_members', ['membership_id', 'access_id'], unique=False)
    op.create_table('door_credentials',
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('value_hash', sa.String(length=64), nullable=False),
    sa.Column('valid_from', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_to', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind IN ('pin', 'keycard', 'qr')", name=op.f('ck_door_credentials_kind')),
    sa.ForeignKeyConstraint(['customer_id', 'membership_id'], ['memberships.customer_id', 'memberships.id'], name='fk_door_credentials_membership', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_door_credentials_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_door_credentials')),
    sa.UniqueConstraint('customer_id', 'kind', 'value_hash', name='uq_door_credentials_value')
    )
    op.create_index(op.f('ix_door_credentials_customer_id'), 'door_credentials', ['customer_id'], unique=False)
    op.create_index('ix_door_credentials_membership', 'door_credentials', ['membership_id', 'kind'], unique=False)
    op.create_table('access_events',
    sa.Column('occurred_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('door_id', sa.Uuid(), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.Column('membership_id', sa.Uuid(), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=True),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('controller_id', sa.Uuid(), nullable=True),
    sa.Column('controller_event_id', sa.Uuid(), nullable=True),
    sa.Column('recorded_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("direction IS NULL OR direction IN ('in', 'out')", name=op.f('ck_access_events_direction')),
    sa.CheckConstraint("outcome IN ('granted', 'denied')", name=op.f('ck_access_events_outcome')),
    sa.CheckConstraint("source IN ('app', 'controller')", name=op.f('ck_access_events_source')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_access_events_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['controller_id'], ['controllers.id'], name=op.f('fk_access_events_controller_id_controllers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_access_events_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['door_id'], ['doors.id'], name=op.f('fk_access_events_door_id_doors'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_access_events_membership_id_memberships'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_events')),
    sa.UniqueConstraint('controller_id', 'controller_event_id', name='uq_access_events_controller_event')
    )
    op.create_index('ix_access_events_account_time', 'access_events', ['account_id', 'occurred_at', 'id'], unique=False)
    op.create_index(op.f('ix_access_events_customer_id'), 'access_events', ['customer_id'], unique=False)
    op.create_index('ix_access_events_customer_time', 'access_events', ['customer_id', 'occurred_at', 'id'], unique=False)
    op.create_index('ix_access_events_door_time', 'access_events', ['door_id', 'occurred_at'], unique=False)
    op.create_index('ix_access_events_membership_time', 'access_events', ['membership_id', 'occurred_at'], unique=False)
    op.create_table('unlock_commands',
    sa.Column('controller_id', sa.Uuid(), nullable=False),
    sa.Column('door_id', sa.Uuid(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id', 'controller_id'], ['controllers.customer_id', 'controllers.id'], name='fk_unlock_commands_controller', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id', 'door_id'], ['doors.customer_id', 'doors.id'], name='fk_unlock_commands_door', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_unlock_commands_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['access_events.id'], name=op.f('fk_unlock_commands_event_id_access_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unlock_commands'))
    )
    op.create_index(op.f('ix_unlock_commands_customer_id'), 'unlock_commands', ['customer_id'], unique=False)
    op.create_index('ix_unlock_commands_pending', 'unlock_commands', ['controller_id', 'delivered_at', 'expires_at'], unique=False)
    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    for table in ("unlock_commands", "access_events", "door_credentials", "access_members",
                  "access_doors", "accesses", "doors", "controllers"):
        op.drop_table(table)
