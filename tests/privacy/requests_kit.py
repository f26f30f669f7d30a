"""Shared arrangements and readings for the privacy.requests tests (test_requests_rules.py,
test_requests_decisions.py): a frozen receipt time, the mails sent, each request's history."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock, mail
from models import DataRequestEvent, DataRequestPart, Entry
from privacy import requests as dsr
from tests.factories import PASSWORD

UTC = dt.UTC
AT = dt.datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
DUE = dt.datetime(2027, 4, 10, 9, 0, tzinfo=UTC)  # one calendar month after AT


def capture_mail(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """From now on, every mail sent, as (to, subject, body), instead of sending it."""
    out: list[tuple[str, str, str]] = []
    monkeypatch.setattr(mail, "send", lambda to, subject, body, *a, **k: out.append(
        (to, subject, body)))
    return out


def utc(v):
    """A stored time as an aware UTC time (SQLite hands back naive ones)."""
    return v.replace(tzinfo=UTC) if v is not None and v.tzinfo is None else v


def history(session, request_id):
    """(seq, action, role, status, part, customer, note) of each step, in order."""
    return [(e.seq, e.action, e.actor_role, e.status, e.part_id, e.customer_id, e.note)
            for e in session.scalars(select(DataRequestEvent)
                                     .where(DataRequestEvent.request_id == request_id)
                                     .order_by(DataRequestEvent.seq))]


def event_times(session, request_id):
    return [utc(t) for t in session.scalars(select(DataRequestEvent.occurred_at)
                                            .where(DataRequestEvent.request_id == request_id)
                                            .order_by(DataRequestEvent.seq))]


def parts_of(session, request_id):
    return sorted(session.scalars(select(DataRequestPart)
                                  .where(DataRequestPart.request_id == request_id)),
                  key=lambda p: str(p.customer_id))


def submit(session, account, type_, details=None, *, key=None, at=AT):
    with clock.frozen_at(at):
        return dsr.submit_once(session, account, type_, details, PASSWORD,
                               idempotency_key=key)


def entry(session, tenant, account, days_ago=2):
    """A finished visit (one open visit per site and person at most)."""
    start = AT - dt.timedelta(days=days_ago)
    e = Entry(id=uuid.uuid4(), customer_id=tenant.customer.id, site_id=tenant.site.id,
              account_id=account.id, checked_in_at=start,
              checked_out_at=start + dt.timedelta(hours=8))
    session.add(e)
    session.flush()
    return e
