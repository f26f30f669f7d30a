"""Rule inspection_access: an inspector's access goes two years after it expired or was
revoked, whichever came first; a live or recent one stays."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from entryfy import clock
from models import Inspection
from privacy import retention

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


def _inspection(s, tenant, expires_at, revoked_at=None) -> Inspection:
    i = Inspection(id=uuid.uuid4(), customer_id=tenant.customer.id, site_id=tenant.site.id,
                   code_hash=uuid.uuid4().hex + uuid.uuid4().hex,
                   period_from=expires_at - dt.timedelta(days=30),
                   period_to=expires_at - dt.timedelta(days=1), expires_at=expires_at,
                   revoked_at=revoked_at)
    s.add(i)
    return i


def test_old_accesses_go_and_recent_ones_stay(session, database, world):
    a = world.a
    expired_long_ago = _inspection(session, a, NOW - dt.timedelta(days=2 * 366 + 1))
    revoked_long_ago = _inspection(session, a, NOW + dt.timedelta(hours=1),
                                   revoked_at=NOW - dt.timedelta(days=2 * 366 + 1))
    expired_lately = _inspection(session, a, NOW - dt.timedelta(days=300))
    live = _inspection(session, world.b, NOW + dt.timedelta(hours=3))
    session.commit()
    gone = {expired_long_ago.id, revoked_long_ago.id}
    kept = {expired_lately.id, live.id}
    with clock.frozen_at(NOW):
        report = retention.run(database, host="test-host", only=["inspection_access"])
    counts = {r.rule: r.counts for r in report.rules}
    assert counts["inspection_access"] == {"deleted": 2}
    session.expire_all()
    left = set(session.scalars(select(Inspection.id)))
    assert left == kept and not left & gone
