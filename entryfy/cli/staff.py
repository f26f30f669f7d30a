"""``entryfy staff``: vendor accounts (support, platform admin), created with their second
factor enrolled. The password is read from standard input (``--password-stdin``) or asked
for; it never appears on the command line or in a shell history."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from entryfy.errors import EntryfyError
from entryfy.web import database
from models.vocab import STAFF_ROLES

staff_cli = AppGroup("staff", help="Vendor staff accounts (support, platform_admin).")


@staff_cli.command("create")
@click.option("--email", required=True, help="The staff member's e-mail address (sign-in).")
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--first-name", default="Vendor", show_default=True)
@click.option("--last-name", default="Staff", show_default=True)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
def staff_create(email: str, role: str, first_name: str, last_name: str,
                 password_stdin: bool) -> None:
    """Create a staff account; print the TOTP secret to enrol and one-time recovery codes."""
    from entryfy.ops import staff as ops

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.UsageError("an empty password was given")
    try:
        with database().transaction() as s:
            enrolment = ops.create_staff(s, email=email, password=password, role=role,
                                         first_name=first_name, last_name=last_name)
            account_id = enrolment.account.id
    except EntryfyError as exc:
        errors = exc.extra.get("errors") or {}
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        click.echo(f"error: {exc.detail}{' ' + details if details else ''}", err=True)
        sys.exit(1)
    click.echo(f"staff account {account_id} ({role})")
    click.echo("Enrol the second factor in an authenticator app now; it is shown only once.")
    click.echo(f"TOTP secret: {enrolment.secret}")
    click.echo(f"otpauth URI: {enrolment.uri}")
    click.echo("Recovery codes (each works once; keep them offline):")
    for code in enrolment.recovery_codes:
        click.echo(f"  {code}")
