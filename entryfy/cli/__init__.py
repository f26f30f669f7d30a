"""The ``entryfy`` command line (operators, jobs and scripts rely on these names): the root
group, ``db`` and ``demo`` here; the other groups, one module each, are collected in
``entryfy.cli.commands``."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from entryfy.web import database


def _create_app() -> Flask:
    from entryfy import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             add_version_option=False)
def main() -> None:
    """Entryfy: privacy-first workplace entry."""


db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations to DATABASE_URL (as DATABASE_ADMIN_URL when set)."""
    from entryfy import migrate, security

    migrate.upgrade(current_app.config["DATABASE_ADMIN_URL"],
                    app_role=current_app.config["DATABASE_APP_ROLE"], revision=revision,
                    scope_key=security.db_scope_key())
    click.echo(f"database at {revision}")


@click.command("demo")
@click.option("--json", "as_json", is_flag=True,
              help="Print the logins, ids and walkthrough as JSON.")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True,
              help="Where the server runs, for the printed walkthrough.")
@with_appcontext
def demo_cmd(as_json: bool, base_url: str) -> None:
    """Seed the demo world if the database is empty; print the logins, ids and a curl
    walkthrough (check-in, door opening, ledger, register extract)."""
    from entryfy import demo

    with database().transaction() as s:
        demo.seed(s, echo=click.echo, base_url=base_url.rstrip("/"), as_json=as_json)


def register_flask_commands(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(demo_cmd)
    # Further command groups (customer, staff, retention, audit, privacy) register here.
    from entryfy.cli.commands import ALL

    for cmd in ALL:
        app.cli.add_command(cmd)
