"""Privacy requests and support in the console: deciding an erasure, tickets and grants, and
the support console, which shows a customer's data only while a grant covers it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from entryfy import clock
from models import AccessGrant, AuditEvent, DataRequestPart, Ticket
from privacy import requests as dsr
from tests.console.helpers import console_login, post_form, token
from tests.factories import PASSWORD, totp_now


def test_decide_an_erasure_request(client, session, world):
    person = world.a.worker
    req = dsr.submit(session, person, "erasure", None, PASSWORD)
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/requests"
    page = client.get(url).get_data(as_text=True)
    assert person.first_name in page and "erasure" in page
    dash = client.get(f"/console/c/{world.a.customer.id}/").get_data(as_text=True)
    assert 'id="pending-requests">1<' in dash
    r = post_form(client, url, f"{url}/{req.id}/decision", decision="approve", reason="")
    assert r.status_code == 302, r.get_data(as_text=True)
    part = session.scalar(select(DataRequestPart).where(DataRequestPart.request_id == req.id,
                                                        DataRequestPart.customer_id
                                                        == world.a.customer.id))
    session.refresh(part)
    assert part.status == "completed"
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "data_request.approve",
                                                   AuditEvent.object_id == str(part.id)))


def test_a_denial_needs_a_reason_and_another_customer_cannot_decide(client, session, world):
    req = dsr.submit(session, world.a.worker, "erasure", None, PASSWORD)
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/requests"
    r = post_form(client, url, f"{url}/{req.id}/decision", decision="deny", reason="")
    assert r.status_code == 400
    b_url = f"/console/c/{world.b.customer.id}/requests/{req.id}/decision"
    r = post_form(client, url, b_url, decision="approve")
    assert r.status_code == 404


def _support_login(client, enrolment):
    return console_login(client, enrolment.account.email, otp=totp_now(enrolment.secret))


def test_staff_need_their_second_factor(client, make):
    enrolment = make.staff("support")
    r = console_login(client, enrolment.account.email)
    assert r.status_code == 401
    assert "authenticator" in r.get_data(as_text=True)
    r = console_login(client, enrolment.account.email, otp="000000")
    assert r.status_code == 401


def test_ticket_grant_and_the_support_console(app, session, world, make):
    admin, sup = app.test_client(), app.test_client()
    console_login(admin, world.a.admin.email)
    tickets = f"/console/c/{world.a.customer.id}/tickets"
    r = post_form(admin, tickets, subject="Grinden öppnar inte", body="Sedan i morse.")
    assert r.status_code == 302
    ticket = session.scalar(select(Ticket).where(Ticket.customer_id == world.a.customer.id))
    enrolment = make.staff("support")
    r = _support_login(sup, enrolment)
    assert r.status_code == 302
    assert sup.get("/console/").headers["Location"].endswith("/console/support/")
    listing = sup.get("/console/support/").get_data(as_text=True)
    assert "Grinden öppnar inte" in listing and world.a.customer.name in listing
    members_url = f"/console/support/tickets/{ticket.id}/members"
    assert sup.get(members_url).status_code == 403  # no grant yet
    detail = sup.get(f"/console/support/tickets/{ticket.id}").get_data(as_text=True)
    assert "Sedan i morse." in detail and members_url not in detail

    r = post_form(admin, f"{tickets}/{ticket.id}", action="grant", scopes="members",
                  expires_in_hours="2")
    assert r.status_code == 302, r.get_data(as_text=True)
    detail = sup.get(f"/console/support/tickets/{ticket.id}").get_data(as_text=True)
    assert members_url in detail
    page = sup.get(members_url)
    assert page.status_code == 200 and world.a.worker.last_name in page.get_data(as_text=True)
    assert world.b.worker.last_name not in page.get_data(as_text=True)
    assert sup.get(f"/console/support/tickets/{ticket.id}/entries").status_code == 403
    reads = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "support.read.members", AuditEvent.ticket_id == ticket.id)).all()
    assert len(reads) == 1 and reads[0].actor_id == enrolment.account.id

    grant = session.scalar(select(AccessGrant).where(AccessGrant.ticket_id == ticket.id))
    r = post_form(admin, f"{tickets}/{ticket.id}", action="revoke", grant_id=str(grant.id))
    assert r.status_code == 302
    assert sup.get(members_url).status_code == 403


def test_an_expired_grant_shows_nothing(app, session, world, make):
    admin, sup = app.test_client(), app.test_client()
    console_login(admin, world.a.admin.email)
    tickets = f"/console/c/{world.a.customer.id}/tickets"
    post_form(admin, tickets, subject="S", body="B")
    ticket = session.scalar(select(Ticket).where(Ticket.customer_id == world.a.customer.id))
    post_form(admin, f"{tickets}/{ticket.id}", action="grant", scopes="sites",
              expires_in_hours="1")
    enrolment = make.staff("support")
    _support_login(sup, enrolment)
    url = f"/console/support/tickets/{ticket.id}/sites"
    assert sup.get(url).status_code == 200
    with clock.frozen_at(clock.now() + dt.timedelta(hours=2)):
        assert sup.get(url).status_code == 403


def test_a_customer_admin_cannot_open_the_support_console(client, world):
    console_login(client, world.a.admin.email)
    assert client.get("/console/support/").status_code == 403
    page = client.get(f"/console/c/{world.a.customer.id}/").get_data(as_text=True)
    assert token(page)
