"""``entryfy privacy reapply-erasures`` and ``entryfy customer purge``.

They join the ``privacy`` and ``customer`` groups whoever defines those (``attach``), so the
command names stay as the README lists them.
"""

from __future__ import annotations

import json
import uuid

import click
from flask.cli import AppGroup, with_appcontext

from entryfy.web import database


@click.command("reapply-erasures")
@with_appcontext
def reapply_erasures() -> None:
    """After a restore: erase again everything the witness journal records (idempotent).

    Reads the journal in ENTRYFY_WITNESS_URL, not the restored tables. A journal line that does
    not verify is printed and makes the exit status 1; it is never acted on."""
    from entryfy.witness import WitnessUnavailable
    from privacy import erasure_flow

    try:
        result = erasure_flow.reapply(database())
    except WitnessUnavailable as e:
        raise click.ClickException(e.detail) from None
    for b in result.bad_lines:
        click.echo(f"UNVERIFIED journal line {b.line_no}: {b.problem}", err=True)
    left = sum(result.residue.values())
    click.echo(f"{result.checked} journal lines checked, {result.reapplied} applied again, "
               f"residue {left}")
    if result.bad_lines or left:
        raise SystemExit(1)


@click.command("resume-erasures")
@with_appcontext
def resume_erasures() -> None:
    """Carry out approved erasures that have not finished (e.g. the witness was down)."""
    from entryfy.witness import WitnessUnavailable
    from privacy import erasure_flow

    try:
        n = erasure_flow.resume_all(database())
    except WitnessUnavailable as e:
        raise click.ClickException(e.detail) from None
    click.echo(f"{n} erasure requests resumed")


@click.command("purge")
@click.option("--customer-id", type=click.UUID, default=None,
              help="Only this customer (default: every customer whose grace period ended).")
@click.option("--force", is_flag=True, help="Purge before the grace period ends.")
@with_appcontext
def customer_purge(customer_id: uuid.UUID | None, force: bool) -> None:
    """Delete offboarded customers' data (legal holds excepted); print each certificate."""
    from entryfy.errors import EntryfyError
    from models.tenancy import SYSTEM
    from privacy import offboarding

    with database().transaction(SYSTEM) as s:
        ids = [customer_id] if customer_id else offboarding.due(s)
    if not ids:
        click.echo("no customer is due for purging")
        return
    failed = 0
    for cid in ids:
        try:
            with database().transaction(SYSTEM) as s:
                cert = offboarding.purge(s, cid, force=force)
        except EntryfyError as e:
            failed += 1
            click.echo(f"{cid}: {e.detail}", err=True)
            continue
        click.echo(json.dumps(cert, indent=2, ensure_ascii=False))
    if failed:
        raise SystemExit(1)


def attach(commands: list[click.Command]) -> None:
    """Add the commands to the ``privacy`` and ``customer`` groups in ``commands``."""
    for group_name, cmd, help_ in (
        ("privacy", reapply_erasures, "The data map, the registry and notices."),
        ("privacy", resume_erasures, "The data map, the registry and notices."),
        ("customer", customer_purge, "Customers."),
    ):
        group = next((c for c in commands
                      if c.name == group_name and isinstance(c, click.Group)), None)
        if group is None:
            group = AppGroup(group_name, help=help_)
            commands.append(group)
        group.add_command(cmd)
