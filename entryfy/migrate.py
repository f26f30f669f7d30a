"""Running Alembic from code: ``entryfy db upgrade``, the dev runner and the test suite."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from entryfy.db import normalise_url

HERE = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None,
                   app_role: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.attributes["url"] = normalise_url(url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    cfg.attributes["app_role"] = app_role
    return cfg


def upgrade(url: str | None = None, *, connection: Connection | None = None,
            app_role: str | None = None, revision: str = "head",
            scope_key: bytes | None = None) -> None:
    """``scope_key``: the key the app signs its row-level-security settings with
    (``entryfy.security.db_scope_key()``); stored, as the owner, where the web role cannot
    read it (models/rls.py). On PostgreSQL without it, the web role sees no tenant row."""
    command.upgrade(alembic_config(url, connection, app_role), revision)
    if scope_key is not None and url and not url.startswith("sqlite"):
        store_scope_key(url, scope_key)


def store_scope_key(url: str, key: bytes) -> None:
    from sqlalchemy import create_engine, text

    from models import rls

    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql" and conn.execute(text(
                    "SELECT to_regclass('entryfy_private.scope_key') IS NOT NULL")).scalar():
                rls.set_scope_key(conn, key)
    finally:
        engine.dispose()


def current_heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
