"""The transactional outbox for e-mail, and the claim/retry rules the worker uses for every
outbox table (mail here, webhook deliveries in entryfy.ops.webhooks).

``entryfy.mail.send`` inside a transaction calls ``write_mail``: one row in the same
transaction, content encrypted (codes and PINs travel in mail bodies). The worker claims due
rows with a lease: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` so several workers
share the work without waiting on each other, then an ``UPDATE ... RETURNING`` that re-checks
the lease (which alone suffices on SQLite, where writes are serialised). Nothing stays locked
while a message is on its way, so a slow receiver holds no database lock.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from entryfy import clock, mail, security
from entryfy.db import Database
from models import OutboxMail
from models.tenancy import SYSTEM

log = logging.getLogger(__name__)

# Standard Webhooks' recommended shape, squeezed to about 24 hours: the first attempt at
# once, then these waits (5 s, 5 min, 30 min, 2 h, 5 h, 8 h, 8 h = 23 h 35 min in all).
BACKOFF: tuple[dt.timedelta, ...] = (
    dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
    dt.timedelta(hours=2), dt.timedelta(hours=5), dt.timedelta(hours=8),
    dt.timedelta(hours=8),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
# How long a claimed row is the claimer's: longer than one send can take (timeouts are
# seconds); a worker that dies mid-send frees its rows when the lease runs out.
LEASE = dt.timedelta(minutes=2)
CONTENT_CONTEXT = "outbox-mail"


def next_attempt(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to try again after ``attempts`` failed tries; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[attempts - 1]


def claim(session: Session, model: Any, *, limit: int, ids: Sequence[uuid.UUID] | None = None,
          now: dt.datetime | None = None, lease: dt.timedelta = LEASE) -> list[uuid.UUID]:
    """Take up to ``limit`` due, unleased rows of ``model`` for this caller (flushes; the
    caller commits). Each claim counts as an attempt. ``lease`` must outlast sending the
    whole batch, or another worker could take the rows while they are on their way."""
    now = now or clock.now()
    free = or_(model.locked_until.is_(None), model.locked_until < now)
    q = (select(model.id)
         .where(model.status == "pending", model.next_attempt_at <= now, free)
         .order_by(model.next_attempt_at).limit(limit))
    if ids is not None:
        q = q.where(model.id.in_(list(ids)))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    found = list(session.scalars(q))
    if not found:
        return []
    taken = session.execute(
        update(model).where(model.id.in_(found), model.status == "pending", free)
        .values(locked_until=now + lease, attempts=model.attempts + 1)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).scalars().all()
    return list(taken)


# --------------------------------------------------------------------------- mail

def write_mail(session: Session, to: str, subject: str, body: str,
               headers: dict[str, str] | None = None,
               attachments: Sequence[mail.Attachment] = ()) -> str:
    """Queue one mail in ``session``'s transaction; the message id it will carry. Headers
    (e.g. List-Unsubscribe) and attachments (a guest's QR image) travel in the encrypted
    content with the subject and body."""
    message_id = f"{uuid.uuid4()}@entryfy"
    content = security.keys().encrypt(json.dumps({
        "subject": subject, "body": body, "headers": headers or {},
        "attachments": [{"filename": a.filename, "mimetype": a.mimetype,
                         "data": base64.b64encode(a.data).decode()} for a in attachments],
    }), context=CONTENT_CONTEXT)
    row = OutboxMail(id=uuid.uuid4(), to_address=to, content_enc=content,
                     message_id=message_id, status="pending", attempts=0,
                     next_attempt_at=clock.now())
    session.add(row)
    session.flush()
    if mail.mailer().deliver_after_commit:
        ids: list[uuid.UUID] = session.info.setdefault("outbox_mail_ids", [])
        ids.append(row.id)
        hooks = session.info.setdefault("after_commit", [])
        if _deliver_written not in hooks:
            hooks.append(_deliver_written)
    return message_id


def _deliver_written(session: Session) -> None:
    """After the commit: send the mail this transaction wrote (development's .eml folder)."""
    ids = session.info.pop("outbox_mail_ids", None)
    if ids:
        deliver_mail_in(session, mail.mailer(), ids=ids)
        session.commit()


def deliver_mail_in(session: Session, mailer: mail.Mailer, *, limit: int = 50,
                    ids: Sequence[uuid.UUID] | None = None) -> dict[str, int]:
    """Claim and send due mail using ``session`` (committing between steps)."""
    taken = claim(session, OutboxMail, limit=limit if ids is None else len(ids), ids=ids)
    session.commit()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for mail_id in taken:
        row = session.get(OutboxMail, mail_id)
        if row is None:
            continue
        content = json.loads(security.keys().decrypt(row.content_enc, context=CONTENT_CONTEXT))
        now = clock.now()
        try:
            files = [mail.Attachment(a["filename"], a["mimetype"], base64.b64decode(a["data"]))
                     for a in content.get("attachments", ())]
            mailer.send(row.to_address, content["subject"], content["body"],
                        headers=content.get("headers") or None, attachments=files,
                        message_id=row.message_id)
        except (OSError, ValueError) as exc:  # smtplib errors are OSErrors
            row.last_error = _mail_error(exc)
            retry_at = next_attempt(row.attempts, now)
            if retry_at is None:
                row.status = "failed"
                row.sent_at = now  # the anchor of its retention: given up on
                counts["failed"] += 1
            else:
                row.next_attempt_at = retry_at
                counts["retry"] += 1
            log.warning("mail id=%s not sent (%s), attempt %d", row.message_id,
                        row.last_error, row.attempts)
        else:
            row.status, row.sent_at, row.last_error = "sent", now, None
            counts["sent"] += 1
        row.locked_until = None
        session.commit()
    return counts


def _mail_error(exc: BaseException) -> str:
    import smtplib

    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient-refused"
    if isinstance(exc, smtplib.SMTPException):
        return "smtp-error"
    return "smtp-unavailable"


def deliver_mail(db: Database, mailer: mail.Mailer, *, limit: int = 50) -> dict[str, int]:
    """The worker's step: send what is due."""
    with db.session() as s:
        from models.tenancy import set_context

        set_context(s, SYSTEM)
        return deliver_mail_in(s, mailer, limit=limit)


def install() -> None:
    """Route ``entryfy.mail.send`` in transactions through the outbox (create_app does it)."""
    mail.set_transactional_writer(write_mail)
