"""Throttling state can live in Redis, so several app servers share one count."""

from __future__ import annotations

import os

import pytest

from entryfy import create_app
from tests.conftest import TEST_CONFIG

REDIS_URL = os.environ.get("ENTRYFY_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="ENTRYFY_TEST_REDIS_URL not set")
def test_failures_counted_across_two_app_servers(database, make):
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    cfg = {**TEST_CONFIG, "DATABASE": database, "RATELIMIT_STORAGE_URI": REDIS_URL,
           "LOGIN_FAILURE_LIMIT_ACCOUNT": "3 per 15 minutes"}
    server1, server2 = create_app(cfg), create_app(cfg)
    acc = make.account()
    bad = {"email": acc.email, "password": "wrong-wrong-1"}
    for _ in range(2):
        assert server1.test_client().post("/api/v1/auth/login", json=bad).status_code == 401
    assert server2.test_client().post("/api/v1/auth/login", json=bad).status_code == 401
    r = server1.test_client().post("/api/v1/auth/login", json=bad)
    assert r.status_code == 429
    # Only a hash of the address is a key in Redis, never the address itself.
    keys = b" ".join(redis.Redis.from_url(REDIS_URL).keys("*"))
    assert acc.email.encode() not in keys
