"""Webhooks: a customer's endpoints, and delivering their outbox rows signed per Standard
Webhooks (the ``standardwebhooks`` package: headers webhook-id, webhook-timestamp,
webhook-signature ``v1,<HMAC-SHA256>``).

A delivery is tried at once, then with exponential backoff over about 24 hours
(entryfy.outbox.BACKOFF); when its last try fails the endpoint is disabled and the
customer's admins are told by e-mail. Every target is checked against SSRF when the endpoint
is made and again at each delivery (entryfy.netguard).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook

from entryfy import clock, mail, netguard, outbox, security
from entryfy.db import Database, rows_written
from entryfy.errors import NotFound, Unprocessable, ValidationFailed
from entryfy.ops.tenant import load_owned
from models import Customer, WebhookDelivery, WebhookEndpoint
from models.customers import admin_addresses
from models.tenancy import SYSTEM
from models.vocab import WEBHOOK_EVENTS
from privacy import audit

log = logging.getLogger(__name__)

SECRET_CONTEXT = "webhook-secret"  # noqa: S105  (an AEAD context label, not a secret)
MAX_ENDPOINTS = 20  # per customer


def allow_private() -> bool:
    return os.environ.get("ENTRYFY_WEBHOOKS_ALLOW_PRIVATE", "").strip().lower() in {
        "1", "true", "yes", "on"}


def _check_target(url: str) -> None:
    try:
        netguard.check(url, allow_private=allow_private())
    except netguard.Refused as exc:
        if exc.slug == "webhook-url-invalid":
            raise ValidationFailed({"url": [str(exc)]}) from None
        raise Unprocessable(str(exc), slug=exc.slug) from None


def create_endpoint(session: Session, customer_id: uuid.UUID, *, url: str,
                    events: Sequence[str], actor_id: uuid.UUID | None
                    ) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once, stored encrypted)."""
    chosen = sorted(set(events))
    unknown = [e for e in chosen if e not in WEBHOOK_EVENTS]
    if not chosen or unknown:
        raise ValidationFailed({"events": [f"One or more of: {', '.join(WEBHOOK_EVENTS)}."]})
    _check_target(url)
    count = len(session.scalars(select(WebhookEndpoint.id).where(
        WebhookEndpoint.customer_id == customer_id)).all())
    if count >= MAX_ENDPOINTS:
        raise Unprocessable(f"At most {MAX_ENDPOINTS} webhooks per customer.",
                            slug="webhook-limit")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    ep = WebhookEndpoint(
        id=uuid.uuid4(), customer_id=customer_id, url=url, events="," + ",".join(chosen) + ",",
        secret_enc=security.keys().encrypt(secret, context=SECRET_CONTEXT), active=True,
    )
    session.add(ep)
    session.flush()
    audit.record(session, action="webhook.created", customer_id=customer_id, actor_id=actor_id,
                 actor_role="admin", object_type="webhook", object_id=ep.id)
    return ep, secret


def get_endpoint(session: Session, customer_id: uuid.UUID, endpoint_id: uuid.UUID
                 ) -> WebhookEndpoint:
    return load_owned(session, WebhookEndpoint, customer_id, endpoint_id, "webhook")


def delete_endpoint(session: Session, ep: WebhookEndpoint, *, actor_id: uuid.UUID | None
                    ) -> None:
    audit.record(session, action="webhook.deleted", customer_id=ep.customer_id,
                 actor_id=actor_id, actor_role="admin", object_type="webhook", object_id=ep.id)
    session.delete(ep)  # its deliveries go with it (ON DELETE CASCADE)
    session.flush()


def replay(session: Session, customer_id: uuid.UUID, endpoint_id: uuid.UUID,
           delivery_id: uuid.UUID) -> WebhookDelivery:
    """Send one delivery again: a new row with the same payload and message id (so a
    receiver that deduplicates by webhook-id sees the same message)."""
    ep = get_endpoint(session, customer_id, endpoint_id)
    old = session.scalar(select(WebhookDelivery).where(
        WebhookDelivery.customer_id == customer_id, WebhookDelivery.endpoint_id == ep.id,
        WebhookDelivery.id == delivery_id))
    if old is None:
        raise NotFound("No such delivery.")
    if not ep.active:
        raise Unprocessable("The webhook is disabled; create it again to receive events.",
                            slug="webhook-disabled")
    now = clock.now()
    new = WebhookDelivery(
        id=uuid.uuid4(), customer_id=customer_id, endpoint_id=ep.id,
        event_type=old.event_type, message_id=old.message_id, payload=old.payload,
        status="pending", attempts=0, next_attempt_at=now, created_at=now,
        replay_of_id=old.id,
    )
    session.add(new)
    session.flush()
    return new


def secret_of(ep: WebhookEndpoint) -> str:
    return security.keys().decrypt(ep.secret_enc, context=SECRET_CONTEXT)


def sign(secret: str, message_id: str, at: dt.datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


# --------------------------------------------------------------------------- delivery

Sender = Callable[[str, bytes, dict[str, str]], int]


def http_sender(url: str, body: bytes, headers: dict[str, str]) -> int:
    return netguard.post(url, body, headers, allow_private=allow_private())


@dataclass
class _Job:
    id: uuid.UUID
    customer_id: uuid.UUID
    url: str
    secret: str
    message_id: str
    payload: str
    attempts: int
    active: bool


def deliver(db: Database, *, limit: int = 50, send: Sender = http_sender,
            ids: Sequence[uuid.UUID] | None = None) -> dict[str, int]:
    """The worker's step: claim due deliveries, POST them, record the outcome."""
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    with db.transaction(SYSTEM) as s:
        # Sent one after another, each within the timeout: the lease covers the worst case.
        lease = max(outbox.LEASE, dt.timedelta(seconds=limit * (netguard.TIMEOUT_S + 1) + 60))
        taken = outbox.claim(s, WebhookDelivery, limit=limit, ids=ids, lease=lease)
        jobs = []
        for d in s.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(taken))):
            ep = s.get(WebhookEndpoint, d.endpoint_id)
            if ep is None:
                continue
            jobs.append(_Job(d.id, d.customer_id, ep.url, secret_of(ep), d.message_id,
                             d.payload, d.attempts, ep.active))
    results: list[tuple[_Job, int | None, str | None]] = []
    for job in jobs:
        code: int | None = None
        error: str | None = None
        if not job.active:
            error = "endpoint-disabled"
        else:
            try:
                code = send(job.url, job.payload.encode(),
                            sign(job.secret, job.message_id, clock.now(), job.payload))
                error = None if 200 <= code < 300 else f"http-{code}"
            except netguard.Refused as exc:
                error = exc.slug.removeprefix("webhook-")
            except TimeoutError:
                error = "timeout"
            except OSError:
                error = "connection-failed"
        results.append((job, code, error))
    # One transaction records the whole batch (a crash before it re-sends the batch after
    # the lease: delivery is at least once, and receivers dedupe by webhook-id).
    if results:
        with db.transaction(SYSTEM) as s:
            for job, code, error in results:
                counts[_record(s, job, code, error)] += 1
    return counts


def _record(s: Session, job: _Job, code: int | None, error: str | None) -> str:
    d = s.get(WebhookDelivery, job.id)
    if d is None:  # its endpoint was deleted meanwhile
        return "failed"
    now = clock.now()
    d.last_attempt_at, d.response_code, d.error, d.locked_until = now, code, error, None
    if error is None:
        d.status = "delivered"
        log.info("webhook delivered delivery=%s code=%s", d.id, code)
        return "delivered"
    retry_at = None if error == "endpoint-disabled" else outbox.next_attempt(d.attempts, now)
    log.info("webhook failed delivery=%s attempt=%d error=%s", d.id, d.attempts, error)
    if retry_at is not None:
        d.next_attempt_at = retry_at
        return "retry"
    d.status = "failed"
    if error != "endpoint-disabled":
        _disable(s, d.customer_id, d.endpoint_id)
    return "failed"


def _disable(s: Session, customer_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    """Retries exhausted: stop sending to the endpoint and tell the customer's admins."""
    changed = rows_written(s.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.active.is_(True))
        .values(active=False, disabled_at=clock.now(), disabled_reason="retries-exhausted")
        .execution_options(synchronize_session=False)
    ))
    if not changed:
        return
    ep = s.get(WebhookEndpoint, endpoint_id)
    customer = s.get(Customer, customer_id)
    emails = s.scalars(admin_addresses(customer_id, clock.now())).all()
    if not emails:
        log.warning("webhook disabled endpoint=%s: customer=%s has no current admin to tell",
                    endpoint_id, customer_id)
    log.warning("webhook disabled endpoint=%s after %d attempts", endpoint_id,
                outbox.MAX_ATTEMPTS)
    for email in emails:
        mail.send(email, "A webhook was disabled",
                  f"Deliveries to the webhook {endpoint_id} of "
                  f"{customer.name if customer else 'your company'} failed for about 24 "
                  f"hours, so it has been disabled.\n\nURL: {ep.url if ep else ''}\n\n"
                  "Check the receiver, then create the webhook again; the deliveries log "
                  "shows each attempt and its response code.\n")
