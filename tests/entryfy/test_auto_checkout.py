"""The automatic check-out: entries still open at a site's local time of day are closed at
that time, marked auto, visible in the ledger; idempotent; right across a DST change; the
CLI command runs it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from entryfy.ops import onsite
from models import AuditEvent, Entry
from tests.attendance import entry
from tests.factories import bearer

STHLM_SPRING = dt.date(2026, 3, 29)  # clocks go 02:00 -> 03:00 (CET -> CEST)
STHLM_AUTUMN = dt.date(2026, 10, 25)  # clocks go 03:00 -> 02:00 (CEST -> CET)


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


@pytest.mark.parametrize("now, at, zone, expected", [
    # 18:00 in Stockholm in winter is 17:00 UTC, in summer 16:00 UTC.
    (utc(2026, 3, 28, 20), dt.time(18), "Europe/Stockholm", utc(2026, 3, 28, 17)),
    (utc(2026, 3, 29, 20), dt.time(18), "Europe/Stockholm", utc(2026, 3, 29, 16)),
    (utc(2026, 3, 29, 15), dt.time(18), "Europe/Stockholm", utc(2026, 3, 28, 17)),
    (utc(2026, 10, 25, 20), dt.time(18), "Europe/Stockholm", utc(2026, 10, 25, 17)),
    (utc(2026, 10, 24, 20), dt.time(18), "Europe/Stockholm", utc(2026, 10, 24, 16)),
    # 02:30 does not exist on 29 March: it lands at 03:30 CEST (01:30 UTC).
    (utc(2026, 3, 29, 5), dt.time(2, 30), "Europe/Stockholm", utc(2026, 3, 29, 1, 30)),
    # 02:30 happens twice on 25 October: the first (CEST, 00:30 UTC).
    (utc(2026, 10, 25, 5), dt.time(2, 30), "Europe/Stockholm", utc(2026, 10, 25, 0, 30)),
    (utc(2026, 7, 1, 3), dt.time(23), "America/New_York", utc(2026, 7, 1, 3)),
    (utc(2026, 7, 1, 2, 59), dt.time(23), "America/New_York", utc(2026, 6, 30, 3)),
])
def test_the_last_occurrence_of_a_local_time(now, at, zone, expected):
    assert onsite.last_occurrence(now, at, zone) == expected


def test_open_entries_close_at_the_sites_local_time_across_the_spring_change(
        session, make, world):
    a = world.a
    a.site.auto_checkout_time = dt.time(18, 0)
    quiet = make.site(a.customer)  # no automatic check-out there
    session.commit()
    other = make.account()
    make.membership(a.customer, other, "member")
    # Saturday before the change (CET) and Sunday of the change (CEST), 07:00 local.
    sat = entry(session, a.site, a.worker, checked_in_at=utc(2026, 3, 28, 6))
    sun = entry(session, a.site, other, checked_in_at=utc(2026, 3, 29, 5))
    late = entry(session, quiet, a.worker, checked_in_at=utc(2026, 3, 28, 6))
    b_open = entry(session, world.b.site, world.b.worker, checked_in_at=utc(2026, 3, 28, 6))
    closed = onsite.auto_check_out(session, now=utc(2026, 3, 28, 20))
    session.commit()
    assert closed == {str(a.site.id): 1}
    session.refresh(sat)
    assert (sat.checked_out_at, sat.auto_checkout) == (utc(2026, 3, 28, 17), True)
    # The next day, after the clocks moved: 18:00 local is 16:00 UTC.
    assert onsite.auto_check_out(session, now=utc(2026, 3, 29, 16, 30)) == {
        str(a.site.id): 1}
    session.commit()
    for e in (sun, late, b_open):
        session.refresh(e)
    assert (sun.checked_out_at, sun.auto_checkout) == (utc(2026, 3, 29, 16), True)
    assert (late.checked_out_at, late.auto_checkout) == (None, False)
    assert b_open.checked_out_at is None
    # Idempotent: nothing more to close.
    assert onsite.auto_check_out(session, now=utc(2026, 3, 29, 16, 31)) == {}
    ev = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "entries.auto_checked_out")).all()
    assert [(e.customer_id, e.object_id) for e in ev] == [(a.customer.id, str(a.site.id))] * 2


def test_an_entry_made_after_the_time_waits_for_the_next_day(session, world):
    a = world.a
    a.site.auto_checkout_time = dt.time(18, 0)
    session.commit()
    # In at 19:00 local on 25 October (CET after the change: 18:00 UTC).
    e = entry(session, a.site, a.worker, checked_in_at=utc(2026, 10, 25, 18))
    assert onsite.auto_check_out(session, now=utc(2026, 10, 25, 23)) == {}
    assert onsite.auto_check_out(session, now=utc(2026, 10, 26, 17, 5)) == {
        str(a.site.id): 1}
    session.commit()
    session.refresh(e)
    assert e.checked_out_at == utc(2026, 10, 26, 17)


def test_the_ledger_shows_auto_and_the_setting_is_the_sites(client, session, world):
    a = world.a
    h = bearer(client, a.admin)
    r = client.patch(f"/api/v1/customers/{a.customer.id}/sites/{a.site.id}", headers=h,
                     json={"auto_checkout_time": "18:00"})
    assert r.status_code == 200 and r.get_json()["auto_checkout_time"] == "18:00:00"
    problem = client.patch(f"/api/v1/customers/{a.customer.id}/sites/{a.site.id}", headers=h,
                           json={"auto_checkout_time": "25:00"})
    assert problem.status_code == 400
    entry(session, a.site, a.worker, checked_in_at=utc(2026, 11, 2, 6))
    onsite.auto_check_out(session, now=utc(2026, 11, 2, 18))
    session.commit()
    led = client.get(f"/api/v1/customers/{a.customer.id}/sites/{a.site.id}/ledger"
                     "?from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z&format=csv", headers=h)
    text = led.get_data(as_text=True).splitlines()
    header = text[0].split(",")
    row = dict(zip(header, text[1].split(","), strict=False))
    # 18:00 in Stockholm (CET): the ledger shows the site's local time.
    assert (row["checked_out_at"], row["auto_checkout"]) == ("2026-11-02T18:00:00+01:00", "yes")
    mine = client.get("/api/v1/me/entries", headers=bearer(client, a.worker)).get_json()
    assert mine["items"][0]["auto_checkout"] is True


def test_the_command(runner, committed):
    """``entryfy entries auto-checkout`` closes and commits."""
    from entryfy.web import database

    with runner.app.app_context():
        db = database()
    from models.tenancy import SYSTEM

    with db.transaction(SYSTEM) as s:
        from tests.factories import Factory

        t = Factory(s).tenant()
        t.site.auto_checkout_time = dt.time(0, 1)
        s.add(Entry(customer_id=t.customer.id, site_id=t.site.id, account_id=t.worker.id,
                    checked_in_at=utc(2026, 1, 1, 6), source="app"))
        site_id = t.site.id
    result = runner.invoke(args=["entries", "auto-checkout"])
    assert result.exit_code == 0, result.output
    assert f"site {site_id}: closed 1" in result.output
    with db.transaction(SYSTEM) as s:
        e = s.scalar(select(Entry).where(Entry.site_id == site_id))
        assert e.auto_checkout is True and e.checked_out_at is not None
    again = runner.invoke(args=["entries", "auto-checkout"])
    assert "auto check-out: 0 entries closed" in again.output


def test_the_worker_runs_it_and_integrations_hear_of_each_check_out(session, database, make,
                                                                     world):
    """The worker's `auto_checkout` job (every 5 minutes) closes the open entries and queues
    one `entry.checked_out` per entry for a webhook that listens for it, as the app's own
    check-out does."""
    import json
    import uuid

    from entryfy import clock, jobs
    from entryfy.ops import webhooks
    from models import WebhookDelivery

    a = world.a
    a.site.auto_checkout_time = dt.time(18, 0)
    endpoint, _secret = webhooks.create_endpoint(
        session, a.customer.id, url="https://93.184.215.14/hook",
        events=["entry.checked_out"], actor_id=None)
    session.commit()
    open_one = entry(session, a.site, a.worker, checked_in_at=utc(2026, 3, 28, 6))
    with clock.frozen_at(utc(2026, 3, 28, 20)):
        assert jobs.run_due(database, "w", only=["auto_checkout"]) == {
            "auto_checkout": "finished"}
    session.refresh(open_one)
    assert (open_one.checked_out_at, open_one.auto_checkout) == (utc(2026, 3, 28, 17), True)
    sent = session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == endpoint.id)).all()
    assert [d.event_type for d in sent] == ["entry.checked_out"]
    payload = sent[0].payload if isinstance(sent[0].payload, dict) else json.loads(
        sent[0].payload)
    data = payload.get("data", payload)
    assert uuid.UUID(str(data["id"])) == open_one.id
