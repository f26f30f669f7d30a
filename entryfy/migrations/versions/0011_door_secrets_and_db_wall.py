"""door credentials per site and per controller; the database wall the web role cannot widen

- ``door_credentials.site_id`` (a PIN opens the doors of one site) and ``value_enc`` (the
  value under the data key, so each controller's list is hashed with its own key). PINs
  issued before this revision were hashed with a key every controller of the customer held
  (docs/DOORS.md, threat model): they are deleted here and must be issued again.
- Row-level security: the tenancy settings are signed by the app and checked by SECURITY
  DEFINER functions against a key the web role cannot read (models/rls.py, ARCHITECTURE.md).

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

from models import rls

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM door_credentials WHERE kind = 'pin'")
    with op.batch_alter_table("door_credentials") as batch:
        batch.add_column(sa.Column("site_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("value_enc", sa.String(length=255), nullable=True))
        batch.create_foreign_key("fk_door_credentials_site", "sites",
                                 ["customer_id", "site_id"], ["customer_id", "id"],
                                 ondelete="CASCADE")
    # The key itself is stored by whoever runs the migrations with the app's configuration
    # (entryfy.migrate.upgrade(scope_key=...), `entryfy db upgrade`); until then nothing
    # signed is valid and the web role sees no tenant row (fails closed).
    rls.install_signed_scope(op.get_bind())


def downgrade() -> None:
    rls.uninstall_signed_scope(op.get_bind())
    with op.batch_alter_table("door_credentials") as batch:
        batch.drop_constraint("fk_door_credentials_site", type_="foreignkey")
        batch.drop_column("value_enc")
        batch.drop_column("site_id")
