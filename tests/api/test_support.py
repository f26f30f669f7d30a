"""Support tickets: the customer's admins open them and grant support time-limited reads for
one ticket; support answers without a grant but reads the customer's data only under one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.ops import identity
from models import AccessGrant, AuditEvent, Entry, Ticket, TicketMessage
from privacy import audit
from tests.factories import login, staff_login

SCOPES = ("members", "sites", "entries")


@dataclasses.dataclass
class Desk:
    """Signed-in clients: A's admin, B's admin, and a support agent."""

    a: Any
    a_csrf: dict[str, str]
    b: Any
    b_csrf: dict[str, str]
    support: Any
    support_csrf: dict[str, str]
    staff: Any


@pytest.fixture
def desk(app, world, make) -> Desk:
    a, b, sup = app.test_client(), app.test_client(), app.test_client()
    enrolment = make.staff("support")
    return Desk(a, {"X-CSRF-Token": login(a, world.a.admin)},
                b, {"X-CSRF-Token": login(b, world.b.admin)},
                sup, {"X-CSRF-Token": staff_login(sup, enrolment)}, enrolment.account)


def tickets_url(customer) -> str:
    return f"/api/v1/customers/{customer.id}/tickets"


def open_ticket(client, csrf, customer, subject="Door will not open",
                body="Anna cannot open the main door since Monday.") -> dict[str, Any]:
    r = client.post(tickets_url(customer), json={"subject": subject, "body": body},
                    headers=csrf)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def grant(client, csrf, customer, ticket, scopes, hours=2):
    r = client.post(f"{tickets_url(customer)}/{ticket['id']}/grants",
                    json={"scopes": list(scopes), "expires_in_hours": hours}, headers=csrf)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def read(desk: Desk, ticket: dict[str, Any], scope: str):
    return desk.support.get(f"/api/v1/support/tickets/{ticket['id']}/{scope}")


def assert_refused(r, slug="grant-required"):
    assert r.status_code == 403, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["type"].endswith(slug)


def support_reads(session, customer_id):
    return session.scalars(select(AuditEvent).where(
        AuditEvent.customer_id == customer_id,
        AuditEvent.action.like("support.read.%")).order_by(AuditEvent.seq)).all()


# ------------------------------------------------------------------ who may do what

def test_signed_out_and_non_staff_cannot_use_support_endpoints(app, world, make, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    paths = ["/api/v1/support/tickets", f"/api/v1/support/tickets/{t['id']}",
             *(f"/api/v1/support/tickets/{t['id']}/{s}" for s in SCOPES)]
    anon = app.test_client()
    for p in paths:
        assert anon.get(p).status_code == 401
    # A customer admin (even one who granted access) and a platform admin: 403.
    grant(desk.a, desk.a_csrf, world.a.customer, t, SCOPES)
    platform = make.staff("platform_admin")
    pa = app.test_client()
    pa_csrf = {"X-CSRF-Token": staff_login(pa, platform)}
    for client, csrf in ((desk.a, desk.a_csrf), (pa, pa_csrf)):
        for p in paths:
            r = client.get(p)
            assert r.status_code == 403, (p, r.get_json())
            assert r.get_json()["type"].endswith("staff-only")
        r = client.post(f"/api/v1/support/tickets/{t['id']}/messages",
                        json={"body": "hello"}, headers=csrf)
        assert r.status_code == 403


def test_admin_of_a_cannot_see_or_touch_b_tickets(world, desk):
    tb = open_ticket(desk.b, desk.b_csrf, world.b.customer)
    assert desk.a.get(tickets_url(world.b.customer)).status_code == 404
    assert desk.a.post(tickets_url(world.b.customer), json={"subject": "x", "body": "y"},
                       headers=desk.a_csrf).status_code == 404
    base_a = f"{tickets_url(world.a.customer)}/{tb['id']}"
    base_b = f"{tickets_url(world.b.customer)}/{tb['id']}"
    for base in (base_a, base_b):
        assert desk.a.get(base).status_code == 404
        assert desk.a.patch(base, json={"status": "closed"},
                            headers=desk.a_csrf).status_code == 404
        assert desk.a.post(f"{base}/messages", json={"body": "hi"},
                           headers=desk.a_csrf).status_code == 404
        assert desk.a.post(f"{base}/grants", json={"scopes": ["members"],
                                                   "expires_in_hours": 1},
                           headers=desk.a_csrf).status_code == 404
    assert desk.a.get(tickets_url(world.a.customer)).get_json()["items"] == []
    detail = desk.b.get(base_b).get_json()
    assert detail["status"] == "open" and len(detail["messages"]) == 1
    assert detail["grants"] == []


def test_worker_cannot_open_or_list_tickets(app, world):
    c = app.test_client()
    csrf = {"X-CSRF-Token": login(c, world.a.worker)}
    r = c.post(tickets_url(world.a.customer), json={"subject": "s", "body": "b"}, headers=csrf)
    assert r.status_code == 403
    assert c.get(tickets_url(world.a.customer)).status_code == 403


@pytest.mark.parametrize("body", [
    {"subject": "Help"},
    {"body": "Help"},
    {"subject": "   ", "body": "Help"},
    {"subject": "Help", "body": " \n "},
    {"subject": "x" * 201, "body": "Help"},
    {"subject": "Help", "body": "x" * 10_001},
    {"subject": "Help", "body": "Help", "status": "closed"},
    {"subject": "Help\x00", "body": "Help"},
    {"subject": 5, "body": "Help"},
])
def test_ticket_input_is_validated_and_nothing_written(world, desk, session, body):
    r = desk.a.post(tickets_url(world.a.customer), json=body, headers=desk.a_csrf)
    assert r.status_code == 400, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert session.scalar(select(Ticket).where(Ticket.customer_id == world.a.customer.id)) is None


@pytest.mark.parametrize("body", [
    {"scopes": [], "expires_in_hours": 2},
    {"scopes": ["everything"], "expires_in_hours": 2},
    {"scopes": "members", "expires_in_hours": 2},
    {"scopes": ["members"]},
    {"scopes": ["members"], "expires_in_hours": 0},
    {"scopes": ["members"], "expires_in_hours": 169},
    {"scopes": ["members"], "expires_in_hours": "2"},
    {"scopes": ["members"], "expires_in_hours": 1.5},
    {"scopes": ["members"], "expires_in_hours": True},
    {"scopes": ["members"], "expires_in_hours": 2, "ticket_id": "x"},
])
def test_grant_input_is_validated_and_nothing_written(world, desk, session, body):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    r = desk.a.post(f"{tickets_url(world.a.customer)}/{t['id']}/grants", json=body,
                    headers=desk.a_csrf)
    assert r.status_code == 400, r.get_json()
    assert session.scalar(select(AccessGrant)) is None


def test_support_input_is_validated(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    url = f"/api/v1/support/tickets/{t['id']}/messages"
    for body in ({}, {"body": "  "}, {"body": "x" * 10_001}, {"body": "ok", "x": 1}):
        assert desk.support.post(url, json=body, headers=desk.support_csrf).status_code == 400
    assert desk.support.get("/api/v1/support/tickets?status=pending").status_code == 400
    assert desk.support.get("/api/v1/support/tickets?cursor=garbage").status_code == 400
    assert desk.support.get("/api/v1/support/tickets?limit=0").status_code == 400
    assert desk.support.get(f"/api/v1/support/tickets/{t['id']}/secrets").status_code == 404
    assert desk.a.get(f"{tickets_url(world.a.customer)}/not-a-uuid").status_code == 404


# ------------------------------------------------------------------ tickets and messages

def test_ticket_conversation_both_ways(world, desk, session):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    assert t["status"] == "open" and t["closed_at"] is None
    assert [m["author_role"] for m in t["messages"]] == ["customer"]
    tb = open_ticket(desk.b, desk.b_csrf, world.b.customer, subject="Ledger export")

    # Support lists every customer's tickets without a grant, and answers.
    listed = desk.support.get("/api/v1/support/tickets").get_json()["items"]
    by_id = {x["id"]: x for x in listed}
    assert {t["id"], tb["id"]} <= set(by_id)
    assert by_id[t["id"]]["customer_name"] == world.a.customer.name
    r = desk.support.post(f"/api/v1/support/tickets/{t['id']}/messages",
                          json={"body": "Which door?"}, headers=desk.support_csrf)
    assert r.status_code == 201 and r.get_json()["author_role"] == "support"

    detail = desk.a.get(f"{tickets_url(world.a.customer)}/{t['id']}").get_json()
    assert detail["status"] == "answered"
    assert [m["body"] for m in detail["messages"]] == [
        "Anna cannot open the main door since Monday.", "Which door?"]
    r = desk.a.post(f"{tickets_url(world.a.customer)}/{t['id']}/messages",
                    json={"body": "The main door."}, headers=desk.a_csrf)
    assert r.status_code == 201
    sup = desk.support.get(f"/api/v1/support/tickets/{t['id']}").get_json()
    assert sup["status"] == "open" and len(sup["messages"]) == 3

    # Filters and pages.
    page = desk.support.get("/api/v1/support/tickets?status=open&limit=1").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = desk.support.get(
        f"/api/v1/support/tickets?status=open&limit=1&cursor={page['next_cursor']}").get_json()
    assert rest["items"][0]["id"] != page["items"][0]["id"]
    own = desk.a.get(tickets_url(world.a.customer)).get_json()["items"]
    assert [x["id"] for x in own] == [t["id"]]

    # Reading a ticket is itself in the customer's audit trail.
    reads = support_reads(session, world.a.customer.id)
    assert [(e.action, e.ticket_id, e.actor_id) for e in reads] == [
        ("support.read.ticket", uuid.UUID(t["id"]), desk.staff.id)]


def test_unknown_ticket_is_404_for_support(desk):
    missing = "00000000-0000-4000-8000-000000000000"
    for p in ("", "/members", "/sites", "/entries"):
        r = desk.support.get(f"/api/v1/support/tickets/{missing}{p}")
        assert r.status_code == 404, p
    r = desk.support.post(f"/api/v1/support/tickets/{missing}/messages", json={"body": "x"},
                          headers=desk.support_csrf)
    assert r.status_code == 404


def test_closed_ticket(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    url = f"{tickets_url(world.a.customer)}/{t['id']}"
    g = grant(desk.a, desk.a_csrf, world.a.customer, t, ["members"])
    assert read(desk, t, "members").status_code == 200
    assert desk.a.patch(url, json={"status": "open"}, headers=desk.a_csrf).status_code == 400
    r = desk.a.patch(url, json={"status": "closed"}, headers=desk.a_csrf)
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "closed" and body["closed_at"]
    # Closing ended the grant at once.
    assert body["grants"][0]["id"] == g["id"] and body["grants"][0]["active"] is False
    assert_refused(read(desk, t, "members"))
    r = desk.a.post(f"{url}/messages", json={"body": "one more"}, headers=desk.a_csrf)
    assert r.status_code == 422 and r.get_json()["type"].endswith("ticket-closed")
    r = desk.support.post(f"/api/v1/support/tickets/{t['id']}/messages",
                          json={"body": "late"}, headers=desk.support_csrf)
    assert r.status_code == 422
    r = desk.a.post(f"{url}/grants", json={"scopes": ["sites"], "expires_in_hours": 1},
                    headers=desk.a_csrf)
    assert r.status_code == 422
    # Closing again is harmless and keeps the first time.
    again = desk.a.patch(url, json={"status": "closed"}, headers=desk.a_csrf).get_json()
    assert again["closed_at"] == body["closed_at"]


# ------------------------------------------------------------------ grants: refusals first

def test_no_grant_no_read(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    for scope in SCOPES:
        assert_refused(read(desk, t, scope))


def test_grant_for_another_scope_is_refused(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    grant(desk.a, desk.a_csrf, world.a.customer, t, ["sites"])
    assert_refused(read(desk, t, "members"))
    assert_refused(read(desk, t, "entries"))
    assert read(desk, t, "sites").status_code == 200


def test_grant_for_another_ticket_is_refused(world, desk):
    t1 = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    t2 = open_ticket(desk.a, desk.a_csrf, world.a.customer, subject="Another")
    grant(desk.a, desk.a_csrf, world.a.customer, t1, SCOPES)
    for scope in SCOPES:
        assert_refused(read(desk, t2, scope))


def test_grant_of_another_customer_is_refused(world, desk):
    ta = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    tb = open_ticket(desk.b, desk.b_csrf, world.b.customer)
    grant(desk.a, desk.a_csrf, world.a.customer, ta, SCOPES)
    for scope in SCOPES:
        assert_refused(read(desk, tb, scope))
    # A's grant shows A's data only.
    members = read(desk, ta, "members").get_json()["items"]
    assert {m["id"] for m in members} == {str(world.a.admin_membership.id),
                                          str(world.a.worker_membership.id)}
    sites = read(desk, ta, "sites").get_json()["items"]
    assert [s["id"] for s in sites] == [str(world.a.site.id)]


def test_expired_grant_is_refused(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    g = grant(desk.a, desk.a_csrf, world.a.customer, t, ["members"], hours=1)
    expires = dt.datetime.fromisoformat(g["expires_at"])
    with clock.frozen_at(expires - dt.timedelta(seconds=1)):
        assert read(desk, t, "members").status_code == 200
    with clock.frozen_at(expires):
        assert_refused(read(desk, t, "members"))
        detail = desk.a.get(f"{tickets_url(world.a.customer)}/{t['id']}").get_json()
        assert detail["grants"][0]["active"] is False


def test_revoked_grant_is_refused_at_the_next_request(world, desk, session):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    g = grant(desk.a, desk.a_csrf, world.a.customer, t, ["members", "sites"])
    assert read(desk, t, "members").status_code == 200
    url = f"{tickets_url(world.a.customer)}/{t['id']}/grants/{g['id']}"
    # Not through another customer's path, nor another ticket's.
    assert desk.b.delete(url, headers=desk.b_csrf).status_code == 404
    tb = open_ticket(desk.b, desk.b_csrf, world.b.customer)
    assert desk.b.delete(f"{tickets_url(world.b.customer)}/{tb['id']}/grants/{g['id']}",
                         headers=desk.b_csrf).status_code == 404
    t2 = open_ticket(desk.a, desk.a_csrf, world.a.customer, subject="Other")
    assert desk.a.delete(f"{tickets_url(world.a.customer)}/{t2['id']}/grants/{g['id']}",
                         headers=desk.a_csrf).status_code == 404
    assert read(desk, t, "sites").status_code == 200

    assert desk.a.delete(url, headers=desk.a_csrf).status_code == 204
    assert_refused(read(desk, t, "members"))
    assert_refused(read(desk, t, "sites"))
    assert desk.a.delete(url, headers=desk.a_csrf).status_code == 204  # idempotent
    actions = [e.action for e in session.scalars(
        select(AuditEvent).where(AuditEvent.customer_id == world.a.customer.id,
                                 AuditEvent.action.like("support.grant.%"))
        .order_by(AuditEvent.seq))]
    assert actions == ["support.grant.created", "support.grant.revoked"]


# ------------------------------------------------------------------ grants: what they allow

def test_valid_grant_reads_exactly_its_scopes_and_every_read_is_audited(world, desk, session):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    grant(desk.a, desk.a_csrf, world.a.customer, t, ["members", "sites"])
    identity.set_identity_number(session, world.a.worker, "19900101-0017")
    session.commit()

    r = read(desk, t, "members")
    assert r.status_code == 200, r.get_json()
    members = {m["account_id"]: m for m in r.get_json()["items"]}
    worker = members[str(world.a.worker.id)]
    assert worker["identity_number"] == "19900101-****"
    assert "0017" not in r.get_data(as_text=True)
    assert worker["email"] == world.a.worker.email and worker["employer_name"] == "Sub AB"
    assert read(desk, t, "sites").status_code == 200
    assert_refused(read(desk, t, "entries"))
    page = desk.support.get(f"/api/v1/support/tickets/{t['id']}/members?limit=1").get_json()
    assert len(page["items"]) == 1 and page["next_cursor"]

    reads = support_reads(session, world.a.customer.id)
    assert [e.action for e in reads] == [
        "support.read.members", "support.read.sites", "support.read.members"]
    for e in reads:
        assert str(e.ticket_id) == t["id"]
        assert e.actor_id == desk.staff.id and e.actor_role == "support"
        assert e.chain == f"customer:{world.a.customer.id}"
    assert support_reads(session, world.b.customer.id) == []
    assert list(audit.verify(session)) == []


def test_entries_scope(world, desk, session):
    now = clock.now()
    mine = Entry(customer_id=world.a.customer.id, site_id=world.a.site.id,
                 account_id=world.a.worker.id, membership_id=world.a.worker_membership.id,
                 checked_in_at=now - dt.timedelta(hours=3), source="app")
    theirs = Entry(customer_id=world.b.customer.id, site_id=world.b.site.id,
                   account_id=world.b.worker.id, checked_in_at=now - dt.timedelta(hours=2),
                   source="app")
    session.add_all([mine, theirs])
    session.commit()
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    grant(desk.a, desk.a_csrf, world.a.customer, t, ["entries"])
    r = read(desk, t, "entries")
    assert r.status_code == 200, r.get_json()
    items = r.get_json()["items"]
    assert [x["id"] for x in items] == [str(mine.id)]
    assert items[0]["member_id"] == str(world.a.worker_membership.id)
    r = desk.support.get(f"/api/v1/support/tickets/{t['id']}/entries?site_id={world.b.site.id}")
    assert r.get_json()["items"] == []
    assert [e.object_type for e in support_reads(session, world.a.customer.id)] == [
        "entry", "entry"]


def test_refused_read_leaves_no_trace_and_bad_cursor_writes_nothing(world, desk, session):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    assert_refused(read(desk, t, "members"))
    grant(desk.a, desk.a_csrf, world.a.customer, t, ["members"])
    r = desk.support.get(f"/api/v1/support/tickets/{t['id']}/members?cursor=%%%")
    assert r.status_code == 400
    assert support_reads(session, world.a.customer.id) == []


def test_support_answer_is_stored_for_the_ticket_customer_only(world, desk, session):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    desk.support.post(f"/api/v1/support/tickets/{t['id']}/messages", json={"body": "On it."},
                      headers=desk.support_csrf)
    msgs = session.scalars(select(TicketMessage).order_by(TicketMessage.created_at)).all()
    assert [(m.customer_id, m.author_role) for m in msgs] == [
        (world.a.customer.id, "customer"), (world.a.customer.id, "support")]
    assert msgs[1].author_id == desk.staff.id


def test_customer_admin_sees_support_reads_in_its_audit_trail(world, desk):
    t = open_ticket(desk.a, desk.a_csrf, world.a.customer)
    grant(desk.a, desk.a_csrf, world.a.customer, t, ["sites"])
    assert read(desk, t, "sites").status_code == 200
    r = desk.a.get(f"/api/v1/customers/{world.a.customer.id}/audit-events"
                   "?action=support.read.sites")
    assert r.status_code == 200, r.get_json()
    [event] = r.get_json()["items"]
    assert event["ticket_id"] == t["id"] and event["actor_id"] == str(desk.staff.id)
    assert event["actor_role"] == "support"
    other = desk.b.get(f"/api/v1/customers/{world.b.customer.id}/audit-events"
                       "?action=support.read.sites").get_json()
    assert other["items"] == []
