"""Database faults in a request: run again when that is safe, else 503 with Retry-After;
never 500, one log line per incident. Health probes. No lock held through password hashing.
(The fault suite in tests/faults makes real outages; these pin the rules.)"""

from __future__ import annotations

import logging
import sqlite3

import pytest
from sqlalchemy import exc
from sqlalchemy.orm import Session

from entryfy import create_app
from entryfy.dbfaults import Fault, IncidentLog, classify
from entryfy.ops import accounts as account_ops
from tests.conftest import TEST_CONFIG
from tests.factories import PASSWORD, bearer


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("boom")
        self.sqlstate = sqlstate


def _op(sqlstate: str = "", invalidated: bool = False) -> exc.OperationalError:
    return exc.OperationalError("COMMIT", {}, _PgError(sqlstate),
                                connection_invalidated=invalidated)


@pytest.mark.parametrize(("err", "expected"), [
    (_op("40P01"), Fault("contention", True, "40P01")),
    (_op("40001"), Fault("contention", True, "40001")),
    (_op("57P01"), Fault("unavailable", False, "57P01")),
    (_op("", invalidated=True), Fault("unavailable", False, "_PgError")),
    (exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")),
     Fault("contention", True, "sqlite-busy")),
    (exc.TimeoutError("QueuePool limit"), Fault("unavailable", True, "pool-timeout")),
    (exc.IntegrityError("INSERT", {}, _PgError("23505")), None),
    (ValueError("not a database error"), None),
])
def test_classify(err, expected):
    assert classify(err) == expected


def _fail_first(monkeypatch, target: object, name: str, errors: list[BaseException]) -> list[int]:
    """Make ``target.name`` raise each of ``errors`` once, then behave; returns call count."""
    real = getattr(target, name)
    calls = [0]

    def flaky(*args, **kwargs):
        calls[0] += 1
        if errors:
            raise errors.pop(0)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)
    return calls


def test_a_fault_in_the_view_reruns_the_whole_request(client, world, monkeypatch, session):
    auth = bearer(client, world.a.worker)
    calls = _fail_first(monkeypatch, account_ops, "update_profile",
                        [_op("", invalidated=True), _op("40P01")])
    r = client.patch("/api/v1/me", json={"first_name": "Retried"}, headers=auth)
    assert r.status_code == 200, r.get_json()
    assert calls[0] == 3
    session.expire_all()
    assert session.get(type(world.a.worker), world.a.worker.id).first_name == "Retried"


def test_a_lost_connection_at_commit_of_a_post_answers_503_without_rerunning(
        client, world, monkeypatch, caplog):
    auth = bearer(client, world.a.admin)
    calls = _fail_first(monkeypatch, Session, "commit", [_op("", invalidated=True)] * 5)
    with caplog.at_level(logging.INFO):
        r = client.post(f"/api/v1/customers/{world.a.customer.id}/sites", headers=auth,
                        json={"name": "New site", "latitude": 59.3, "longitude": 18.0,
                              "radius_m": 100, "geofence": "record"})
    # It may have committed: a POST without an Idempotency-Key is the client's to repeat.
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["type"].endswith("/temporarily-unavailable")
    assert calls[0] == 1
    assert not [rec for rec in caplog.records if rec.exc_info]


def test_a_check_in_with_its_idempotency_key_is_rerun_after_a_lost_commit(
        client, world, monkeypatch, session):
    world.a.site.ledger_id = None
    session.commit()
    auth = bearer(client, world.a.worker)
    calls = _fail_first(monkeypatch, Session, "commit", [_op("", invalidated=True)])
    r = client.post("/api/v1/entries", headers={**auth, "Idempotency-Key": "key-0001"},
                    json={"site_id": str(world.a.site.id), "latitude": 59.33,
                          "longitude": 18.06})
    assert r.status_code == 201, r.get_json()
    assert calls[0] == 2


def test_a_deadlock_at_commit_reruns_the_transaction(client, world, monkeypatch):
    auth = bearer(client, world.a.worker)
    calls = _fail_first(monkeypatch, Session, "commit", [_op("40P01")])
    r = client.patch("/api/v1/me", json={"last_name": "Again"}, headers=auth)
    assert r.status_code == 200
    assert calls[0] == 2


def test_an_idempotent_request_is_rerun_after_a_lost_commit(client, world, monkeypatch):
    auth = bearer(client, world.a.worker)
    calls = _fail_first(monkeypatch, Session, "commit", [_op("", invalidated=True)])
    r = client.get("/api/v1/me", headers=auth)
    assert r.status_code == 200
    assert calls[0] == 2


def test_a_request_whose_mail_went_to_the_outbox_is_rerun_and_mails_once(
        app, client, world, monkeypatch):
    """Mail written in a request is an outbox row in its transaction: the attempt the
    deadlock rolled back sends nothing, so the request can be rerun, and the mail goes once."""
    from entryfy import mail

    auth = bearer(client, world.a.worker)
    real = account_ops.update_profile
    attempts = [0]

    def mail_then_deadlock_once(session, account, changes):
        attempts[0] += 1
        mail.send("rerun-once@example.test", "Hello", f"Attempt {attempts[0]}")
        if attempts[0] == 1:
            raise _op("40P01")
        return real(session, account, changes)

    monkeypatch.setattr(account_ops, "update_profile", mail_then_deadlock_once)
    r = client.patch("/api/v1/me", json={"first_name": "Mailed"}, headers=auth)
    assert r.status_code == 200, r.get_json()
    assert attempts[0] == 2
    sent = [m for m in app.extensions["entryfy.mail"].messages()
            if m["To"] == "rerun-once@example.test"]
    assert [m.get_content().strip() for m in sent] == ["Attempt 2"]


def test_a_request_that_sent_mail_directly_is_not_rerun(app, client, world, monkeypatch):
    """A mail sent past the outbox (no unit of work to hold it) cannot be taken back: such a
    request is answered 503, never run twice."""
    from entryfy import mail

    auth = bearer(client, world.a.worker)

    def send_then_fail(session, account, changes):
        mail.mailer().send("someone@example.test", "Hello", "A message")
        raise _op("40P01")

    monkeypatch.setattr(account_ops, "update_profile", send_then_fail)
    before = len(app.extensions["entryfy.mail"].messages())
    r = client.patch("/api/v1/me", json={"first_name": "Mailed"}, headers=auth)
    assert r.status_code == 503, r.get_json()
    # "1" although the endpoint is rate limited (Flask-Limiter rewrites the header there).
    assert r.headers["Retry-After"] == "1"
    assert len(app.extensions["entryfy.mail"].messages()) == before + 1


def test_retries_are_bounded(client, world, monkeypatch):
    auth = bearer(client, world.a.worker)
    calls = _fail_first(monkeypatch, account_ops, "update_profile", [_op("40001")] * 10)
    r = client.patch("/api/v1/me", json={"first_name": "Never"}, headers=auth)
    assert r.status_code == 503
    assert calls[0] == 4


def test_incident_log_says_it_once(caplog):
    log = IncidentLog(every=3600)
    fault = Fault("unavailable", False, "57P01")
    with caplog.at_level(logging.INFO, logger="entryfy.database"):
        for _ in range(50):
            log.failed(fault, retried=False, phase="request")
        log.succeeded()
        log.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "unavailable" in lines[0] and "50 failed attempts" in lines[1]


def test_health_probes(client):
    r = client.get("/healthz")
    assert (r.status_code, r.get_json()) == (200, {"status": "ok"})
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["database"] == "ok"


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    from tests.faults.kit import free_port

    app = create_app({**TEST_CONFIG, "OUTBOX_DIR": str(tmp_path),
                      "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/none"})
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "5"
    for _ in range(40):  # probes are never throttled
        assert client.get("/healthz").status_code == 200


@pytest.fixture
def _keep_limiter():
    from tests.faults.kit import keep_limiter

    with keep_limiter():
        yield


@pytest.mark.usefixtures("_keep_limiter")
def test_a_redis_that_is_down_does_not_stop_sign_in(database, make, tmp_path, caplog):
    from tests.faults.kit import free_port

    app = create_app({**TEST_CONFIG, "DATABASE": database, "OUTBOX_DIR": str(tmp_path),
                      "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0",
                      "LOGIN_FAILURE_LIMIT_ACCOUNT": "2 per 15 minutes"})
    acc = make.account()
    client = app.test_client()
    with caplog.at_level(logging.WARNING):
        assert client.post("/api/v1/auth/login", json={
            "email": acc.email, "password": PASSWORD}).status_code == 200
        bad = {"email": acc.email, "password": "wrong-wrong-1"}
        # Counted in memory meanwhile: throttling still holds.
        assert [client.post("/api/v1/auth/login", json=bad).status_code
                for _ in range(3)] == [401, 401, 429]
    assert sum("in-memory" in r.getMessage() for r in caplog.records) == 1


def test_sign_in_holds_no_write_lock_while_hashing(app, committed, backend, make, monkeypatch):
    if backend.name != "sqlite":
        pytest.skip("SQLite's write lock")
    from entryfy import security

    s = committed.session()
    from models.tenancy import SYSTEM, set_context

    set_context(s, SYSTEM)
    acc = type(make)(s).account()
    s.close()
    path = backend.app_url.removeprefix("sqlite:///")
    seen: list[bool] = []
    real = security.Passwords.verify

    def verify(self, hashed, password):
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # fails at once if someone holds the lock
            other.execute("ROLLBACK")
            seen.append(True)
        except sqlite3.OperationalError:
            seen.append(False)
        finally:
            other.close()
        return real(self, hashed, password)

    monkeypatch.setattr(security.Passwords, "verify", verify)
    r = app.test_client().post("/api/v1/auth/login", json={"email": acc.email,
                                                            "password": PASSWORD})
    assert r.status_code == 200
    assert seen == [True]
