"""Sign-in: register, sessions, device tokens, password change, CSRF, throttling."""

from __future__ import annotations

import datetime as dt

import pytest

from entryfy import clock
from tests.factories import (
    PASSWORD,
    SIGNUP_PASSWORD,
    bearer,
    login,
    mail_code,
    mails_to,
    signup,
)


def test_register_verify_then_me(client):
    r = client.post("/api/v1/auth/register", json={
        "email": "New.Person@Example.test", "password": "a long passphrase here",
        "first_name": "New", "last_name": "Person"})
    assert r.status_code == 202, r.get_json()
    assert "password" not in r.get_json()
    r = client.post("/api/v1/auth/verify-email", json={
        "email": "new.person@EXAMPLE.test", "code": mail_code("new.person@example.test")})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["email"] == "new.person@example.test"
    assert "password" not in body and "password_hash" not in body
    csrf = login(client, "NEW.person@example.test", "a long passphrase here")
    assert csrf
    me = client.get("/api/v1/me").get_json()
    assert me["first_name"] == "New" and me["memberships"] == []


@pytest.mark.parametrize("password,reason", [
    ("short", "at least"),
    ("new.person-is-me", "email address"),
    ("aaaaaaaaaaaa", "repetitive"),
])
def test_register_password_rules(client, password, reason):
    r = client.post("/api/v1/auth/register", json={
        "email": "new.person@example.test", "password": password,
        "first_name": "New", "last_name": "Person"})
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    assert reason in " ".join(r.get_json()["errors"]["password"])


def test_register_known_address_answers_alike_and_gets_a_notice(client, make):
    acc = make.account(email="taken@example.test")
    r = client.post("/api/v1/auth/register", json={
        "email": acc.email.upper(), "password": "another long passphrase",
        "first_name": "A", "last_name": "B"})
    fresh = client.post("/api/v1/auth/register", json={
        "email": "free@example.test", "password": "another long passphrase",
        "first_name": "A", "last_name": "B"})
    assert r.status_code == fresh.status_code == 202
    assert r.get_json() == fresh.get_json()
    notice = mails_to("taken@example.test")[-1]
    assert "already has one" in notice.get_content()
    assert "Your code" not in notice.get_content()
    # Nothing changed: the old password still signs in, the new one does not.
    login(client, acc)
    assert client.post("/api/v1/auth/login", json={
        "email": acc.email, "password": "another long passphrase"}).status_code == 401


def test_unknown_field_refused(client):
    r = client.post("/api/v1/auth/register", json={
        "email": "x@example.test", "password": "a long passphrase here", "first_name": "X",
        "last_name": "Y", "is_admin": True})
    assert r.status_code == 400
    assert "is_admin" in r.get_json()["errors"]


def test_malformed_json_is_400_problem(client):
    r = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["type"].endswith("malformed-json")


def test_json_that_is_not_an_object(client):
    r = client.post("/api/v1/auth/login", json=["a", "b"])
    assert r.status_code == 400
    assert r.mimetype == "application/problem+json"


def test_oversize_body_is_413(client):
    big = "x" * (300 * 1024)
    r = client.post("/api/v1/auth/login", data='{"email": "' + big + '"}',
                    content_type="application/json")
    assert r.status_code == 413
    assert r.mimetype == "application/problem+json"


def test_unknown_path_is_problem_404(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.get_json()["status"] == 404


def test_wrong_email_and_wrong_password_answer_alike(client, make):
    acc = make.account()
    a = client.post("/api/v1/auth/login", json={"email": acc.email, "password": "wrong-wrong-1"})
    b = client.post("/api/v1/auth/login", json={"email": "nobody@example.test",
                                                "password": "wrong-wrong-1"})
    assert a.status_code == b.status_code == 401
    ja, jb = a.get_json(), b.get_json()
    assert ja == jb


def test_login_sets_new_session_id(client, make):
    """Session fixation: whatever session the browser had, sign-in issues a new one."""
    acc = make.account()
    with client.session_transaction() as sess:
        sess["sid"] = "attacker-chosen"
    login(client, acc)
    with client.session_transaction() as sess:
        first = sess["sid"]
    assert first != "attacker-chosen"
    login(client, acc)
    with client.session_transaction() as sess:
        assert sess["sid"] != first


def test_logout_ends_the_session_even_for_a_copied_cookie(app, make):
    acc = make.account()
    c1 = app.test_client()
    csrf = login(c1, acc)
    with c1.session_transaction() as sess:
        stolen = dict(sess)
    assert c1.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert c1.get("/api/v1/me").status_code == 401
    c2 = app.test_client()
    with c2.session_transaction() as sess:
        sess.update(stolen)
    assert c2.get("/api/v1/me").status_code == 401


def test_csrf_required_for_cookie_sessions(client, make):
    acc = make.account()
    csrf = login(client, acc)
    r = client.patch("/api/v1/me", json={"first_name": "Changed"})
    assert r.status_code == 403
    assert r.get_json()["type"].endswith("csrf-failed")
    r = client.patch("/api/v1/me", json={"first_name": "Changed"},
                     headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403
    r = client.patch("/api/v1/me", json={"first_name": "Changed"},
                     headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    assert r.get_json()["first_name"] == "Changed"


def test_bearer_needs_no_csrf_and_sets_no_cookie(client, make):
    acc = make.account()
    h = bearer(client, acc)
    r = client.patch("/api/v1/me", json={"phone": "+46701112233"}, headers=h)
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers
    assert client.get("/api/v1/me", headers=h).get_json()["phone"] == "+46701112233"


def test_token_listed_without_secret_and_revocable(client, make):
    acc = make.account()
    h = bearer(client, acc)
    tokens = client.get("/api/v1/auth/tokens", headers=h).get_json()
    assert len(tokens) == 1
    assert "token" not in tokens[0] and "token_hash" not in tokens[0]
    assert tokens[0]["current"] is True and tokens[0]["device_name"] == "Test phone"
    r = client.delete(f"/api/v1/auth/tokens/{tokens[0]['id']}", headers=h)
    assert r.status_code == 204
    # Replay of the revoked token.
    assert client.get("/api/v1/me", headers=h).status_code == 401


def test_cannot_revoke_someone_elses_token(client, make):
    a, b = make.account(), make.account()
    ha, hb = bearer(client, a), bearer(client, b, device_id="device-of-b-0001")
    tid = client.get("/api/v1/auth/tokens", headers=hb).get_json()[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{tid}", headers=ha).status_code == 404
    assert client.get("/api/v1/me", headers=hb).status_code == 200


def test_expired_token_is_refused(client, make):
    acc = make.account()
    h = bearer(client, acc)
    later = clock.now() + dt.timedelta(days=91)
    with clock.frozen_at(later):
        r = client.get("/api/v1/me", headers=h)
    assert r.status_code == 401
    assert r.mimetype == "application/problem+json"


def test_a_bearer_request_is_judged_by_its_token_alone(client, make):
    """A failed token does not fall back on the browser's session cookie."""
    acc = make.account()
    login(client, acc)
    assert client.get("/api/v1/me").status_code == 200
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert "Set-Cookie" not in r.headers
    assert client.get("/api/v1/me").status_code == 200  # the cookie session lives on


def test_the_session_cookie_carries_no_fingerprint(client, make):
    """Flask-Login would store a hash of the client's address and user agent in the cookie;
    without session protection nothing reads it, so it holds nothing."""
    login(client, make.account())
    with client.session_transaction() as sess:
        assert sess.get("_id", "") == ""
        assert set(sess) <= {"sid", "_user_id", "_fresh", "_id"}


def test_garbage_bearer_is_401(client):
    r = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401


def test_password_change_ends_other_sessions_and_tokens(app, make):
    acc = make.account()
    phone, browser = app.test_client(), app.test_client()
    h_old = bearer(phone, acc)
    h_keep = bearer(phone, acc, device_id="device-keeps-0002")
    csrf = login(browser, acc)
    r = phone.post("/api/v1/me/password", headers=h_keep, json={
        "current_password": PASSWORD, "new_password": "an entirely new passphrase"})
    assert r.status_code == 204
    assert phone.get("/api/v1/me", headers=h_old).status_code == 401
    assert browser.get("/api/v1/me", headers={"X-CSRF-Token": csrf}).status_code == 401
    assert phone.get("/api/v1/me", headers=h_keep).status_code == 200
    fresh = app.test_client()
    assert fresh.post("/api/v1/auth/login", json={"email": acc.email,
                                                   "password": PASSWORD}).status_code == 401
    login(fresh, acc, "an entirely new passphrase")


def test_password_change_needs_current_password(client, make):
    acc = make.account()
    h = bearer(client, acc)
    r = client.post("/api/v1/me/password", headers=h, json={
        "current_password": "not it at all", "new_password": "an entirely new passphrase"})
    assert r.status_code == 400
    assert "current_password" in r.get_json()["errors"]
    assert r.get_json()["type"].endswith("current-password-wrong")


def test_failed_logins_are_throttled_per_account(app, make):
    acc = make.account()
    limit = int(app.config["LOGIN_FAILURE_LIMIT_ACCOUNT"].split()[0])
    c = app.test_client()
    for _ in range(limit):
        assert c.post("/api/v1/auth/login", json={"email": acc.email,
                                                  "password": "wrong-wrong-1"}).status_code == 401
    r = c.post("/api/v1/auth/login", json={"email": acc.email, "password": PASSWORD})
    assert r.status_code == 429
    assert r.mimetype == "application/problem+json"
    # Another account from the same address is not locked by this one's failures.
    other = make.account()
    assert c.post("/api/v1/auth/login", json={"email": other.email,
                                              "password": PASSWORD}).status_code == 200


def test_failed_logins_are_throttled_per_address(app, make):
    limit = int(app.config["LOGIN_FAILURE_LIMIT_IP"].split()[0])
    c = app.test_client()
    for i in range(limit):
        c.post("/api/v1/auth/login", json={"email": f"n{i}@example.test", "password": "x" * 10})
    acc = make.account()
    r = c.post("/api/v1/auth/login", json={"email": acc.email, "password": PASSWORD})
    assert r.status_code == 429


def test_successful_logins_are_not_throttled(app, make):
    acc = make.account()
    c = app.test_client()
    limit = int(app.config["LOGIN_FAILURE_LIMIT_ACCOUNT"].split()[0])
    for _ in range(limit + 2):
        login(c, acc)


def test_rehash_on_login_when_parameters_rise(app, make, session):
    from argon2 import PasswordHasher

    acc = make.account()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    acc.password_hash = weak
    session.commit()
    login(app.test_client(), acc)
    session.refresh(acc)
    assert acc.password_hash != weak
    assert "m=19456" in acc.password_hash and "argon2id" in acc.password_hash


def test_new_device_sign_in_is_audited(client, make, session):
    from sqlalchemy import select

    from models import AuditEvent

    acc = make.account()
    bearer(client, acc, device_id="device-aaaa-0001")
    bearer(client, acc, device_id="device-aaaa-0001")
    bearer(client, acc, device_id="device-bbbb-0002")
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "account.new_device_sign_in", AuditEvent.subject_id == acc.id)).all()
    assert len(events) == 2


def test_nul_characters_are_refused_not_stored(client):
    """Found by the fuzzer: PostgreSQL cannot store NUL; it must be a 400, not a 500."""
    r = client.post("/api/v1/auth/register", json={
        "email": "nul@example.test", "password": "a long passphrase here",
        "first_name": "A", "last_name": "\x00"})
    assert r.status_code == 400
    assert "last_name" in r.get_json()["errors"]


def test_registration_binds_no_invitation(client, make):
    """Invitation takeover: registering an invited address made its holder a member (an
    admin, for a customer's first admin). Now nothing binds until the proven person accepts."""
    customer = make.customer()
    make.membership(customer, None, "admin", invited_email="invited.person@example.test")
    account = signup(client, "Invited.Person@example.test")
    assert account["memberships"] == []
    login(client, "invited.person@example.test", SIGNUP_PASSWORD)
    assert client.get("/api/v1/me").get_json()["memberships"] == []
    invitations = client.get("/api/v1/me/invitations").get_json()
    assert [(i["customer_id"], i["role"]) for i in invitations] == [(str(customer.id), "admin")]


def test_a_session_naming_another_person_signs_in_nobody(app, make):
    """A cookie whose session row belongs to someone else than its user id (only a forged
    cookie could say so) signs in nobody, and the transaction's tenant context is NOBODY
    again although the sign-in statement had switched it to the row's person."""
    import datetime as dt

    import flask

    from entryfy import auth
    from entryfy.ops import accounts as account_ops
    from entryfy.web import db_session
    from models.tenancy import NOBODY, get_context

    a, b = make.account(), make.account()
    issued = account_ops.start_session(make.s, a, lifetime=dt.timedelta(hours=1))
    make.s.flush()
    with app.test_request_context("/api/v1/me"):
        flask.session["sid"] = issued.secret
        assert auth._load_from_cookie(str(b.id)) is None
        assert get_context(db_session()) == NOBODY
        assert "sid" not in flask.session  # the cookie is emptied too
        flask.session["sid"] = issued.secret
        assert auth._load_from_cookie(str(a.id)).account_id == a.id
