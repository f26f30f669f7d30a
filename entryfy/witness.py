"""The witness: evidence kept outside the database (docs/ARCHITECTURE.md, "Erasure").

A restore from backup rolls the database back; whatever must survive that (the erasure journal,
the published audit-chain heads) is written here instead. The interface is the least an object
store offers too: append a line to a named log, read a log back. ``file://`` is the only
backend today (a folder, by default the instance folder's ``witness/``); an S3-style backend
would implement :class:`Witness` with one object per appended line (object stores cannot
append) and list them in key order.

Appends are durable before they return (``fsync``): an erasure reports completion only after
its journal line is on disk. A witness that cannot be written raises :class:`WitnessUnavailable`
(503 with Retry-After at the HTTP layer): the caller must not go on as if it had been written.

Library ruled out: ``fsspec`` would give many backends at once, but its append semantics differ
per backend (most object stores cannot append) and durability (fsync) is not part of its
interface, which is the one property that matters here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from entryfy.errors import EntryfyError

_LOG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,40}$")


class WitnessUnavailable(EntryfyError):
    """The witness cannot be written or read: a dependency down, so 503 with Retry-After."""

    status = 503
    slug = "witness-unavailable"
    title = "Temporarily unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "The evidence store (witness) cannot be written; nothing "
                         "was reported as done. Try again later.", retry_after=60)


class Witness(Protocol):
    url: str

    def append(self, log: str, line: str) -> None:
        """Add one line (no newline in it) to ``log``, durably, or raise WitnessUnavailable."""

    def lines(self, log: str) -> Iterator[str]:
        """Every line of ``log`` in the order appended (none if the log does not exist)."""


class FileWitness:
    """A folder: one append-only file per log (``<log>.jsonl``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.url = self.folder.resolve().as_uri()

    def _path(self, log: str) -> Path:
        if not _LOG_NAME.match(log):
            raise ValueError(f"bad witness log name {log!r}")
        return self.folder / f"{log}.jsonl"

    def append(self, log: str, line: str) -> None:
        if "\n" in line or "\r" in line:
            raise ValueError("a witness line holds no line break")
        data = (line + "\n").encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # O_APPEND: concurrent writers (several app processes) each add whole lines.
            fd = os.open(self._path(log), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # An earlier append was cut short (disk full, crash): start a line of our
                    # own, so this one stays whole and only the torn one fails to verify.
                    data = b"\n" + data
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError("short write")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            raise WitnessUnavailable() from e

    def lines(self, log: str) -> Iterator[str]:
        path = self._path(log)
        try:
            with path.open("rb") as f:
                for raw in f:
                    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    if text:
                        yield text
        except FileNotFoundError:
            return
        except OSError as e:
            raise WitnessUnavailable("The evidence store (witness) cannot be read.") from e


def from_url(url: str) -> Witness:
    u = urlparse(url)
    if u.scheme == "file":
        return FileWitness(unquote(u.path))
    if u.scheme == "":
        return FileWitness(url)
    raise ValueError(f"unsupported ENTRYFY_WITNESS_URL scheme {u.scheme!r} (file:// only)")


_witness: Witness | None = None


def configure(witness: Witness) -> None:
    global _witness
    _witness = witness


def witness() -> Witness:
    """The running app's witness (create_app sets it from ENTRYFY_WITNESS_URL); outside an
    app, the last one configured (as entryfy.mail does)."""
    from flask import current_app, has_app_context

    if has_app_context() and "entryfy.witness" in current_app.extensions:
        return current_app.extensions["entryfy.witness"]
    if _witness is None:
        raise RuntimeError("entryfy.witness is not configured (create_app does it)")
    return _witness
