"""Command groups of the ``entryfy`` CLI beyond ``db`` and ``demo``: one module of this package
per group, collected in ALL."""

from __future__ import annotations

import click

from entryfy.cli.audit import audit_cli
from entryfy.cli.customer import customer_cli
from entryfy.cli.entries import entries_cli
from entryfy.cli.privacy import privacy_cli, retention_cli
from entryfy.cli.privacy_requests import attach as _attach_request_commands
from entryfy.cli.staff import staff_cli
from entryfy.cli.worker import worker_cmd

ALL: list[click.Command] = [audit_cli, privacy_cli, retention_cli, staff_cli, customer_cli,
                            worker_cmd, entries_cli]

# Keep last: adds `privacy reapply-erasures` and `customer purge` to whichever groups exist.
_attach_request_commands(ALL)
