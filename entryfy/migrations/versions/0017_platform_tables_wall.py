"""platform tables behind the database wall: accounts, access_tokens, devices,
email_verifications

Row-level security on the tables without a customer_id: a person's rows in their own signed
scope and in the signed system scope; a customer's signed scope reads its members' accounts
(not their tokens, devices or codes). The token sign-in becomes one SECURITY DEFINER call,
``entryfy_sign_in``, that returns the token's row and signs the person's context (models/rls.py,
ARCHITECTURE.md "The database wall").

Revision ID: 0017
Revises: 0016
"""
from alembic import context, op

from models import rls

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rls.install_platform_rls(op.get_bind())
    rls.ensure_app_role(op.get_bind(), context.config.attributes.get("app_role"))


def downgrade() -> None:
    rls.uninstall_platform_rls(op.get_bind())
