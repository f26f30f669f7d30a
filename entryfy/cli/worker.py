"""``entryfy worker``: the background process (outgoing mail, webhooks, scheduled jobs)."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import with_appcontext

from entryfy.web import database


@click.command("worker")
@click.option("--once", is_flag=True,
              help="Deliver what is due and run due jobs, then exit (cron, tests).")
@click.option("--poll", "poll_s", type=float, default=1.0, show_default=True,
              help="Seconds to wait when nothing is due.")
@click.option("--batch", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Outbox rows claimed per step.")
@click.option("--job", "only_jobs", multiple=True,
              help="Run only this scheduled job (repeatable); default: every registered job.")
@click.option("--no-jobs", is_flag=True, help="Deliver the outbox only, run no jobs.")
@with_appcontext
def worker_cmd(once: bool, poll_s: float, batch: int, only_jobs: tuple[str, ...],
               no_jobs: bool) -> None:
    """Deliver outgoing mail and webhooks and run scheduled jobs; stops on SIGTERM/SIGINT."""
    from entryfy import jobs
    from entryfy.worker import AlreadyRunning, Worker, sqlite_lock

    unknown = set(only_jobs) - set(jobs.registered())
    if unknown:
        raise click.BadParameter(f"unknown job(s): {', '.join(sorted(unknown))}; known: "
                                 f"{', '.join(sorted(jobs.registered()))}", param_hint="--job")
    w = Worker(database(), current_app.extensions["entryfy.mail"], batch=batch,
               poll_s=poll_s, jobs_only=list(only_jobs) or None, run_jobs=not no_jobs)
    try:
        with sqlite_lock(w.db):
            if once:
                click.echo(json.dumps(w.run_once(), sort_keys=True))
                return
            w.install_signal_handlers()
            click.echo(f"worker {w.name} started; SIGTERM or Ctrl-C stops it", err=True)
            w.run_forever()
            click.echo(f"worker {w.name} stopped", err=True)
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
