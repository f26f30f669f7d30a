"""access control depth: lockdowns, door alerts, anti-passback, unlock schedules, keycard +
PIN, the hardware_manager role, the offline trust period

Three tenant tables (lockdowns, door_alerts, passback_states, with row-level security on
PostgreSQL); new columns on doors, accesses, controllers, customers, sites and unlock
commands (whose event is optional now: a lockdown's commands have none). memberships.role
widens to 20 characters and its CHECK gains hardware_manager: on SQLite the table is rebuilt
(batch mode), so the expression index SQLite cannot reflect is dropped before and made again
after, as 0016 does. access_events.method widens to 12 (keycard_pin).

Revision ID: 0019
Revises: 0017
"""
import sqlalchemy as sa
from alembic import context, op

import models.base
from models import rls

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TENANT_TABLES: dict[str, str | None] = {"lockdowns": None, "door_alerts": None,
                                        "passback_states": None}
OLD_ROLES = "role IN ('member', 'admin', 'operator', 'guest', 'foreman')"
NEW_ROLES = "role IN ('member', 'admin', 'operator', 'guest', 'foreman', 'hardware_manager')"


def _memberships_role(sql: str, length: int) -> None:
    op.drop_index("uq_memberships_customer_invite", table_name="memberships")
    with op.batch_alter_table("memberships") as batch:
        batch.alter_column("role", existing_type=sa.String(30 - length),
                           type_=sa.String(length), existing_nullable=False)
        batch.drop_constraint(op.f("ck_memberships_role"), type_="check")
        batch.create_check_constraint(op.f("ck_memberships_role"), sql)
    op.create_index("uq_memberships_customer_invite", "memberships",
                    ["customer_id", sa.literal_column("lower(invited_email)")], unique=True)


def upgrade() -> None:
    op.create_table('lockdowns',
    sa.Column('site_id', sa.Uuid(), nullable=True),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('exempt_roles', sa.JSON(), nullable=False),
    sa.Column('started_by_id', sa.Uuid(), nullable=True),
    sa.Column('ended_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("mode IN ('lockdown', 'unlock_all')", name=op.f('ck_lockdowns_mode')),
    sa.ForeignKeyConstraint(['customer_id', 'site_id'], ['sites.customer_id', 'sites.id'], name='fk_lockdowns_site', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_lockdowns_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ended_by_id'], ['accounts.id'], name=op.f('fk_lockdowns_ended_by_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['started_by_id'], ['accounts.id'], name=op.f('fk_lockdowns_started_by_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lockdowns'))
    )
    with op.batch_alter_table('lockdowns', schema=None) as batch_op:
        batch_op.create_index('ix_lockdowns_customer', ['customer_id', 'created_at', 'id'], unique=False)

    op.create_table('passback_states',
    sa.Column('membership_id', sa.Uuid(), nullable=False),
    sa.Column('site_id', sa.Uuid(), nullable=False),
    sa.Column('entered_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id', 'membership_id'], ['memberships.customer_id', 'memberships.id'], name='fk_passback_states_membership', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id', 'site_id'], ['sites.customer_id', 'sites.id'], name='fk_passback_states_site', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_passback_states_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('membership_id', 'site_id', name=op.f('pk_passback_states'))
    )
    with op.batch_alter_table('passback_states', schema=None) as batch_op:
        batch_op.create_index('ix_passback_states_entered', ['entered_at'], unique=False)

    op.create_table('door_alerts',
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('door_id', sa.Uuid(), nullable=True),
    sa.Column('controller_id', sa.Uuid(), nullable=True),
    sa.Column('controller_event_id', sa.Uuid(), nullable=True),
    sa.Column('occurred_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("type IN ('forced_open', 'held_open', 'tamper', 'controller_offline')", name=op.f('ck_door_alerts_type')),
    sa.ForeignKeyConstraint(['controller_id'], ['controllers.id'], name=op.f('fk_door_alerts_controller_id_controllers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_door_alerts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['door_id'], ['doors.id'], name=op.f('fk_door_alerts_door_id_doors'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_door_alerts')),
    sa.UniqueConstraint('controller_id', 'controller_event_id', name='uq_door_alerts_controller_event')
    )
    with op.batch_alter_table('door_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_door_alerts_customer_time', ['customer_id', 'occurred_at', 'id'], unique=False)

    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.alter_column('method',
               existing_type=sa.VARCHAR(length=8),
               type_=sa.String(length=12),
               existing_nullable=True)

    with op.batch_alter_table('accesses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anti_passback', sa.String(length=4), server_default=sa.text("'off'"), nullable=False))
        batch_op.add_column(sa.Column('anti_passback_exempt_roles', sa.JSON(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_accesses_anti_passback"),
                                         "anti_passback IN ('off', 'soft', 'hard')")

    with op.batch_alter_table('controllers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_list_at', models.base.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('door_list_trust_days', sa.Integer(), server_default=sa.text('7'), nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_customers_door_list_trust_days"),
            "door_list_trust_days >= 1 AND door_list_trust_days <= 30")

    with op.batch_alter_table('doors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unlock_schedule', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('holidays', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('first_person_in', sa.Boolean(), server_default=sa.text("false"), nullable=False))
        batch_op.add_column(sa.Column('first_in_at', models.base.UTCDateTime(timezone=True), nullable=True))

    _memberships_role(NEW_ROLES, 20)

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lockdown_id', sa.Uuid(), nullable=True))

    with op.batch_alter_table('unlock_commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('action', sa.String(length=10), server_default=sa.text("'unlock'"), nullable=False))
        batch_op.alter_column('event_id',
               existing_type=sa.Uuid(),
               nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_unlock_commands_action"),
            "action IN ('unlock', 'lock', 'hold_open', 'release')")

    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))



def downgrade() -> None:
    op.execute("DELETE FROM unlock_commands WHERE event_id IS NULL")
    with op.batch_alter_table('unlock_commands', schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_unlock_commands_action"), type_="check")
        batch_op.alter_column('event_id',
               existing_type=sa.Uuid(),
               nullable=False)
        batch_op.drop_column('action')

    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('lockdown_id')

    op.execute("UPDATE memberships SET role = 'member' WHERE role = 'hardware_manager'")
    _memberships_role(OLD_ROLES, 10)

    with op.batch_alter_table('doors', schema=None) as batch_op:
        batch_op.drop_column('first_in_at')
        batch_op.drop_column('first_person_in')
        batch_op.drop_column('holidays')
        batch_op.drop_column('unlock_schedule')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_customers_door_list_trust_days"), type_="check")
        batch_op.drop_column('door_list_trust_days')

    with op.batch_alter_table('controllers', schema=None) as batch_op:
        batch_op.drop_column('last_list_at')

    with op.batch_alter_table('accesses', schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_accesses_anti_passback"), type_="check")
        batch_op.drop_column('anti_passback_exempt_roles')
        batch_op.drop_column('anti_passback')

    op.execute("UPDATE access_events SET method = 'keycard' WHERE method = 'keycard_pin'")
    with op.batch_alter_table('access_events', schema=None) as batch_op:
        batch_op.alter_column('method',
               existing_type=sa.String(length=12),
               type_=sa.VARCHAR(length=8),
               existing_nullable=True)

    with op.batch_alter_table('door_alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_door_alerts_customer_time')

    op.drop_table('door_alerts')
    with op.batch_alter_table('passback_states', schema=None) as batch_op:
        batch_op.drop_index('ix_passback_states_entered')

    op.drop_table('passback_states')
    with op.batch_alter_table('lockdowns', schema=None) as batch_op:
        batch_op.drop_index('ix_lockdowns_customer')

    op.drop_table('lockdowns')
