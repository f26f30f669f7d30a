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
            app_role: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url, connection, app_role), revision)


def current_heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
