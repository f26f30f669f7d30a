"""``entryfy audit ...``: checking the audit chains, and accepting them after a restore from
a backup."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from entryfy.web import database

audit_cli = AppGroup("audit", help="The audit trail.")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check every audit chain, and compare each with the head the witness saw last (a
    database restored from an older backup is behind it); exit 1 on a break or a rollback."""
    from entryfy.witness import WitnessUnavailable
    from models.tenancy import SYSTEM
    from privacy import audit, journal

    breaks = 0
    with database().transaction(SYSTEM) as s:
        for b in audit.verify(s):
            breaks += 1
            click.echo(f"BROKEN {b.chain} #{b.seq}: {b.problem}", err=True)
        try:
            behind = journal.compare_with_witness(s)
        except WitnessUnavailable as e:
            click.echo(f"WITNESS {e.detail}", err=True)
            raise SystemExit(2) from None
        for r in behind:
            breaks += 1
            click.echo(f"ROLLED BACK {r.chain} #{r.seq}: {r.problem}", err=True)
    if breaks:
        raise SystemExit(1)
    click.echo("every audit chain is intact and not behind the published heads")


@audit_cli.command("acknowledge-restore")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def audit_acknowledge_restore(yes: bool) -> None:
    """After restoring the database from a backup (and `privacy reapply-erasures`): accept the
    audit chains as the restore left them. Prints what was rolled back, records an audit event
    (audit.restore_acknowledged) and publishes the heads to the witness, so `audit verify`
    compares with them from now on; the witness keeps the earlier heads as evidence. Refused
    while a chain is broken (a break is not a restore)."""
    from entryfy.witness import WitnessUnavailable
    from models.tenancy import SYSTEM
    from privacy import audit, journal

    with database().transaction(SYSTEM) as s:
        breaks = list(audit.verify(s))
        for b in breaks:
            click.echo(f"BROKEN {b.chain} #{b.seq}: {b.problem}", err=True)
        if breaks:
            click.echo("refused: a broken chain is not a restore; nothing acknowledged",
                       err=True)
            raise SystemExit(1)
        try:
            behind = journal.compare_with_witness(s)
            for r in behind:
                click.echo(f"ROLLED BACK {r.chain} #{r.seq}: {r.problem}")
            if not behind:
                click.echo("nothing to acknowledge: no chain is behind the published heads")
                return
            if not yes:
                click.confirm("Acknowledge this restore?", abort=True)
            heads = audit.acknowledge_restore(s)
        except WitnessUnavailable as e:
            click.echo(f"WITNESS {e.detail}", err=True)
            raise SystemExit(2) from None
    click.echo(f"restore acknowledged: {len(behind)} findings, {len(heads)} chain heads "
               "published; recorded as audit.restore_acknowledged")
