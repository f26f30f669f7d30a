"""The platform tables behind the database wall (revision 0017): accounts, access_tokens,
devices and email_verifications, read as the app's own database role.

No scope sees none of them; a person sees their own rows; a customer's scope sees its
members' accounts (the names in admin lists) and nobody else's, and no token, device or
code; the token sign-in finds its row only through ``entryfy_sign_in``, which signs the
person in and nobody else.
"""

from __future__ import annotations

import pytest
from sqlalchemy import exc, text

from entryfy import security
from tests.factories import PASSWORD, bearer
from tests.models.test_rls import _as, _conn, _count

PLATFORM = ("accounts", "access_tokens", "devices", "email_verifications")


@pytest.fixture
def pg(backend):
    if backend.name != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    return backend


@pytest.fixture
def people(pg, client, session, world, make):
    """World A and B; A's worker holds a device token (its secret is returned), B's worker
    has an unproven address (a code waits in email_verifications), and a stranger belongs
    to no customer."""
    header = bearer(client, world.a.worker, device_id="phone-of-a-worker")
    bearer(client, world.b.worker, device_id="phone-of-b-worker")
    stranger = make.account(email="stranger@example.test")
    r = client.post("/api/v1/auth/register", json={
        "email": "unproven@example.test", "password": "Vintage-Ferry-Lantern-42",
        "first_name": "Una", "last_name": "Proven"})
    assert r.status_code == 202, r.get_json()
    session.commit()
    return world, header["Authorization"].removeprefix("Bearer "), stranger


def _ids(conn, sql: str) -> set[str]:
    return {str(x) for x in conn.execute(text(sql)).scalars()}


def test_the_web_role_without_a_scope_sees_no_platform_row(people, session):
    conn = _conn(session)
    _as(conn, scope="system")
    populated = {t: _count(conn, t) for t in PLATFORM}
    assert all(populated.values()), populated  # there is something to hide
    _as(conn)
    assert {t: _count(conn, t) for t in PLATFORM} == dict.fromkeys(PLATFORM, 0)
    # Unsigned or forged settings count for nothing either.
    conn.execute(text("SELECT set_config('entryfy.scope', 'system', true)"))
    assert {t: _count(conn, t) for t in PLATFORM} == dict.fromkeys(PLATFORM, 0)
    _as(conn, scope="system", sig="0" * 64)
    assert {t: _count(conn, t) for t in PLATFORM} == dict.fromkeys(PLATFORM, 0)


def test_a_person_sees_only_their_own_account_tokens_and_devices(people, session):
    world, _, _ = people
    me, other = str(world.a.worker.id), str(world.b.worker.id)
    conn = _conn(session)
    _as(conn, acct=me)
    assert _ids(conn, "SELECT id FROM accounts") == {me}
    assert _ids(conn, "SELECT account_id FROM access_tokens") == {me}
    assert _ids(conn, "SELECT account_id FROM devices") == {me}
    _as(conn, acct=other)
    assert me not in _ids(conn, "SELECT id FROM accounts")
    assert me not in _ids(conn, "SELECT account_id FROM access_tokens")
    # Nor can one person change another's account.
    _as(conn, acct=me)
    assert conn.execute(text("UPDATE accounts SET first_name = 'Mallory' "
                             "WHERE id = CAST(:o AS uuid)"), {"o": other}).rowcount == 0


def test_a_customer_scope_sees_its_members_names_and_no_other_account(people, session):
    world, _, stranger = people
    a, b = world.a, world.b
    conn = _conn(session)
    _as(conn, ids=str(a.customer.id))
    names = {tuple(r) for r in conn.execute(text(
        "SELECT first_name, last_name FROM accounts"))}
    assert names == {(a.admin.first_name, a.admin.last_name),
                     (a.worker.first_name, a.worker.last_name)}
    emails = _ids(conn, "SELECT email FROM accounts")
    for outsider in (b.worker, b.admin, stranger):
        assert outsider.email not in emails
    assert _count(conn, "accounts", "email = 'unproven@example.test'") == 0
    # A member's tokens, devices and codes stay the person's.
    for table in PLATFORM[1:]:
        assert _count(conn, table) == 0, table
    # A customer's scope may read its members' accounts, not write them.
    nested = conn.begin_nested()
    with pytest.raises(exc.ProgrammingError, match="row-level security"):
        conn.execute(text("UPDATE accounts SET email = 'taken@example.test' "
                          "WHERE id = CAST(:w AS uuid)"), {"w": str(a.worker.id)})
    nested.rollback()


def test_the_token_sign_in_finds_its_row_and_signs_in_only_its_person(people, session):
    world, secret, _ = people
    conn = _conn(session)
    _as(conn)
    # Without the token's secret there is no hash to give: the web role sees none.
    assert _count(conn, "access_tokens") == 0
    rows = conn.execute(text("SELECT * FROM entryfy_sign_in(:h, 'device', now())"),
                        {"h": "no-such-hash"}).all()
    assert rows == []
    assert _count(conn, "accounts") == 0
    row = conn.execute(text("SELECT account_id, live FROM entryfy_sign_in(:h, 'device', now())"),
                       {"h": security.sha256_hex(secret)}).one()
    assert (str(row.account_id), row.live) == (str(world.a.worker.id), True)
    assert _ids(conn, "SELECT id FROM accounts") == {str(world.a.worker.id)}
    # The wrong kind finds the row but signs nobody in.
    row = conn.execute(text("SELECT live FROM entryfy_sign_in(:h, 'session', now())"),
                       {"h": security.sha256_hex(secret)}).one()
    assert row.live is False
    assert _count(conn, "accounts") == 0


def test_sign_in_paths_work_as_the_web_role(people, client, session):
    world, secret, _ = people
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.get_json()["email"] == world.a.worker.email
    r = client.post("/api/v1/auth/login", json={"email": world.b.worker.email.upper(),
                                                "password": "wrong-password-1"})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"email": world.b.worker.email.upper(),
                                                "password": PASSWORD})
    assert r.status_code == 200, r.get_json()
    r = client.post("/api/v1/auth/tokens", json={
        "email": world.b.admin.email, "password": PASSWORD, "device_id": "x-device-0001"})
    assert r.status_code == 201, r.get_json()
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.get_json()['token']}"})
    assert r.status_code == 200 and r.get_json()["email"] == world.b.admin.email
