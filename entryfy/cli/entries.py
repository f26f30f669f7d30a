"""``entryfy entries ...``: jobs on attendance that cron (or ``entryfy worker``) runs."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from entryfy.web import database

entries_cli = AppGroup("entries", help="Attendance jobs.")


@entries_cli.command("auto-checkout")
def auto_checkout() -> None:
    """Close the entries still open at each site's automatic check-out time (idempotent;
    run it every few minutes). Prints how many were closed per site."""
    from entryfy.ops import onsite

    with database().transaction() as s:
        closed = onsite.auto_check_out(s)
    for site_id, n in sorted(closed.items()):
        click.echo(f"site {site_id}: closed {n}")
    click.echo(f"auto check-out: {sum(closed.values())} entries closed")


@entries_cli.command("backfill-identity-hashes")
def backfill_identity_hashes() -> None:
    """Once after migration 0016: the kiosk lookup hash for identity numbers stored before
    (idempotent; batches of 500, one transaction each)."""
    from entryfy.ops import identity
    from models.tenancy import SYSTEM

    total = 0
    while True:
        with database().transaction(SYSTEM) as s:
            n = identity.backfill_lookup_hashes(s)
        total += n
        if n == 0:
            break
    click.echo(f"identity numbers given a lookup hash: {total}")
