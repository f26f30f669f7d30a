"""Alembic environment: migrations run as the owner of the tables (DATABASE_ADMIN_URL)."""

from __future__ import annotations

import os

from alembic import context

import models  # noqa: F401  (registers every model)
from entryfy.db import make_engine, normalise_url
from models.base import Base, only_on

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or os.environ.get("DATABASE_ADMIN_URL") or os.environ.get(
        "DATABASE_URL"
    )
    if not url:
        raise RuntimeError("no database URL for migrations")
    return normalise_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Autogenerate compares a constraint the models create on one backend only
    (models.base.only_on) on that backend only."""
    if reflected or type_ != "foreign_key_constraint":
        return True
    return only_on(obj) in (None, context.get_bind().dialect.name)


def _run(connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    applied: list[str] = []
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=sqlite,
        compare_type=True,
        include_object=include_object,
        on_version_apply=lambda **kw: applied.append(kw["step"].up_revision_id),
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # Batch mode rebuilds a table by copying it, dropping it and renaming the copy. With
    # foreign keys on, SQLite's DROP TABLE deletes every row first and so fires the
    # children's ON DELETE actions: rebuilding entries would delete every entry correction,
    # rebuilding doors would null every event's door. SQLite's own procedure for a table
    # rebuild (sqlite.org/lang_altertable.html): keys off outside the transaction (the
    # pragma is a no-op inside one), PRAGMA foreign_key_check before commit, keys on again.
    if connection.in_transaction():
        raise RuntimeError("SQLite migrations switch foreign keys off: no open transaction")
    dbapi = connection.connection.dbapi_connection
    dbapi.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
            # Only after a migration ran: the check reads every table.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all() \
                if applied else []
            if broken:
                # Raising rolls the whole upgrade back.
                raise RuntimeError(f"foreign keys broken by the migration: {broken[:20]}")
    finally:
        dbapi.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
