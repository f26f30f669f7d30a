"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import models  # noqa: F401
from models.base import Base


def test_migrations_match_models(backend):
    with backend.admin_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    # SQLite cannot reflect expression indexes; they are compared on PostgreSQL.
    assert diff == [], diff
