"""Outgoing e-mail: SMTP when SMTP_URL is set, else a local outbox folder of .eml files, so
nothing is needed to try it. Mail bodies are never logged.

``send()`` inside a request or a CLI/job transaction (``Database.transaction``) does not send:
it hands the mail to the transactional outbox (``entryfy.outbox``, registered at start-up),
which writes a row in that transaction; ``entryfy worker`` sends it after the commit, so a
rolled-back change sends nothing and a mail server that is down loses nothing. Outside any
transaction (a plain script) it sends at once."""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from entryfy import clock

log = logging.getLogger(__name__)

SENDER_DEFAULT = "Entryfy <no-reply@entryfy.dev>"


@dataclass(frozen=True)
class Attachment:
    """A file sent with a mail, e.g. a guest's QR code as an image a reader can scan."""

    filename: str
    mimetype: str
    data: bytes


class Mailer:
    def __init__(self, smtp_url: str | None, outbox_dir: str, sender: str = SENDER_DEFAULT):
        self.smtp_url = smtp_url
        self.outbox = Path(outbox_dir)
        self.sender = sender

    # With no SMTP server (the .eml folder of development and tests), mail written to the
    # outbox is delivered right after the commit that wrote it, so the folder reads like
    # before; with SMTP the worker delivers (ENTRYFY_MAIL_AFTER_COMMIT overrides).
    @property
    def deliver_after_commit(self) -> bool:
        if self._after_commit is not None:
            return self._after_commit
        return not self.smtp_url

    @deliver_after_commit.setter
    def deliver_after_commit(self, value: bool | None) -> None:
        self._after_commit = value

    _after_commit: bool | None = None

    def send(self, to: str, subject: str, body: str,
             headers: dict[str, str] | None = None,
             attachments: Sequence[Attachment] = (),
             message_id: str | None = None) -> str:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        for name, value in (headers or {}).items():
            msg[name] = value
        msg["Date"] = clock.now().strftime("%a, %d %b %Y %H:%M:%S +0000")
        message_id = message_id or f"{uuid.uuid4()}@entryfy"
        msg["Message-ID"] = f"<{message_id}>"
        msg.set_content(body)
        for a in attachments:
            maintype, _, subtype = a.mimetype.partition("/")
            msg.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
        for hook in _ON_SEND:
            hook()  # entryfy.web's: a request that sent mail is never rerun
        if self.smtp_url:
            self._smtp(msg)
        else:
            self.outbox.mkdir(parents=True, exist_ok=True)
            (self.outbox / f"{clock.now():%Y%m%dT%H%M%S}-{message_id}.eml").write_bytes(
                bytes(msg)
            )
        log.info("mail sent id=%s", message_id)  # no address, no subject, no body
        return message_id

    def _smtp(self, msg: EmailMessage) -> None:
        u = urlparse(self.smtp_url or "")
        port = u.port or (465 if u.scheme == "smtps" else 587)
        cls = smtplib.SMTP_SSL if u.scheme == "smtps" else smtplib.SMTP
        with cls(u.hostname or "localhost", port, timeout=20) as smtp:
            if u.scheme == "smtp" and port != 25:
                smtp.starttls()
            if u.username:
                smtp.login(unquote(u.username), unquote(u.password or ""))
            smtp.send_message(msg)

    def messages(self) -> list[EmailMessage]:
        """The outbox, oldest first (tests and the demo read codes from here)."""
        from email import policy
        from email.parser import BytesParser

        if not self.outbox.exists():
            return []
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(p.read_bytes())
                for p in sorted(self.outbox.glob("*.eml"))]


_mailer: Mailer | None = None

# Called before each mail goes out at once. entryfy.web (above this module) registers the
# one that marks the request as not to be rerun: mail sent cannot be taken back.
_ON_SEND: list[Callable[[], None]] = []


def on_send(hook: Callable[[], None]) -> None:
    if hook not in _ON_SEND:
        _ON_SEND.append(hook)


def configure(mailer: Mailer) -> None:
    global _mailer
    _mailer = mailer


def mailer() -> Mailer:
    """The running app's mailer; outside an app (a plain job), the last one configured.

    Per app, not per process: two apps in one process (tests, a CLI building its own) must
    not send into each other's outbox."""
    from flask import current_app, has_app_context

    if has_app_context() and "entryfy.mail" in current_app.extensions:
        return current_app.extensions["entryfy.mail"]
    if _mailer is None:
        raise RuntimeError("entryfy.mail is not configured (create_app does it)")
    return _mailer


# The outbox's writer: (session, to, subject, body, headers, attachments) -> message id.
# Registered by entryfy.outbox (above this module), so the kernel does not import models.
Writer = Callable[[Any, str, str, str, "dict[str, str] | None", "Sequence[Attachment]"], str]
_writer: Writer | None = None


def set_transactional_writer(writer: Writer | None) -> None:
    global _writer
    _writer = writer


def _transaction_session() -> Any:
    """The session of the unit of work this call runs in, if any: the innermost one, so a
    ``Database.transaction`` opened inside a request (an erasure's own steps) keeps its mail
    with its own writes, committed or rolled back with them, not with the request's."""
    from entryfy.db import active_session

    inner = active_session()
    if inner is not None:
        return inner
    from flask import g, has_app_context

    if has_app_context():
        return g.get("_db_session")
    return None


def send(to: str, subject: str, body: str, headers: dict[str, str] | None = None,
         attachments: Sequence[Attachment] = ()) -> str:
    """Send ``body`` to ``to``: through the outbox inside a transaction, else at once."""
    session = _transaction_session() if _writer is not None else None
    if session is not None and _writer is not None:
        return _writer(session, to, subject, body, headers, attachments)
    return mailer().send(to, subject, body, headers, attachments)
