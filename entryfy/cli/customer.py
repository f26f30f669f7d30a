"""``entryfy customer``: customers made by the vendor's operators from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from entryfy.errors import EntryfyError
from entryfy.web import database
from models.tenancy import SYSTEM

customer_cli = AppGroup("customer", help="Customers.")


@customer_cli.command("create")
@click.option("--name", required=True, help="The company's name.")
@click.option("--org-nr", required=True, help="Swedish organisation number, e.g. 556677-8899.")
@click.option("--admin-email", required=True,
              help="The first admin: invited by e-mail; binds when they accept.")
@click.option("--address", default=None, help="The company's address.")
def customer_create(name: str, org_nr: str, admin_email: str, address: str | None) -> None:
    """Create a customer and invite its first admin; prints the customer id."""
    from entryfy.ops import customers as ops

    try:
        # The CLI is the vendor's operator acting for the platform: the named system path.
        with database().transaction(SYSTEM) as s:
            customer, _admin = ops.create_customer(s, name=name, org_nr=org_nr,
                                                  admin_email=admin_email, address=address)
            customer_id = customer.id
    except EntryfyError as exc:
        errors = exc.extra.get("errors") or {}
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        click.echo(f"error: {exc.detail}{' ' + details if details else ''}", err=True)
        sys.exit(1)
    # Only the id on stdout, so scripts can capture it; the rest goes to stderr.
    click.echo(str(customer_id))
    click.echo("first admin: invitation e-mailed; it binds when they accept it, signed in with "
               "that address", err=True)
