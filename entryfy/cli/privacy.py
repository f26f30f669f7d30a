"""``entryfy privacy ...`` and ``entryfy retention ...``: the privacy engine on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from entryfy.web import database

privacy_cli = AppGroup("privacy", help="The data map, the registry and notices.")
retention_cli = AppGroup("retention", help="Retention (gallring).")


@privacy_cli.command("map")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all", "all_columns", is_flag=True,
              help="Every column, not only those holding personal data.")
def privacy_map(fmt: str, all_columns: bool) -> None:
    """Print the data map: table, column, whose data, purpose, retention, erasure."""
    from privacy import datamap

    entries = datamap.build()
    if fmt == "json":
        rows = [c.as_dict() for c in entries if all_columns or c.personal]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        click.echo(datamap.render_text(entries, all_columns=all_columns))
    problems = datamap.problems(entries)
    for p in problems:
        click.echo(f"PROBLEM {p}", err=True)
    if problems:
        raise SystemExit(1)


@privacy_cli.command("registry")
def privacy_registry() -> None:
    """Print the processing registry (GDPR Art. 30) as JSON."""
    from privacy import registry

    click.echo(json.dumps(registry.declaration(), indent=2, ensure_ascii=False))


@privacy_cli.command("publish-notice")
@click.argument("purpose")
@click.option("--url", required=True, help="Where the notice text is published.")
@click.option("--text-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="The exact text shown to people (its SHA-256 is kept).")
def publish_notice(purpose: str, url: str, text_file: Path) -> None:
    """Publish a new version of the notice for a consent-based PURPOSE."""
    from entryfy.errors import EntryfyError
    from models.tenancy import SYSTEM
    from privacy import consent

    try:
        with database().transaction(SYSTEM) as s:
            nv = consent.publish_notice(s, purpose, url=url, text=text_file.read_text("utf-8"))
            version = nv.version
    except EntryfyError as e:
        raise click.ClickException(e.detail) from None
    click.echo(f"{purpose} notice version {version} published")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
@click.option("--rule", "rules", multiple=True, help="Only these rules (repeatable).")
def retention_run(dry_run: bool, batch_size: int, rules: tuple[str, ...]) -> None:
    """Delete or anonymise what has passed its retention period (safe on several hosts)."""
    from privacy import registry, retention

    for key in rules:
        try:
            registry.retention_rule(key)
        except KeyError:
            raise click.BadParameter(f"no retention rule {key!r}", param_hint="--rule") from None

    def progress(r: retention.RuleReport) -> None:
        done = ", ".join(f"{k} {v}" for k, v in r.counts.items()) or r.note or "nothing"
        click.echo(f"\r{r.rule}: {done} ({r.batches} batches)", err=True,
                   nl=bool(r.note) or dry_run)

    report = retention.run(database(), dry_run=dry_run, batch_size=batch_size,
                           only=list(rules) or None, progress=progress)
    if sys.stderr.isatty():
        click.echo("", err=True)
    if report.status == "skipped":
        click.echo("another retention run holds the lock; nothing done")
        return
    verb = "would" if dry_run else "did"
    for r in report.rules:
        if r.note:
            click.echo(f"{r.rule}: {r.note}")
            continue
        counts = ", ".join(f"{k}={v}" for k, v in r.counts.items())
        click.echo(f"{r.rule}: {verb} {counts} (cutoff {r.cutoff:%Y-%m-%dT%H:%M:%SZ}, "
                   f"{r.batches} batches, longest {r.longest_batch_s:.3f}s)")
    click.echo(f"run {report.run_id} {report.status}{' (dry run)' if dry_run else ''}")


@privacy_cli.command("send-newsletter")
@click.option("--subject", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True)
@click.option("--base-url", envvar="ENTRYFY_PUBLIC_URL", default="http://localhost:5000",
              show_default=True, help="Where this server is reached (the unsubscribe link).")
def send_newsletter(subject: str, body_file: Path, base_url: str) -> None:
    """Send the newsletter to the people who consent to it now (and to no one else)."""
    from entryfy.ops import newsletter
    from models.tenancy import SYSTEM

    with database().transaction(SYSTEM) as s:
        n = newsletter.send_newsletter(s, subject, body_file.read_text("utf-8"), base_url)
    click.echo(f"newsletter sent to {n} consenting people")
