"""Mailbox proof: registration by code, verify-email, the password policy, invitations."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.ops import mailbox
from models import Account, AuditEvent, EmailVerification
from tests.factories import (
    PASSWORD,
    SIGNUP_PASSWORD,
    bearer,
    login,
    mail_code,
    mails_to,
    signup,
)

REGISTER = "/api/v1/auth/register"
VERIFY = "/api/v1/auth/verify-email"


def _register(client, email, password=SIGNUP_PASSWORD, first="Nya", last="Person"):
    return client.post(REGISTER, json={"email": email, "password": password,
                                       "first_name": first, "last_name": last})


def _other(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_unverified_account_cannot_sign_in_until_the_code_is_entered(client):
    assert _register(client, "fresh@example.test").status_code == 202
    r = client.post("/api/v1/auth/login", json={"email": "fresh@example.test",
                                                "password": SIGNUP_PASSWORD})
    assert r.status_code == 401 and r.get_json()["type"].endswith("email-unverified")
    # Only after the right password: a wrong one is the usual answer.
    r = client.post("/api/v1/auth/login", json={"email": "fresh@example.test",
                                                "password": "wrong-wrong-1"})
    assert r.status_code == 401 and r.get_json()["type"].endswith("invalid-credentials")
    r = client.post("/api/v1/auth/tokens", json={"email": "fresh@example.test",
                                                 "password": SIGNUP_PASSWORD,
                                                 "device_id": "fresh-phone-1"})
    assert r.status_code == 401 and r.get_json()["type"].endswith("email-unverified")
    r = client.post(VERIFY, json={"email": "fresh@example.test",
                                  "code": mail_code("fresh@example.test")})
    assert r.status_code == 200 and r.get_json()["email"] == "fresh@example.test"
    login(client, "fresh@example.test", SIGNUP_PASSWORD)


def test_the_code_is_stored_hashed_and_expires(client, session):
    _register(client, "late@example.test")
    code = mail_code("late@example.test")
    row = session.scalar(select(EmailVerification).where(
        EmailVerification.email == "late@example.test"))
    assert code not in row.code_hash and len(row.code_hash) == 64
    with clock.frozen_at(clock.now() + mailbox.CODE_LIFETIME + dt.timedelta(seconds=1)):
        r = client.post(VERIFY, json={"email": "late@example.test", "code": code})
    assert r.status_code == 422 and r.get_json()["type"].endswith("code-invalid")


def test_wrong_codes_use_up_the_code_and_unknown_addresses_answer_alike(app, client,
                                                                       monkeypatch):
    # The throttle (api.throttle) would stop the guessing first; this is the code's own limit.
    monkeypatch.setitem(app.config, "SECRET_FAILURE_LIMIT_ACCOUNT", "100 per minute")
    _register(client, "guess@example.test")
    code = mail_code("guess@example.test")
    answers = []
    for _ in range(mailbox.CODE_MAX_ATTEMPTS):
        r = app.test_client().post(VERIFY, json={"email": "guess@example.test",
                                                 "code": _other(code)})
        answers.append((r.status_code, r.get_json()))
    unknown = client.post(VERIFY, json={"email": "nobody@example.test", "code": code})
    assert answers[0] == (unknown.status_code, unknown.get_json())
    assert answers[0][0] == 422 and answers[0][1]["type"].endswith("code-invalid")
    # Used up: the right code no longer works (a fresh client: no throttle in the way).
    r = app.test_client().post(VERIFY, json={"email": "guess@example.test", "code": code})
    assert r.status_code == 422


def test_a_code_works_once_and_a_new_registration_replaces_it(client):
    _register(client, "twice@example.test", first="First")
    first = mail_code("twice@example.test")
    _register(client, "twice@example.test", password="another long passphrase", first="Second")
    second = mail_code("twice@example.test")
    if first != second:  # one chance in a million that they are the same
        assert client.post(VERIFY, json={"email": "twice@example.test",
                                         "code": first}).status_code == 422
    r = client.post(VERIFY, json={"email": "twice@example.test", "code": second})
    assert r.status_code == 200 and r.get_json()["first_name"] == "Second"
    assert client.post(VERIFY, json={"email": "twice@example.test",
                                     "code": second}).status_code == 422
    # The latest registration's password is the account's.
    login(client, "twice@example.test", "another long passphrase")


def test_a_proven_account_is_not_changed_by_registering_again(client, session):
    signup(client, "kept@example.test", first_name="Kept")
    n = len(mails_to("kept@example.test"))
    assert _register(client, "kept@example.test", password="another long passphrase",
                     first="Thief").status_code == 202
    assert len(mails_to("kept@example.test")) == n + 1
    assert "already has one" in mails_to("kept@example.test")[-1].get_content()
    acc = session.scalar(select(Account).where(Account.email == "kept@example.test"))
    assert acc.first_name == "Kept" and acc.email_verified_at is not None
    login(client, "kept@example.test", SIGNUP_PASSWORD)


@pytest.mark.parametrize("password", ["password12", "1234567890", "qwertyuiop", "Password123",
                                      "Summer2026!"])
def test_common_passwords_are_refused(client, password):
    r = _register(client, "policy@example.test", password=password)
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    messages = " ".join(r.get_json()["errors"]["password"])
    assert "common" in messages
    assert mails_to("policy@example.test") == []


@pytest.mark.parametrize("password,why", [
    ("short pw", "at least 10"),
    ("x" * 257, "256"),
    ("my entryfy login", "service's name"),
    ("lindqvist rules the world", "your name"),
    ("karin.lindqvist", "email address"),
    ("Bygge-Karin-2024", "email address or your name"),
])
def test_password_policy_messages(client, password, why):
    r = _register(client, "karin.lindqvist@bygge.example", password=password, first="Karin",
                  last="Lindqvist")
    assert r.status_code == 400
    assert why in " ".join(r.get_json()["errors"]["password"])


def test_password_change_applies_the_policy(client, make):
    acc = make.account()
    h = bearer(client, acc)
    r = client.post("/api/v1/me/password", headers=h, json={
        "current_password": PASSWORD, "new_password": "Password123"})
    assert r.status_code == 400 and "new_password" in r.get_json()["errors"]


def test_a_long_unusual_passphrase_passes(client):
    assert _register(client, "ok@example.test", password="kitten ladder under 77 moons"
                     ).status_code == 202


# ------------------------------------------------------------------ invitations

def _invite(client, admin_headers, customer, email, role="member"):
    r = client.post(f"/api/v1/customers/{customer.id}/members", headers=admin_headers,
                    json={"email": email, "role": role})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def test_only_the_invited_address_can_accept(client, world, make):
    a = world.a
    invite_id = _invite(client, bearer(client, a.admin), a.customer, "invitee@example.test")
    stranger = bearer(client, world.b.worker, device_id="stranger-phone")
    assert client.get("/api/v1/me/invitations", headers=stranger).get_json() == []
    r = client.post(f"/api/v1/me/invitations/{invite_id}/accept", headers=stranger)
    assert r.status_code == 404 and r.get_json()["type"].endswith("invitation-not-found")
    # Not even an admin of the inviting customer.
    r = client.post(f"/api/v1/me/invitations/{invite_id}/accept",
                    headers=bearer(client, a.admin, device_id="admin-phone-2"))
    assert r.status_code == 404


def test_an_unproven_account_sees_no_invitation(client, world, make, session):
    a = world.a
    invite_id = _invite(client, bearer(client, a.admin), a.customer, "squat@example.test",
                        role="admin")
    # Someone registers the invited address but never proves it: they cannot sign in, and
    # the account sees nothing even if it could.
    _register(client, "squat@example.test")
    acc = session.scalar(select(Account).where(Account.email == "squat@example.test"))
    from entryfy.ops import invitations

    assert invitations.pending_for(session, acc) == []
    from entryfy.errors import NotFound

    with pytest.raises(NotFound):
        invitations.accept(session, acc, invite_id)


def test_an_invitation_of_an_ended_customer_cannot_be_accepted(client, world, make, session):
    a = world.a
    invite_id = _invite(client, bearer(client, a.admin), a.customer, world.b.worker.email)
    a.customer.status = "ended"
    session.commit()
    h = bearer(client, world.b.worker)
    assert client.get("/api/v1/me/invitations", headers=h).get_json() == []
    assert client.post(f"/api/v1/me/invitations/{invite_id}/accept",
                       headers=h).status_code == 404


def test_the_invitation_mail_names_the_customer(client, world):
    _invite(client, bearer(client, world.a.admin), world.a.customer, "mailme@example.test",
            role="operator")
    m = mails_to("mailme@example.test")[-1]
    assert m["Subject"] == f"You are invited to {world.a.customer.name} on Entryfy"
    assert "as an operator" in m.get_content()


def test_verified_email_is_audited(client, session):
    account = signup(client, "audited@example.test")
    ev = session.scalar(select(AuditEvent).where(AuditEvent.action == "account.email_verified",
                                                 AuditEvent.subject_id == uuid.UUID(account["id"])))
    assert ev is not None and ev.customer_id is None
