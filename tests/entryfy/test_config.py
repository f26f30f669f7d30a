"""Configuration: secrets never get silent defaults outside development."""

from __future__ import annotations

import pytest

from entryfy import config


def test_missing_secrets_stop_production_start(monkeypatch, tmp_path):
    monkeypatch.setenv("ENTRYFY_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("ENTRYFY_DATA_KEY", raising=False)
    with pytest.raises(config.ConfigError, match="SECRET_KEY, ENTRYFY_DATA_KEY"):
        config.load(str(tmp_path))


def test_development_gets_dev_keys_and_sqlite(monkeypatch, tmp_path):
    monkeypatch.setenv("ENTRYFY_ENV", "development")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = config.load(str(tmp_path))
    assert cfg["SECRET_KEY"] and cfg["ENTRYFY_DATA_KEY"]
    assert cfg["DATABASE_URL"].startswith("sqlite:///")
    assert cfg["DATABASE_ADMIN_URL"] == cfg["DATABASE_URL"]


def test_bad_data_key_is_refused():
    from entryfy.security import DataKeys

    with pytest.raises(ValueError, match="32 bytes"):
        DataKeys("c2hvcnQ=")


def test_field_encryption_round_trip_and_context_binding():
    from cryptography.exceptions import InvalidTag

    from entryfy.security import DataKeys

    keys = DataKeys("dGVzdC1kYXRhLWtleS0wMDAwMDAwMDAwMDAwMDAwMDA=")
    token = keys.encrypt("19850101-1234", context="account:1")
    assert "1985" not in token
    assert keys.decrypt(token, context="account:1") == "19850101-1234"
    with pytest.raises(InvalidTag):
        keys.decrypt(token, context="account:2")


def test_truncated_ip():
    from entryfy.security import truncate_ip

    assert truncate_ip("192.168.10.77") == "192.168.10.0/24"
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_ip("not an ip") is None
