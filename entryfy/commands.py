"""Command groups of the ``entryfy`` CLI beyond ``db`` and ``demo``: each module adds its
click group to ALL."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from entryfy.web import database

ALL: list[click.Command] = []

audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every audit chain; exit 1 on a break."""
    from models.tenancy import SYSTEM
    from privacy import audit

    breaks = 0
    with database().transaction(SYSTEM) as s:
        for b in audit.verify(s):
            breaks += 1
            click.echo(f"BROKEN {b.chain} #{b.seq}: {b.problem}", err=True)
    if breaks:
        raise SystemExit(1)
    click.echo("every audit chain is intact")


ALL.append(audit_cli)

from entryfy.privacy_cli import privacy_cli, retention_cli  # noqa: E402

ALL += [privacy_cli, retention_cli]

from entryfy.staff_cli import staff_cli  # noqa: E402

ALL.append(staff_cli)

from entryfy.customer_cli import customer_cli  # noqa: E402

ALL.append(customer_cli)

from entryfy.site_cli import entries_cli  # noqa: E402

ALL.append(entries_cli)

# Keep last: adds `privacy reapply-erasures` and `customer purge` to whichever groups exist.
from entryfy.requests_cli import attach as _attach_request_commands  # noqa: E402

_attach_request_commands(ALL)
