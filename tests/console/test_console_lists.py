"""The console's read-only lists: door events and the audit trail with names, the ledger's
export form, the entries filters; each on its own customer only, each read audited."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from entryfy import clock
from models import AccessEvent, AuditEvent
from tests.attendance import entry
from tests.console.helpers import console_login

T0 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)


def _event(session, tenant, door, outcome: str, method: str, minutes: int) -> None:  # type: ignore[no-untyped-def]
    at = T0 + dt.timedelta(minutes=minutes)
    session.add(AccessEvent(id=uuid.uuid4(), customer_id=tenant.customer.id, door_id=door.id,
                            account_id=tenant.worker.id,
                            membership_id=tenant.worker_membership.id, method=method,
                            outcome=outcome, reason=None if outcome == "granted" else "no_access",
                            source="app", occurred_at=at, recorded_at=at))


def _reads(session, action: str, customer_id) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == action, AuditEvent.customer_id == customer_id)) or 0


def test_door_events_with_names_methods_and_the_outcome_filter(client, session, world):
    from entryfy.ops import doors as door_ops

    door = door_ops.create_door(session, site=world.a.site, name="Grind Öst")
    b_door = door_ops.create_door(session, site=world.b.site, name="B:s grind")
    _event(session, world.a, door, "granted", "app_pin", 1)
    _event(session, world.a, door, "denied", "keycard", 2)
    _event(session, world.b, b_door, "granted", "app", 3)
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/events"
    before = _reads(session, "access_events.read", world.a.customer.id)
    page = client.get(url).get_data(as_text=True)
    name = f"{world.a.worker.first_name} {world.a.worker.last_name}"
    assert page.count(name) == 2 and page.count("Grind Öst") == 2
    assert "App + PIN" in page and "Keycard" in page and "no_access" in page
    assert "B:s grind" not in page and world.b.worker.last_name not in page
    assert _reads(session, "access_events.read", world.a.customer.id) == before + 1
    denied = client.get(url, query_string={"outcome": "denied"}).get_data(as_text=True)
    assert denied.count(name) == 1 and "Keycard" in denied and "App + PIN" not in denied
    sv = client.get(url, headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "Passerkort" in sv and "nekad" in sv.lower()


def test_audit_trail_names_who_and_whom_on_this_customers_chain(client, session, world):
    from privacy import audit

    audit.record(session, action="entries.read", customer_id=world.a.customer.id,
                 actor_id=world.a.admin.id, actor_role="admin", object_type="entry",
                 subject_id=world.a.worker.id)
    audit.record(session, action="members.read", customer_id=world.b.customer.id,
                 actor_id=world.b.admin.id, actor_role="admin", subject_id=world.b.worker.id)
    session.commit()
    console_login(client, world.a.admin.email)
    page = client.get(f"/console/c/{world.a.customer.id}/audit").get_data(as_text=True)
    assert "entries.read (entry)" in page
    assert f"{world.a.admin.first_name} {world.a.admin.last_name}" in page
    assert f"{world.a.worker.first_name} {world.a.worker.last_name}" in page
    assert world.b.worker.last_name not in page and world.b.admin.last_name not in page
    assert client.get(f"/console/c/{world.b.customer.id}/audit").status_code == 404


def test_an_operator_sees_door_events_but_not_the_audit_trail(client, session, world, make):
    operator = make.account(first_name="Otto", last_name="Operatör")
    make.membership(world.a.customer, operator, "operator")
    session.commit()
    console_login(client, operator.email)
    c = world.a.customer.id
    assert client.get(f"/console/c/{c}/events").status_code == 200
    for page in ("audit", "ledger", "entries", "accesses", "members"):
        assert client.get(f"/console/c/{c}/{page}").status_code == 403, page


def test_ledger_form_offers_each_site_this_month_in_site_time(client, session, world):
    # 23:30 UTC on 31 December is already 1 January in Stockholm.
    with clock.frozen_at(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)):
        console_login(client, world.a.admin.email)
        page = client.get(f"/console/c/{world.a.customer.id}/ledger").get_data(as_text=True)
        other = client.get(f"/console/c/{world.b.customer.id}/ledger").status_code
    assert f"/api/v1/customers/{world.a.customer.id}/sites/{world.a.site.id}/ledger" in page
    assert 'name="from" value="2027-01-01"' in page and 'name="to" value="2027-01-01"' in page
    assert str(world.b.site.id) not in page
    assert other == 404


def test_entries_filters_by_site_period_and_on_site_now(client, session, world):
    from entryfy.ops import sites as site_ops

    other = site_ops.create_site(session, world.a.customer.id, {
        "name": "Annex", "latitude": 59.0, "longitude": 18.0, "radius_m": 100})
    entry(session, world.a.site, world.a.worker, checked_in_at=T0,
          checked_out_at=T0 + dt.timedelta(hours=8))
    entry(session, other, world.a.admin, checked_in_at=clock.now() - dt.timedelta(hours=1))
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/entries"
    worker, admin = world.a.worker.last_name, world.a.admin.last_name

    def listed(**args: str) -> str:
        r = client.get(url, query_string=args)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        return r.get_data(as_text=True).split("Entries, newest first")[1]

    both = listed()
    assert worker in both and admin in both
    assert admin not in listed(site_id=str(world.a.site.id))
    assert worker not in listed(open_only="1") and admin in listed(open_only="1")
    day = listed(**{"from": "2026-11-30", "to": "2026-11-30"})
    assert worker in day and admin not in day
    assert client.get(url, query_string={"from": "30/11/2026"}).status_code == 400
    # another customer's site id is no filter to this customer's list: it shows nothing of B
    assert world.b.worker.last_name not in listed(site_id=str(world.b.site.id))
