"""Memberships: admins add (or invite), change and remove members; the last admin stays."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from models import Membership
from models.audit import AuditEvent
from tests.api.test_customers import luhn, reread
from tests.factories import (
    SIGNUP_PASSWORD,
    accept_invitations,
    bearer,
    mails_to,
    signup,
)


def url(customer, member=None) -> str:
    base = f"/api/v1/customers/{customer.id}/members"
    return f"{base}/{member.id if hasattr(member, 'id') else member}" if member else base


MEMBER_KEYS = {"id", "first_name", "last_name", "email", "role", "active", "pending",
               "employer_name", "employer_org_nr", "valid_from", "valid_to", "created_at"}


def test_list_shows_what_an_admin_needs_and_no_more(client, world, make):
    a = world.a
    a.worker.phone = "+46701112233"
    make.s.commit()
    make.membership(a.customer, None, invited_email="later@example.test")
    r = client.get(url(a.customer), headers=bearer(client, a.admin))
    assert r.status_code == 200, r.get_json()
    items = r.get_json()["items"]
    assert all(set(i) == MEMBER_KEYS for i in items)
    by_email = {i["email"]: i for i in items}
    worker = by_email[a.worker.email]
    assert (worker["first_name"], worker["role"], worker["pending"]) == (
        a.worker.first_name, "member", False)
    assert (worker["employer_name"], worker["employer_org_nr"]) == ("Sub AB", "559012-3450")
    invite = by_email["later@example.test"]
    assert invite["pending"] is True and invite["first_name"] is None
    # B's people never appear; nor does anyone's phone number.
    assert world.b.worker.email not in by_email
    assert "+46701112233" not in r.get_data(as_text=True)


def test_reading_the_member_list_is_audited(client, world, session):
    client.get(url(world.a.customer), headers=bearer(client, world.a.admin))
    reread(session)
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.customer_id == world.a.customer.id)).all()
    assert "members.read" in actions


def test_pagination_round_trip_and_bad_cursor(client, world, make):
    a = world.a
    for _ in range(5):
        make.membership(a.customer, make.account())
    h = bearer(client, a.admin)
    seen, cursor, pages = [], None, 0
    while True:
        q = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = client.get(url(a.customer), headers=h, query_string=q).get_json()
        seen += [i["id"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 7  # admin, worker and five more
    assert pages == 4
    for bad in ({"cursor": "not-a-cursor"}, {"cursor": "W10"}, {"limit": 0},
                {"limit": 201}, {"limit": "x"}, {"sort": "name"}):
        r = client.get(url(a.customer), headers=h, query_string=bad)
        assert r.status_code == 400, bad
        assert r.mimetype == "application/problem+json"


def test_add_existing_account_is_pending_and_discloses_nothing(client, world, make,
                                                               session):
    """Disclosure by invitation: adding a registered address returned the person's name and
    bound them without consent. Now the answer is the same as for an unknown address."""
    person = make.account()
    h = bearer(client, world.a.admin)
    known = client.post(url(world.a.customer), headers=h, json={
        "email": person.email.upper(), "role": "operator", "employer_name": "Vakt AB",
        "employer_org_nr": "5590123450"})
    unknown = client.post(url(world.a.customer), headers=h, json={
        "email": "nobody.yet@example.test", "role": "operator", "employer_name": "Vakt AB",
        "employer_org_nr": "5590123450"})
    assert known.status_code == unknown.status_code == 201, known.get_json()
    kb, ub = known.get_json(), unknown.get_json()
    assert set(kb) == set(ub) == MEMBER_KEYS
    assert (kb["pending"], kb["first_name"], kb["last_name"]) == (True, None, None)
    assert (ub["pending"], ub["first_name"], ub["last_name"]) == (True, None, None)
    assert kb["email"] == person.email and ub["email"] == "nobody.yet@example.test"
    # Not a member until they accept: no membership in /me, the customer's name in the mail.
    ph = bearer(client, person, device_id="dev-person-1")
    assert client.get("/api/v1/me", headers=ph).get_json()["memberships"] == []
    mail = mails_to(person.email)[-1]
    assert world.a.customer.name in mail["Subject"]
    assert accept_invitations(client, ph) == [str(world.a.customer.id)]
    listed = {i["id"]: i for i in client.get(url(world.a.customer), headers=h).get_json()["items"]}
    assert (listed[kb["id"]]["pending"], listed[kb["id"]]["first_name"]) == (False,
                                                                             person.first_name)
    assert listed[kb["id"]]["employer_org_nr"] == "559012-3450"
    me = client.get("/api/v1/me", headers=ph).get_json()
    assert [(m["customer_id"], m["role"]) for m in me["memberships"]] == [
        (str(world.a.customer.id), "operator")]
    joined = session.scalar(select(AuditEvent).where(AuditEvent.action == "member.joined",
                                                     AuditEvent.subject_id == person.id))
    assert joined is not None and joined.customer_id == world.a.customer.id


def test_invitation_binds_when_the_registered_person_accepts(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    r = client.post(url(a.customer), headers=h, json={"email": "New.Hire@Example.test",
                                                      "employer_name": "UE Bygg AB"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["pending"] is True and r.get_json()["email"] == "new.hire@example.test"
    member_id = r.get_json()["id"]
    signup(client, "new.hire@example.test", first_name="Nya", last_name="Anställd")
    listed = {i["id"]: i for i in client.get(url(a.customer), headers=h).get_json()["items"]}
    assert listed[member_id]["pending"] is True  # registered, not yet accepted
    tok = client.post("/api/v1/auth/tokens", json={
        "email": "new.hire@example.test", "password": SIGNUP_PASSWORD,
        "device_id": "new-hire-phone"}).get_json()["token"]
    nh = {"Authorization": f"Bearer {tok}"}
    assert client.get("/api/v1/me/sites", headers=nh).get_json()["items"] == []
    assert accept_invitations(client, nh) == [str(a.customer.id)]
    listed = {i["id"]: i for i in client.get(url(a.customer), headers=h).get_json()["items"]}
    assert listed[member_id]["pending"] is False
    assert listed[member_id]["first_name"] == "Nya"
    assert listed[member_id]["employer_name"] == "UE Bygg AB"
    # The new member sees the customer's sites now.
    sites = client.get("/api/v1/me/sites", headers=nh)
    assert [s["id"] for s in sites.get_json()["items"]] == [str(a.site.id)]
    reread(session)
    m = session.get(Membership, uuid.UUID(member_id))
    assert m.invited_email is None and m.account_id is not None
    # Accepted once: a second acceptance finds no open invitation.
    r = client.post(f"/api/v1/me/invitations/{member_id}/accept", headers=nh)
    assert r.status_code == 404


def test_duplicates_are_conflicts(client, world, make):
    h = bearer(client, world.a.admin)
    r = client.post(url(world.a.customer), headers=h, json={"email": world.a.worker.email})
    assert r.status_code == 409
    assert r.get_json()["type"].endswith("already-member")
    assert client.post(url(world.a.customer), headers=h,
                       json={"email": "dup@example.test"}).status_code == 201
    r = client.post(url(world.a.customer), headers=h, json={"email": "DUP@example.test"})
    assert r.status_code == 409
    # The same person may be a member of another customer too.
    r = client.post(url(world.b.customer), headers=bearer(client, world.b.admin),
                    json={"email": world.a.worker.email})
    assert r.status_code == 201 and r.get_json()["pending"] is True


@pytest.mark.parametrize("body", [
    {"email": "x@example.test", "role": "guest"},
    {"email": "x@example.test", "role": "owner"},
    {"email": "not-an-email"},
    {"role": "member"},
    {"email": "x@example.test", "account_id": str(uuid.uuid4())},
    {"email": "x@example.test", "employer_org_nr": "556677-8890"},
    {"email": "x@example.test", "employer_org_nr": "12"},
    {"email": "x@example.test", "employer_name": ""},
    {"email": "x@example.test", "valid_from": "2026-05-01T00:00:00Z",
     "valid_to": "2026-04-01T00:00:00Z"},
    {"email": "x@example.test", "valid_from": "yesterday"},
    {"email": ["x@example.test"]},
])
def test_invalid_member_bodies_are_400_and_write_nothing(client, world, session, body):
    h = bearer(client, world.a.admin)
    r = client.post(url(world.a.customer), headers=h, json=body)
    assert r.status_code == 400, (body, r.get_json())
    assert r.mimetype == "application/problem+json"
    reread(session)
    assert session.scalar(select(Membership).where(
        Membership.invited_email == "x@example.test")) is None


def test_sole_trader_employer_is_accepted(client, world):
    nr = luhn("800101123")  # a personnummer-shaped number: a sole trader's org nr
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin),
                    json={"email": "solo@example.test", "employer_org_nr": nr.replace("-", "")})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["employer_org_nr"] == nr


def test_naive_times_are_utc(client, world):
    r = client.post(url(world.a.customer), headers=bearer(client, world.a.admin), json={
        "email": "t@example.test", "valid_from": "2026-01-01T08:00:00",
        "valid_to": "2026-06-01T10:00:00+02:00"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["valid_from"].startswith("2026-01-01T08:00:00")
    assert r.get_json()["valid_to"].startswith("2026-06-01T08:00:00")


def test_patch_changes_role_active_employer_validity(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    r = client.patch(url(a.customer, a.worker_membership), headers=h, json={
        "role": "operator", "employer_name": "Annan AB", "employer_org_nr": None,
        "valid_to": "2030-01-01T00:00:00Z"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["role"], body["employer_name"], body["employer_org_nr"]) == (
        "operator", "Annan AB", None)
    r = client.patch(url(a.customer, a.worker_membership), headers=h, json={"active": False})
    assert r.get_json()["active"] is False
    reread(session)
    m = session.get(Membership, a.worker_membership.id)
    assert (m.role, m.active, m.valid_to) == ("operator", False,
                                              dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    # Deactivated: the person no longer reaches the customer.
    r = client.get(f"/api/v1/customers/{a.customer.id}/sites", headers=bearer(client, a.worker))
    assert r.status_code == 404


def test_patch_period_checked_against_stored_value(client, world):
    a = world.a
    h = bearer(client, a.admin)
    assert client.patch(url(a.customer, a.worker_membership), headers=h,
                        json={"valid_to": "2030-01-01T00:00:00Z"}).status_code == 200
    r = client.patch(url(a.customer, a.worker_membership), headers=h,
                     json={"valid_from": "2031-01-01T00:00:00Z"})
    assert r.status_code == 400
    assert "valid_to" in r.get_json()["errors"]


@pytest.mark.parametrize("change", [
    {"role": "member"}, {"role": "operator"}, {"active": False},
    {"valid_to": "2020-01-01T00:00:00Z"}, {"valid_from": "2999-01-01T00:00:00Z"},
])
def test_last_admin_cannot_be_demoted_or_deactivated(client, world, session, change):
    a = world.a
    h = bearer(client, a.admin)
    # A pending invitation to be admin does not count: that person cannot act yet.
    client.post(url(a.customer), headers=h, json={"email": "future@example.test",
                                                  "role": "admin"})
    r = client.patch(url(a.customer, a.admin_membership), headers=h, json=change)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["type"].endswith("last-admin")
    reread(session)
    m = session.get(Membership, a.admin_membership.id)
    assert (m.role, m.active, m.valid_from, m.valid_to) == ("admin", True, None, None)


def test_last_admin_cannot_be_removed(client, world, session):
    a = world.a
    h = bearer(client, a.admin)
    r = client.delete(url(a.customer, a.admin_membership), headers=h)
    assert r.status_code == 422
    assert r.get_json()["type"].endswith("last-admin")
    reread(session)
    assert session.get(Membership, a.admin_membership.id) is not None


def test_with_a_second_admin_the_first_may_step_down(client, world, make, session):
    a = world.a
    h = bearer(client, a.admin)
    second = make.account()
    make.membership(a.customer, second, "admin")
    assert client.patch(url(a.customer, a.admin_membership), headers=h,
                        json={"role": "member"}).status_code == 200
    h2 = bearer(client, second, device_id="second-admin-device")
    # Now `second` is the last one.
    m2 = session.scalar(select(Membership).where(Membership.account_id == second.id))
    r = client.delete(url(a.customer, m2), headers=h2)
    assert r.status_code == 422
    assert client.delete(url(a.customer, a.admin_membership), headers=h2).status_code == 204


def test_an_inactive_admin_does_not_count(client, world, make):
    a = world.a
    other = make.account()
    make.membership(a.customer, other, "admin", active=False)
    expired = make.account()
    make.membership(a.customer, expired, "admin",
                    valid_to=clock.now() - dt.timedelta(days=1))
    r = client.delete(url(a.customer, a.admin_membership), headers=bearer(client, a.admin))
    assert r.status_code == 422


def test_remove_member_and_withdraw_invitation(client, world, make, session):
    a = world.a
    h = bearer(client, a.admin)
    invite = make.membership(a.customer, None, invited_email="gone@example.test")
    worker_id, invite_id = a.worker_membership.id, invite.id
    assert client.delete(url(a.customer, worker_id), headers=h).status_code == 204
    assert client.delete(url(a.customer, invite_id), headers=h).status_code == 204
    assert client.delete(url(a.customer, invite_id), headers=h).status_code == 404
    reread(session)
    assert session.get(Membership, worker_id) is None
    emails = [i["email"] for i in client.get(url(a.customer), headers=h).get_json()["items"]]
    assert emails == [a.admin.email]
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.customer_id == a.customer.id)).all()
    assert actions.count("member.removed") == 2


@pytest.mark.parametrize("role", ["member", "operator", "guest"])
def test_non_admins_are_refused_403_on_own_customer_404_elsewhere(client, world, make, role):
    a, b = world.a, world.b
    person = make.account()
    make.membership(a.customer, person, role)
    h = bearer(client, person)
    calls = [
        ("get", url(a.customer), None),
        ("post", url(a.customer), {"email": "z@example.test"}),
        ("patch", url(a.customer, a.worker_membership), {"role": "admin"}),
        ("delete", url(a.customer, a.worker_membership), None),
    ]
    # The person knows they belong to the customer: 403 leaks nothing there.
    expected_own = 403
    for method, path, body in calls:
        r = getattr(client, method)(path, headers=h, json=body)
        assert r.status_code == expected_own, (method, path, r.get_json())
        other = path.replace(str(a.customer.id), str(b.customer.id)).replace(
            str(a.worker_membership.id), str(b.worker_membership.id))
        assert getattr(client, method)(other, headers=h, json=body).status_code == 404


def test_own_membership_elsewhere_is_not_reachable_through_this_customer(client, world, make,
                                                                          session):
    """A person sees their own memberships in every tenant: the id of one in customer B must
    still be 404 under customer A, where they are admin."""
    a, b = world.a, world.b
    mine_in_b = make.membership(b.customer, a.admin, "member")
    h = bearer(client, a.admin)
    r = client.patch(url(a.customer, mine_in_b), headers=h, json={"role": "admin"})
    assert r.status_code == 404
    assert client.delete(url(a.customer, mine_in_b), headers=h).status_code == 404
    reread(session)
    assert session.get(Membership, mine_in_b.id).role == "member"


def test_patch_body_validation(client, world):
    a = world.a
    h = bearer(client, a.admin)
    for body in ({"role": "guest"}, {"active": "maybe"}, {"email": "new@example.test"},
                 {"account_id": str(uuid.uuid4())}, {"valid_to": "soon"}):
        r = client.patch(url(a.customer, a.worker_membership), headers=h, json=body)
        assert r.status_code == 400, body
    r = client.patch(url(a.customer, a.worker_membership), headers=h, data="{",
                     content_type="application/json")
    assert r.status_code == 400
