"""The console's pages on the same operations and walls as the API: sign-in, CSRF, CSP,
languages, and each admin page's happy and unhappy paths."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from entryfy import clock
from models import AuditEvent, Door, Entry, EntryCorrection, Membership, Site
from tests.attendance import entry
from tests.console.helpers import console_login, post_form, token

TEMPLATES = Path(__file__).resolve().parents[2] / "entryfy/console/templates"


def dash(t) -> str:
    return f"/console/c/{t.customer.id}/"


# ------------------------------------------------------------------ sign-in and the frame

def test_login_page_speaks_swedish_or_english(client):
    sv = client.get("/console/login", headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert sv.status_code == 200 and "Logga in" in sv.get_data(as_text=True)
    assert '<html lang="sv">' in sv.get_data(as_text=True)
    en = client.get("/console/login", headers={"Accept-Language": "en-GB"})
    assert "Sign in" in en.get_data(as_text=True) and "Logga in" not in en.get_data(as_text=True)


def test_language_switch_outranks_accept_language(client):
    page = client.get("/console/login", headers={"Accept-Language": "en"})
    r = client.post("/console/language", data={"csrf_token": token(page.get_data(as_text=True)),
                                               "lang": "sv", "next": "/console/login"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/login")
    again = client.get("/console/login", headers={"Accept-Language": "en"})
    assert "Logga in" in again.get_data(as_text=True)


def test_language_switch_refuses_a_foreign_next(client):
    page = client.get("/console/login")
    r = client.post("/console/language", data={"csrf_token": token(page.get_data(as_text=True)),
                                               "lang": "sv", "next": "https://evil.example/"})
    assert r.headers["Location"].endswith("/console/")


def test_every_page_has_a_strict_csp(client, world):
    console_login(client, world.a.admin.email)
    for path in ("/console/login", dash(world.a), f"/console/c/{world.a.customer.id}/members"):
        csp = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_templates_have_no_inline_script_or_style():
    for f in TEMPLATES.rglob("*.html"):
        text = f.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f
        assert not re.search(r"\sstyle=", text), f
        assert not re.search(r"\son[a-z]+=", text), f
        assert "<style" not in text, f


def test_sign_in_lands_on_the_dashboard(client, world):
    r = console_login(client, world.a.admin.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/")
    r = client.get("/console/")
    assert r.status_code == 302 and r.headers["Location"].endswith(dash(world.a))
    page = client.get(dash(world.a))
    assert page.status_code == 200 and world.a.customer.name in page.get_data(as_text=True)


def test_wrong_password_is_401_and_says_nothing_more(client, world):
    r = console_login(client, world.a.admin.email, password="wrong password here")
    assert r.status_code == 401
    assert "Wrong e-mail, password or code." in r.get_data(as_text=True)
    r = console_login(client, "nobody@example.test", password="wrong password here")
    assert r.status_code == 401
    assert "Wrong e-mail, password or code." in r.get_data(as_text=True)


def test_login_without_its_csrf_token_is_refused(client, world):
    client.get("/console/login")
    r = client.post("/console/login", data={"email": world.a.admin.email,
                                            "password": "correct horse battery staple"})
    assert r.status_code == 403
    assert client.get(dash(world.a)).status_code == 302  # still signed out


def test_a_form_without_the_session_token_is_refused(client, world):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/members"
    r = client.post(url, data={"email": "new@example.test", "role": "member"})
    assert r.status_code == 403
    r = client.post(url, data={"csrf_token": "0" * 64, "email": "new@example.test"})
    assert r.status_code == 403


def test_signed_out_pages_redirect_to_login(client, world):
    r = client.get(dash(world.a))
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]


def test_another_customers_console_is_404_and_a_worker_gets_403(client, world):
    console_login(client, world.a.admin.email)
    assert client.get(dash(world.b)).status_code == 404
    assert client.get(f"/console/c/{uuid.uuid4()}/").status_code == 404
    client.post("/console/logout", data={"csrf_token": token(client.get(dash(world.a))
                                                             .get_data(as_text=True))})
    console_login(client, world.a.worker.email)
    assert client.get(dash(world.a)).status_code == 403


def test_logout_ends_the_session(client, world):
    console_login(client, world.a.admin.email)
    page = client.get(dash(world.a)).get_data(as_text=True)
    assert client.post("/console/logout", data={"csrf_token": token(page)}).status_code == 302
    assert client.get(dash(world.a)).status_code == 302


# ------------------------------------------------------------------ members

def test_members_list_names_and_invite(client, session, world):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/members"
    page = client.get(url).get_data(as_text=True)
    assert world.a.worker.first_name in page and world.a.worker.last_name in page
    r = post_form(client, url, email="newcomer@example.test", role="operator",
                  employer_name="Bygg AB")
    assert r.status_code == 302
    m = session.scalar(select(Membership).where(
        Membership.customer_id == world.a.customer.id,
        Membership.invited_email == "newcomer@example.test"))
    assert m is not None and m.role == "operator" and m.employer_name == "Bygg AB"
    assert "newcomer@example.test" in client.get(url).get_data(as_text=True)


def test_find_members_by_name_or_e_mail(client, session, world, make):
    other = make.account(first_name="Per", last_name="Persson")
    make.membership(world.a.customer, other, "member")
    make.membership(world.b.customer, make.account(first_name="Per", last_name="Bsson"),
                    "member")
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/members"
    post_form(client, url, email="per.invited@example.test", role="member")

    def names(q: str) -> str:
        r = client.get(url, query_string={"q": q})
        assert r.status_code == 200
        return r.get_data(as_text=True).split("Members and invitations")[1]

    found = names("per pers")  # first and last name together, any case
    assert "Persson" in found and world.a.worker.last_name not in found
    assert "Bsson" not in found  # another customer's Per
    assert "per.invited@example.test" in names("INVITED")
    assert "Persson" in names(other.email.split("@")[0].upper())
    assert "Persson" not in names("100%") and "Persson" not in names("_")  # literal, not wild
    assert world.a.worker.last_name in names("")  # empty: everyone


def test_invite_refusals_show_on_the_form(client, world):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/members"
    r = post_form(client, url, email="not-an-address", role="member")
    assert r.status_code == 400 and 'role="alert"' in r.get_data(as_text=True)
    r = post_form(client, url, email="x@example.test", role="emperor")
    assert r.status_code == 400


def test_deactivate_a_member_and_keep_the_last_admin(client, session, world):
    console_login(client, world.a.admin.email)
    base = f"/console/c/{world.a.customer.id}/members"
    wm = world.a.worker_membership
    r = post_form(client, base, f"{base}/{wm.id}", role="member", employer_name="Sub AB")
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Membership, wm.id).active is False
    am = world.a.admin_membership
    r = post_form(client, base, f"{base}/{am.id}", role="member", active="1")
    assert r.status_code == 422  # the last admin cannot be demoted
    session.expire_all()
    assert session.get(Membership, am.id).role == "admin"


# ------------------------------------------------------------------ sites, doors, signs

def test_make_a_site_and_a_door_and_see_its_sign(client, session, world):
    console_login(client, world.a.admin.email)
    sites_url = f"/console/c/{world.a.customer.id}/sites"
    r = post_form(client, sites_url, name="Kvarteret Eken", address="Storgatan 1",
                  latitude="59.3326", longitude="18.0649", radius_m="150", geofence="record",
                  ledger_id="PL-4711", timezone="Europe/Stockholm")
    assert r.status_code == 302, r.get_data(as_text=True)
    site = session.scalar(select(Site).where(Site.name == "Kvarteret Eken"))
    assert (site.customer_id, site.radius_m, site.geofence, site.ledger_id) == (
        world.a.customer.id, 150, "record", "PL-4711")
    assert abs(site.latitude - 59.3326) < 1e-9
    doors_url = r.headers["Location"]
    r = post_form(client, doors_url, name="Grind 1", site_entrance="1")
    assert r.status_code == 302
    door = session.scalar(select(Door).where(Door.site_id == site.id))
    assert door.name == "Grind 1" and door.site_entrance is True
    sign = client.get(r.headers["Location"]).get_data(as_text=True)
    assert f"/api/v1/customers/{world.a.customer.id}/doors/{door.id}/sign?format=svg" in sign
    assert 'id="print-sign"' in sign


def test_a_site_form_with_bad_values_is_refused(client, session, world):
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/sites"
    r = post_form(client, url, name="X", latitude="91", longitude="18", radius_m="100")
    assert r.status_code == 400 and "latitude" in r.get_data(as_text=True)
    assert session.scalar(select(Site).where(Site.name == "X")) is None


def test_another_customers_site_doors_are_404(client, world):
    console_login(client, world.a.admin.email)
    r = client.get(f"/console/c/{world.a.customer.id}/sites/{world.b.site.id}/doors")
    assert r.status_code == 404


# ------------------------------------------------------------------ accesses and guests

def test_give_an_access_with_a_weekly_schedule(client, session, world):
    from entryfy.ops import doors as door_ops

    door = door_ops.create_door(session, site=world.a.site, name="Huvudentré")
    session.commit()
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/accesses"
    r = post_form(client, url, name="Dagtid", door_ids=str(door.id),
                  member_ids=str(world.a.worker_membership.id), methods="app",
                  w0_mon="1", w0_tue="1", w0_start="07:00", w0_end="17:00")
    assert r.status_code == 302, r.get_data(as_text=True)
    from models import Access

    access = session.scalar(select(Access).where(Access.name == "Dagtid"))
    assert access.schedule == [{"days": ["mon", "tue"], "start": "07:00", "end": "17:00"}]
    assert [m.membership_id for m in access.members] == [world.a.worker_membership.id]
    r = post_form(client, url, name="Fel", door_ids=str(door.id), methods="app",
                  w0_mon="1", w0_start="25:00", w0_end="17:00")
    assert r.status_code == 400


def test_guest_invitation_from_the_console(client, app, session, world):
    from entryfy.ops import doors as door_ops

    door = door_ops.create_door(session, site=world.a.site, name="Reception")
    session.commit()
    console_login(client, world.a.admin.email)
    outbox = app.extensions["entryfy.mail"]
    before = {m["Message-ID"] for m in outbox.messages()}
    start = clock.now() + dt.timedelta(hours=1)
    r = post_form(client, f"/console/c/{world.a.customer.id}/guests",
                  email="besok@example.test", first_name="Eva",
                  valid_from=start.strftime("%Y-%m-%dT%H:%M"),
                  valid_to=(start + dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
                  door_ids=str(door.id))
    assert r.status_code == 302, r.get_data(as_text=True)
    (msg,) = [m for m in outbox.messages() if m["Message-ID"] not in before]
    assert msg["To"] == "besok@example.test"
    images = [p for p in msg.iter_attachments() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0].get_content().startswith(b"\x89PNG")
    # The page lists the guest whose visit has not ended, in site time, and audits the read.
    page = client.get(f"/console/c/{world.a.customer.id}/guests",
                      headers={"Accept-Language": "sv"}).get_data(as_text=True)
    # (the form's times were typed in site time; the list shows them back the same way)
    assert "besok@example.test" in page and start.strftime("%Y-%m-%d %H:%M") in page
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "members.read",
                                                   AuditEvent.object_type == "guests"))
    assert "besok@example.test" not in client.get(
        f"/console/c/{world.a.customer.id}/guests").get_data(as_text=True).split(
        "Guests invited")[0]  # the form is not prefilled with it
    with clock.frozen_at(start + dt.timedelta(hours=5)):  # the visit is over
        later = client.get(f"/console/c/{world.a.customer.id}/guests").get_data(as_text=True)
    assert "besok@example.test" not in later and "No guests invited." in later


# ------------------------------------------------------------------ entries and corrections

def test_entries_list_and_a_correction_in_site_time(client, session, world):
    t0 = dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC)
    e = entry(session, world.a.site, world.a.worker, checked_in_at=t0)
    console_login(client, world.a.admin.email, **{"Accept-Language": "sv"})
    lst = client.get(f"/console/c/{world.a.customer.id}/entries",
                     headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert world.a.worker.first_name in lst and "2026-11-02 07:30" in lst  # Stockholm, CET
    url = f"/console/c/{world.a.customer.id}/entries/{e.id}"
    r = post_form(client, url, checked_in_at="2026-11-02T07:00",
                  checked_out_at="2026-11-02T16:00", reason="Glömde checka ut")
    assert r.status_code == 302, r.get_data(as_text=True)
    session.expire_all()
    fixed = session.get(Entry, e.id)
    assert fixed.checked_in_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 11, 2, 6, 0,
                                                                      tzinfo=dt.UTC)
    assert fixed.checked_out_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 11, 2, 15, 0,
                                                                       tzinfo=dt.UTC)
    c = session.scalar(select(EntryCorrection).where(EntryCorrection.entry_id == e.id))
    assert c.reason == "Glömde checka ut"
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "entry.corrected",
                                                   AuditEvent.object_id == str(e.id)))


def test_a_correction_without_a_reason_is_refused(client, session, world):
    e = entry(session, world.a.site, world.a.worker,
              checked_in_at=dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC))
    console_login(client, world.a.admin.email)
    url = f"/console/c/{world.a.customer.id}/entries/{e.id}"
    r = post_form(client, url, checked_out_at="2026-11-02T16:00", reason=" ")
    assert r.status_code == 400
    session.expire_all()
    assert session.get(Entry, e.id).checked_out_at is None


def test_another_customers_entry_is_404(client, session, world):
    e = entry(session, world.b.site, world.b.worker,
              checked_in_at=dt.datetime(2026, 11, 2, 6, 30, tzinfo=dt.UTC))
    console_login(client, world.a.admin.email)
    assert client.get(f"/console/c/{world.a.customer.id}/entries/{e.id}").status_code == 404


# ------------------------------------------------------------------ dashboard

def test_dashboard_shows_who_is_on_site(client, session, world):
    entry(session, world.a.site, world.a.worker, checked_in_at=clock.now())
    entry(session, world.b.site, world.b.worker, checked_in_at=clock.now())
    console_login(client, world.a.admin.email)
    page = client.get(dash(world.a)).get_data(as_text=True)
    assert world.a.worker.first_name in page and world.b.worker.first_name not in page
    fragment = client.get(f"/console/c/{world.a.customer.id}/on-site").get_data(as_text=True)
    assert world.a.worker.last_name in fragment and "<html" not in fragment


@pytest.mark.parametrize("lang,expected", [("sv", "1 person"), ("en", "1 person")])
def test_dashboard_counts(client, session, world, lang, expected):
    entry(session, world.a.site, world.a.worker, checked_in_at=clock.now())
    console_login(client, world.a.admin.email)
    page = client.get(dash(world.a), headers={"Accept-Language": lang}).get_data(as_text=True)
    assert expected in page


def test_dashboard_alerts_offline_controllers_and_refused_attempts(client, session, world):
    from entryfy.ops import doors as door_ops
    from models import AccessEvent

    def denied(customer, door, at):  # type: ignore[no-untyped-def]
        session.add(AccessEvent(id=uuid.uuid4(), customer_id=customer.id, door_id=door.id,
                                method="app", outcome="denied", reason="no_access",
                                source="app", occurred_at=at, recorded_at=at))

    console_login(client, world.a.admin.email)
    assert "No open alerts." in client.get(dash(world.a)).get_data(as_text=True)
    now = clock.now()
    ctrl, _key = door_ops.create_controller(session, customer_id=world.a.customer.id,
                                            name="Central Norr")
    ctrl.offline_since = now - dt.timedelta(hours=2)
    door_ops.create_controller(session, customer_id=world.a.customer.id, name="Central Syd")
    b_ctrl, _key = door_ops.create_controller(session, customer_id=world.b.customer.id,
                                              name="B:s central")
    b_ctrl.offline_since = now
    door_a = door_ops.create_door(session, site=world.a.site, name="Grind")
    door_b = door_ops.create_door(session, site=world.b.site, name="B:s grind")
    for minutes in (5, 60):
        denied(world.a.customer, door_a, now - dt.timedelta(minutes=minutes))
    denied(world.a.customer, door_a, now - dt.timedelta(days=2))  # older than a day
    denied(world.b.customer, door_b, now)  # another customer's
    session.commit()
    page = client.get(dash(world.a)).get_data(as_text=True)
    assert "2 refused attempts at the doors in the last 24 hours" in page
    assert "outcome=denied" in page
    assert "1 door controller is offline" in page and "Central Norr" in page
    assert "Central Syd" not in page and "B:s central" not in page
    sv = client.get(dash(world.a), headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "2 nekade försök vid dörrarna det senaste dygnet" in sv
