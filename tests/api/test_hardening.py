"""The ways into an account: throttled secret checks, the e-mail change, bad input, headers."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from models import AuditEvent
from tests.factories import (
    PASSWORD,
    SIGNUP_PASSWORD,
    bearer,
    login,
    mail_code,
    mails_to,
    signup,
)


def _limit(app, key: str) -> int:
    return int(app.config[key].split()[0])


# ------------------------------------------------------------------ throttles

def test_current_password_is_throttled_per_account(app, client, make):
    """A stolen token must not become a takeover: POST /me/password, PATCH /me (e-mail) and
    a privacy request confirmed by password share one counter of wrong current passwords."""
    acc = make.account()
    h = bearer(client, acc)
    n = _limit(app, "SECRET_FAILURE_LIMIT_ACCOUNT")
    for i in range(n):
        if i % 2:
            r = client.post("/api/v1/me/password", headers=h, json={
                "current_password": f"wrong guess {i}", "new_password": "kitten ladder 77 moons"})
        else:
            r = client.patch("/api/v1/me", headers=h, json={
                "email": "elsewhere@example.test", "current_password": f"wrong guess {i}"})
        assert r.status_code == 400 and r.get_json()["type"].endswith("current-password-wrong")
    r = client.post("/api/v1/me/password", headers=h, json={
        "current_password": PASSWORD, "new_password": "kitten ladder 77 moons"})
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    r = client.post("/api/v1/me/requests", headers=h, json={"type": "access",
                                                            "password": PASSWORD})
    assert r.status_code == 429
    # Another account from the same client is not locked by this one's failures.
    other = make.account()
    ho = bearer(client, other, device_id="other-phone-01")
    r = client.post("/api/v1/me/password", headers=ho, json={
        "current_password": PASSWORD, "new_password": "kitten ladder 77 moons"})
    assert r.status_code == 204


def test_current_password_is_throttled_per_client(app, make, monkeypatch):
    monkeypatch.setitem(app.config, "SECRET_FAILURE_LIMIT_IP", "3 per 15 minutes")
    c = app.test_client()
    people = [make.account() for _ in range(4)]
    for i, p in enumerate(people[:3]):
        h = bearer(c, p, device_id=f"shared-client-{i:02d}")
        r = c.post("/api/v1/me/password", headers=h, json={
            "current_password": "wrong guess here", "new_password": "kitten ladder 77 moons"})
        assert r.status_code == 400
    h = bearer(c, people[3], device_id="shared-client-03")
    r = c.post("/api/v1/me/password", headers=h, json={
        "current_password": PASSWORD, "new_password": "kitten ladder 77 moons"})
    assert r.status_code == 429


def test_email_codes_are_throttled_alike_for_known_and_unknown_addresses(app, client):
    client.post("/api/v1/auth/register", json={
        "email": "known@example.test", "password": SIGNUP_PASSWORD, "first_name": "K",
        "last_name": "N"})
    code = mail_code("known@example.test")
    n = _limit(app, "SECRET_FAILURE_LIMIT_ACCOUNT")
    answers = {}
    for email in ("known@example.test", "unknown@example.test"):
        for _ in range(n):
            r = client.post("/api/v1/auth/verify-email", json={"email": email,
                                                               "code": "000000"})
            assert r.status_code == 422
        r = client.post("/api/v1/auth/verify-email", json={"email": email, "code": code})
        answers[email] = (r.status_code, r.get_json()["type"])
    assert answers["known@example.test"] == answers["unknown@example.test"]
    assert answers["known@example.test"][0] == 429


def test_registration_is_throttled_per_address_whether_known_or_not(app, client, make):
    make.account(email="someone@example.test")
    n = _limit(app, "REGISTER_LIMIT_ADDRESS")
    for email in ("someone@example.test", "no-one@example.test"):
        codes = [client.post("/api/v1/auth/register", json={
            "email": email, "password": SIGNUP_PASSWORD, "first_name": "A",
            "last_name": "B"}).status_code for _ in range(n + 1)]
        assert codes == [202] * n + [429], email


def test_invitation_acceptance_is_throttled(app, client, make):
    acc = make.account()
    h = bearer(client, acc)
    n = _limit(app, "SECRET_FAILURE_LIMIT_ACCOUNT")
    import uuid

    for _ in range(n):
        r = client.post(f"/api/v1/me/invitations/{uuid.uuid4()}/accept", headers=h)
        assert r.status_code == 404
    r = client.post(f"/api/v1/me/invitations/{uuid.uuid4()}/accept", headers=h)
    assert r.status_code == 429


def test_the_limiter_logs_truncated_addresses(app, caplog, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FAILURE_LIMIT_IP", "2 per 15 minutes")
    c = app.test_client()
    env = {"REMOTE_ADDR": "203.0.113.45"}
    caplog.set_level(logging.INFO, logger="flask-limiter")
    for i in range(3):
        c.post("/api/v1/auth/login", json={"email": f"n{i}@example.test",
                                           "password": "wrong-wrong-1"}, environ_base=env)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "flask-limiter")
    assert "exceeded" in text
    assert "203.0.113.45" not in text
    assert "203.0.113.0/24" in text


# ------------------------------------------------------------------ e-mail change

def test_email_change_needs_the_current_password_and_the_new_mailbox(client, make, session):
    acc = make.account(email="old.address@example.test")
    h = bearer(client, acc)
    r = client.patch("/api/v1/me", headers=h, json={"email": "new.address@example.test"})
    assert r.status_code == 400 and "current_password" in r.get_json()["errors"]
    r = client.patch("/api/v1/me", headers=h, json={"email": "new.address@example.test",
                                                    "current_password": "not my password"})
    assert r.status_code == 400 and r.get_json()["type"].endswith("current-password-wrong")
    assert mails_to("new.address@example.test") == []
    r = client.patch("/api/v1/me", headers=h, json={"email": "New.Address@example.test",
                                                    "current_password": PASSWORD})
    assert r.status_code == 200 and r.get_json()["email"] == "old.address@example.test"
    notices = [m for m in mails_to("old.address@example.test")
               if "change its e-mail address" in m.get_content()]
    assert len(notices) == 1
    # Not yet: the old address still signs in, the new one does not.
    assert client.post("/api/v1/auth/login", json={"email": "new.address@example.test",
                                                   "password": PASSWORD}).status_code == 401
    r = client.post("/api/v1/auth/verify-email", json={
        "email": "new.address@example.test", "code": mail_code("new.address@example.test")})
    assert r.status_code == 200 and r.get_json()["email"] == "new.address@example.test"
    assert client.get("/api/v1/me", headers=h).get_json()["email"] == "new.address@example.test"
    login(client, "new.address@example.test")
    changed = [m for m in mails_to("old.address@example.test")
               if "was changed" in m.get_content()]
    assert len(changed) == 1
    actions = set(session.scalars(select(AuditEvent.action).where(
        AuditEvent.subject_id == acc.id)))
    assert {"account.email_change_requested", "account.email_changed"} <= actions


def test_email_change_to_a_taken_address_answers_alike(client, make, session):
    acc = make.account()
    taken = make.account(email="taken.one@example.test")
    h = bearer(client, acc)
    a = client.patch("/api/v1/me", headers=h, json={"email": taken.email,
                                                    "current_password": PASSWORD})
    b = client.patch("/api/v1/me", headers=h, json={"email": "free.one@example.test",
                                                    "current_password": PASSWORD})
    assert a.status_code == b.status_code == 200
    assert a.get_json() == b.get_json()
    to_taken = mails_to(taken.email)
    assert len(to_taken) == 1 and "Your code" not in to_taken[0].get_content()
    assert "Your code" in mails_to("free.one@example.test")[0].get_content()


def test_password_change_is_audited_and_told(client, make, session):
    acc = make.account()
    h = bearer(client, acc)
    r = client.post("/api/v1/me/password", headers=h, json={
        "current_password": PASSWORD, "new_password": "kitten ladder 77 moons"})
    assert r.status_code == 204
    ev = session.scalar(select(AuditEvent).where(AuditEvent.action == "account.password_changed",
                                                 AuditEvent.subject_id == acc.id))
    assert ev is not None and ev.actor_id == acc.id
    assert any("password" in m["Subject"] for m in mails_to(acc.email))


# ------------------------------------------------------------------ bad input

SURROGATE = '"\\ud800"'


@pytest.mark.parametrize("path,template", [
    ("/api/v1/auth/register", '{"email": "s@example.test", "password": "kitten ladder 77 moons",'
                              ' "first_name": %s, "last_name": "B"}'),
    ("/api/v1/auth/login", '{"email": %s, "password": "x"}'),
    ("/api/v1/auth/login", '{"email": "a@example.test", "password": %s}'),
    ("/api/v1/auth/verify-email", '{"email": %s, "code": "123456"}'),
])
def test_lone_surrogates_are_400_not_500(client, path, template):
    r = client.post(path, data=template % SURROGATE, content_type="application/json")
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"
    assert "surrogate" in str(r.get_json()["errors"])


def test_lone_surrogate_in_patch_me_and_keys(client, make):
    h = bearer(client, make.account())
    for body in ('{"first_name": "\\udc00x"}', '{"\\ud800": 1}'):
        r = client.patch("/api/v1/me", headers=h, data=body, content_type="application/json")
        assert r.status_code == 400, body
    # A proper pair is a real character and passes.
    r = client.patch("/api/v1/me", headers=h, data='{"first_name": "Emoji \\ud83d\\ude00"}',
                     content_type="application/json")
    assert r.status_code == 200 and r.get_json()["first_name"] == "Emoji \U0001F600"


def test_deep_nesting_is_400_not_500(client):
    body = "[" * 4000 + "]" * 4000  # 8 KB: Python's parser would recurse until it fails
    r = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert "Nested deeper" in str(r.get_json()["errors"])
    nested = '{"email": "a@example.test", "password": "x", "otp": ' + "[" * 40 + "]" * 40 + "}"
    assert client.post("/api/v1/auth/login", data=nested,
                       content_type="application/json").status_code == 400
    # Brackets inside strings are text, not nesting.
    r = client.post("/api/v1/auth/login", data='{"email": "a@example.test", "password": "'
                    + "[" * 100 + '"}', content_type="application/json")
    assert r.status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_non_json_bodies_are_415(client, content_type):
    r = client.post("/api/v1/auth/login", data='{"email": "a@example.test", "password": "x"}',
                    content_type=content_type)
    assert r.status_code == 415
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["type"].endswith("unsupported-media-type")


def test_json_with_a_charset_or_problem_type_is_json(client):
    r = client.post("/api/v1/auth/login", data='{"email": "a@example.test", "password": "x"}',
                    content_type="application/json; charset=utf-8")
    assert r.status_code == 401


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("value", ["Anna\r\nBcc: x@example.test", "Anna\nB", "Anna\u2028B"])
def test_line_breaks_in_names_are_refused(client, make, field, value):
    h = bearer(client, make.account())
    r = client.patch("/api/v1/me", headers=h, json={field: value})
    assert r.status_code == 400 and field in r.get_json()["errors"]
    r = client.post("/api/v1/auth/register", json={
        "email": "crlf@example.test", "password": "kitten ladder 77 moons",
        "first_name": "A", "last_name": "B", field: value})
    assert r.status_code == 400 and field in r.get_json()["errors"]


def test_line_breaks_in_customer_name_and_ticket_subject_are_refused(client, make, session,
                                                                      world):
    from tests.api.test_customers import platform_admin
    from tests.factories import org_nr

    h = platform_admin(client, make, session)
    r = client.post("/api/v1/customers", headers=h, json={
        "name": "Evil AB\r\nBcc: all@example.test", "org_nr": org_nr(),
        "admin_email": "boss@evil.example"})
    assert r.status_code == 400 and "name" in r.get_json()["errors"]
    ha = bearer(client, world.a.admin)
    r = client.post(f"/api/v1/customers/{world.a.customer.id}/tickets", headers=ha,
                    json={"subject": "Help\nme", "body": "Line one\nline two is fine here"})
    assert r.status_code == 400 and "subject" in r.get_json()["errors"]


def test_cli_refuses_a_customer_name_with_a_line_break(runner):
    from tests.factories import org_nr

    r = runner.invoke(args=["customer", "create", "--name", "Evil AB\nBcc: x@example.test",
                            "--org-nr", org_nr(), "--admin-email", "a@example.test"])
    assert r.exit_code == 1 and "One line" in r.stderr


# ------------------------------------------------------------------ headers

def test_every_api_response_says_no_store_and_nosniff(client, make):
    acc = make.account()
    responses = [
        client.post("/api/v1/auth/tokens", json={"email": acc.email, "password": PASSWORD,
                                                 "device_id": "header-phone-1"}),
        client.post("/api/v1/auth/login", json={"email": acc.email, "password": "nope nope"}),
        client.get("/api/v1/nothing-here"),
        client.get("/api/v1/openapi.json"),
        client.post("/api/v1/auth/login", data="x", content_type="text/plain"),
    ]
    h = {"Authorization": f"Bearer {responses[0].get_json()['token']}"}
    responses.append(client.get("/api/v1/me", headers=h))
    for r in responses:
        assert r.headers["Cache-Control"] == "no-store", r.request.path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "Server" not in r.headers


def test_signup_through_the_api_end_to_end(client):
    """The whole path a newcomer takes, as the app would call it."""
    account = signup(client, "end.to.end@example.test", first_name="End", last_name="Toend")
    assert account["memberships"] == []
    login(client, "end.to.end@example.test", SIGNUP_PASSWORD)


def test_line_breaks_in_site_door_and_guest_names_are_refused(client, world):
    a = world.a
    h = bearer(client, a.admin)
    r = client.post(f"/api/v1/customers/{a.customer.id}/sites", headers=h, json={
        "name": "Site\r\nX", "latitude": 59.3, "longitude": 18.0, "radius_m": 100,
        "geofence": "record"})
    assert r.status_code == 400 and "name" in r.get_json()["errors"]
    r = client.post(f"/api/v1/customers/{a.customer.id}/sites/{a.site.id}/doors", headers=h,
                    json={"name": "Door\nX"})
    assert r.status_code == 400 and "name" in r.get_json()["errors"]
