"""tenants

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa  # noqa: F401
from alembic import context, op  # noqa: F401

import models.base  # noqa: F401
from models import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Tenant tables created here -> their subject column (or None).
TENANT_TABLES: dict[str, str | None] = {}


def upgrade() -> None:
    rls.enable(op.get_bind(), TENANT_TABLES)
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    pass
