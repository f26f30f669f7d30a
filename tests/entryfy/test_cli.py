"""The command line: migrations, demo data, audit verification."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from entryfy import create_app
from tests.conftest import TEST_CONFIG


def _fresh_app(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    return create_app({**TEST_CONFIG, "DATABASE_URL": url, "DATABASE_ADMIN_URL": url,
                       "OUTBOX_DIR": str(tmp_path / "outbox"),
                       "WITNESS_URL": (tmp_path / "witness").as_uri()}), url


def test_db_upgrade_then_demo_prints_logins(tmp_path):
    app, url = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    r = runner.invoke(args=["db", "upgrade"])
    assert r.exit_code == 0, r.output
    tables = set(inspect(create_engine(url)).get_table_names())
    assert {"accounts", "customers", "memberships", "sites", "entries", "alembic_version"} <= tables
    r = runner.invoke(args=["demo"])
    assert r.exit_code == 0, r.output
    assert "admin@demo.entryfy.dev" in r.output and "worker@demo.entryfy.dev" in r.output
    # Second run: nothing seeded twice, logins printed again.
    r = runner.invoke(args=["demo"])
    assert "nothing seeded" in r.output
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"email": "admin@demo.entryfy.dev",
                                                    "password": "entryfy-demo-2026"})
    assert login.status_code == 200
    assert login.get_json()["memberships"][0]["role"] == "admin"


def test_audit_verify_passes_on_intact_chain(tmp_path):
    app, _ = _fresh_app(tmp_path)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    r = runner.invoke(args=["audit", "verify"])
    assert r.exit_code == 0, r.output


def test_unknown_email_costs_a_password_verification_too(app, make, monkeypatch):
    """Enumeration safety by construction: both failures run argon2 exactly once."""
    from entryfy import security

    calls = []
    pw = security.passwords()
    original = pw.verify

    def counting(stored, password):
        calls.append(stored is None)
        return original(stored, password)

    monkeypatch.setattr(pw, "verify", counting)
    acc = make.account()
    c = app.test_client()
    c.post("/api/v1/auth/login", json={"email": acc.email, "password": "wrong-wrong-1"})
    c.post("/api/v1/auth/login", json={"email": "ghost@example.test", "password": "wrong-wrong-1"})
    assert calls == [False, True]
