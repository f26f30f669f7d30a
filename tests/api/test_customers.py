"""Customers: created by a platform admin (API) or an operator (CLI), read by their admins."""

from __future__ import annotations

import uuid

import pyotp
import pytest
from sqlalchemy import func, select

from entryfy.ops import staff
from models import Customer, Membership
from tests.factories import (
    PASSWORD,
    SIGNUP_PASSWORD,
    accept_invitations,
    bearer,
    org_nr,
    signup,
)


def luhn(nine: str) -> str:
    """``nine`` digits completed with their Luhn check digit, as NNNNNN-NNNN."""
    total = 0
    for i, ch in enumerate(nine):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return f"{nine[:6]}-{nine[6:]}{(10 - total % 10) % 10}"


def platform_admin(client, make, session) -> dict[str, str]:
    """A platform admin with an enrolled second factor, signed in with a device token."""
    acc = make.account(staff_role="platform_admin")
    enrolment = staff.enrol_second_factor(session, acc)
    session.commit()
    r = client.post("/api/v1/auth/tokens", json={
        "email": acc.email, "password": PASSWORD, "device_id": "vendor-laptop-0001",
        "otp": pyotp.TOTP(enrolment.secret).now()})
    assert r.status_code == 201, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def reread(session) -> None:
    """End the checking session's transaction, so its next read starts a new one in the system
    scope: on PostgreSQL the app's requests share the test's connection and set their own
    (transaction-local) tenant settings on it."""
    session.commit()
    session.expire_all()


def _count(session) -> int:
    reread(session)
    return session.scalar(select(func.count()).select_from(Customer))


def test_platform_admin_creates_customer_with_existing_account_as_admin(client, make, session):
    h = platform_admin(client, make, session)
    person = make.account()
    nr = org_nr()
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "  Bygg & Säkerhet AB ", "org_nr": nr.replace("-", ""),
        "address": "Storgatan 1, Solna", "admin_email": person.email.upper()})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["name"] == "Bygg & Säkerhet AB"
    assert body["org_nr"] == nr  # normalised to NNNNNN-NNNN
    assert body["status"] == "active"
    assert body["admin"]["pending"] is True and body["admin"]["role"] == "admin"
    assert body["admin"]["email"] == person.email and body["admin"]["first_name"] is None
    # The new admin reads the customer once they have accepted.
    ph = bearer(client, person)
    assert client.get(f"/api/v1/customers/{body['id']}", headers=ph).status_code == 404
    assert accept_invitations(client, ph) == [body["id"]]
    got = client.get(f"/api/v1/customers/{body['id']}", headers=ph)
    assert got.status_code == 200
    assert got.get_json()["org_nr"] == nr


def test_unknown_admin_email_is_an_invitation_that_binds_on_acceptance(client, make, session):
    h = platform_admin(client, make, session)
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "Ny Kund AB", "org_nr": org_nr(), "admin_email": "Boss@NewCo.example"})
    assert r.status_code == 201, r.get_json()
    customer_id = r.get_json()["id"]
    assert r.get_json()["admin"]["pending"] is True
    reread(session)
    m = session.scalar(select(Membership).where(Membership.customer_id == uuid.UUID(customer_id)))
    assert m.account_id is None and m.invited_email == "boss@newco.example"

    signup(client, "boss@newco.example", first_name="Bo", last_name="Boss")
    reread(session)
    m = session.get(Membership, m.id)
    assert m.account_id is None  # registering binds nothing
    r = client.post("/api/v1/auth/tokens", json={
        "email": "boss@newco.example", "password": SIGNUP_PASSWORD,
        "device_id": "boss-phone-0001"})
    h2 = {"Authorization": f"Bearer {r.get_json()['token']}"}
    assert accept_invitations(client, h2) == [customer_id]
    me = client.get("/api/v1/me", headers=h2).get_json()
    assert [(x["customer_id"], x["role"]) for x in me["memberships"]] == [(customer_id, "admin")]
    assert client.get(f"/api/v1/customers/{customer_id}", headers=h2).status_code == 200
    assert client.get(f"/api/v1/customers/{customer_id}/members",
                      headers=h2).get_json()["items"][0]["pending"] is False


def test_same_org_nr_twice_is_conflict(client, make, session):
    h = platform_admin(client, make, session)
    existing = make.customer()
    before = _count(session)
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "Copy AB", "org_nr": existing.org_nr.replace("-", ""),
        "admin_email": "x@example.test"})
    assert r.status_code == 409
    assert r.get_json()["type"].endswith("org-nr-taken")
    assert _count(session) == before


@pytest.mark.parametrize("bad", [
    "556677-8890",      # wrong check digit
    luhn("551234567")[:-1] + str((int(luhn("551234567")[-1]) + 1) % 10),  # off by one
    luhn("800101123"),  # third digit 0: a personnummer, not a legal entity
    luhn("811231123"),  # third digit 1
    "55667788",         # too short
    "5566778899X",
    "55667-788990",
    "abcdef-ghij",
    "",
])
def test_invalid_org_nr_is_400(client, make, session, bad):
    h = platform_admin(client, make, session)
    before = _count(session)
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "Bad AB", "org_nr": bad, "admin_email": "x@example.test"})
    assert r.status_code == 400, (bad, r.get_json())
    assert r.mimetype == "application/problem+json"
    assert "org_nr" in r.get_json()["errors"]
    assert _count(session) == before


def test_twelve_digit_form_is_accepted(client, make, session):
    h = platform_admin(client, make, session)
    nr = org_nr()
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "Tolv AB", "org_nr": "16" + nr, "admin_email": "y@example.test"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["org_nr"] == nr


@pytest.mark.parametrize("body", [
    {"name": "X AB", "admin_email": "a@example.test"},                       # no org_nr
    {"name": "", "org_nr": "ORG", "admin_email": "a@example.test"},
    {"name": "X AB", "org_nr": "ORG", "admin_email": "not-an-email"},
    {"name": "X AB", "org_nr": "ORG", "admin_email": "a@example.test", "status": "ended"},
    {"name": "X" * 201, "org_nr": "ORG", "admin_email": "a@example.test"},
    {"name": 5, "org_nr": "ORG", "admin_email": "a@example.test"},
])
def test_invalid_customer_bodies_are_400(client, make, session, body):
    h = platform_admin(client, make, session)
    body = {k: (org_nr() if v == "ORG" else v) for k, v in body.items()}
    before = _count(session)
    r = client.post("/api/v1/customers", headers=h, json=body)
    assert r.status_code == 400, r.get_json()
    assert r.mimetype == "application/problem+json"
    assert _count(session) == before


def test_malformed_json_is_400(client, make, session):
    h = platform_admin(client, make, session)
    r = client.post("/api/v1/customers", headers=h, data="{oops",
                    content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["type"].endswith("malformed-json")


def test_only_platform_admins_create_customers(client, world):
    body = {"name": "Sneaky AB", "org_nr": org_nr(), "admin_email": "s@example.test"}
    assert client.post("/api/v1/customers", json=body).status_code == 401
    r = client.post("/api/v1/customers", json=body, headers=bearer(client, world.a.admin))
    assert r.status_code == 403


def test_support_staff_cannot_create_customers(client, make, session):
    acc = make.account(staff_role="support")
    enrolment = staff.enrol_second_factor(session, acc)
    session.commit()
    r = client.post("/api/v1/auth/tokens", json={
        "email": acc.email, "password": PASSWORD, "device_id": "support-laptop-1",
        "otp": pyotp.TOTP(enrolment.secret).now()})
    h = {"Authorization": f"Bearer {r.get_json()['token']}"}
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "S AB", "org_nr": org_nr(), "admin_email": "s@example.test"})
    assert r.status_code == 403


def test_get_customer_roles_and_walls(client, world, make):
    a, b = world.a, world.b
    url = f"/api/v1/customers/{a.customer.id}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(client, a.admin)).get_json()["id"] == str(a.customer.id)
    # A member of the customer: signed in, allowed to know it exists, but not an admin.
    assert client.get(url, headers=bearer(client, a.worker)).status_code == 403
    operator = make.account()
    make.membership(a.customer, operator, "operator")
    assert client.get(url, headers=bearer(client, operator)).status_code == 403
    # Another customer's admin, and an unknown id: the same 404.
    other = client.get(url, headers=bearer(client, b.admin))
    missing = client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=bearer(client, b.admin))
    assert other.status_code == missing.status_code == 404
    assert other.get_json() == missing.get_json()


def test_ended_customer_is_404_even_for_its_admin(client, world, session):
    session.get(Customer, world.a.customer.id).status = "ended"
    session.commit()
    r = client.get(f"/api/v1/customers/{world.a.customer.id}",
                   headers=bearer(client, world.a.admin))
    assert r.status_code == 404


# ------------------------------------------------------------------ the command line

def test_cli_creates_customer_and_invites_admin(runner, session):
    nr = org_nr()
    r = runner.invoke(args=["customer", "create", "--name", "CLI Bygg AB", "--org-nr",
                            nr.replace("-", ""), "--admin-email", "Chef@CLI.example"])
    assert r.exit_code == 0, r.output
    customer_id = uuid.UUID(r.stdout.strip().splitlines()[0])
    reread(session)
    c = session.get(Customer, customer_id)
    assert (c.name, c.org_nr) == ("CLI Bygg AB", nr)
    m = session.scalar(select(Membership).where(Membership.customer_id == customer_id))
    assert (m.role, m.account_id, m.invited_email) == ("admin", None, "chef@cli.example")


def test_cli_invites_even_an_existing_account(runner, session, make):
    person = make.account()
    r = runner.invoke(args=["customer", "create", "--name", "CLI Två AB", "--org-nr", org_nr(),
                            "--admin-email", person.email])
    assert r.exit_code == 0, r.output
    customer_id = uuid.UUID(r.stdout.strip().splitlines()[0])
    reread(session)
    m = session.scalar(select(Membership).where(Membership.customer_id == customer_id))
    assert (m.role, m.account_id, m.invited_email) == ("admin", None, person.email)
    assert "invitation" in r.stderr


def test_cli_refuses_bad_org_nr_and_writes_nothing(runner, session):
    before = _count(session)
    r = runner.invoke(args=["customer", "create", "--name", "Bad AB", "--org-nr", "556677-8890",
                            "--admin-email", "a@example.test"])
    assert r.exit_code == 1
    assert "check digit" in r.output
    assert _count(session) == before


def test_cli_refuses_duplicate_org_nr(runner, make, session):
    existing = make.customer()
    r = runner.invoke(args=["customer", "create", "--name", "Dup AB", "--org-nr",
                            existing.org_nr, "--admin-email", "a@example.test"])
    assert r.exit_code == 1
    assert "exists" in r.output


def test_cli_refuses_bad_email(runner, session):
    before = _count(session)
    r = runner.invoke(args=["customer", "create", "--name", "Mail AB", "--org-nr", org_nr(),
                            "--admin-email", "nobody"])
    assert r.exit_code == 1
    assert "email" in r.output
    assert _count(session) == before
