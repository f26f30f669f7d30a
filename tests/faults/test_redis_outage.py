"""Redis (the limiter's storage) stops and starts again: sign-in, token issue and privacy
requests keep answering; throttling goes on in process memory meanwhile (said once in the
log) and returns to Redis by itself."""

from __future__ import annotations

import logging
import time

from entryfy import create_app
from tests.factories import PASSWORD
from tests.faults.conftest import APP_CONFIG, seed
from tests.faults.kit import RedisServer, Tally


def test_redis_stopped_and_started(sqlite_url, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    redis = RedisServer()
    try:
        app = create_app({**APP_CONFIG, "DATABASE_URL": sqlite_url, "OUTBOX_DIR": str(tmp_path),
                          "RATELIMIT_STORAGE_URI": redis.url,
                          "LOGIN_FAILURE_LIMIT_ACCOUNT": "3 per 15 minutes"})
        tenant, _ = seed(sqlite_url)
        client = app.test_client()
        tally = Tally()
        wrong = {"email": tenant.admin.email, "password": "wrong-password-1"}

        def round_trip(n: int) -> None:
            r = client.post("/api/v1/auth/login",
                            json={"email": tenant.worker.email, "password": PASSWORD})
            tally.add(r.status_code, r.headers)
            r = client.post("/api/v1/auth/tokens", json={
                "email": tenant.worker.email, "password": PASSWORD,
                "device_id": f"device-redis-{n:04d}"})
            tally.add(r.status_code, r.headers)
            if r.status_code == 201:
                auth = {"Authorization": f"Bearer {r.get_json()['token']}"}
                r = client.post("/api/v1/me/requests", headers=auth,
                                json={"type": "access", "password": PASSWORD})
                tally.add(r.status_code, r.headers)

        # Two failures counted in Redis before it goes away.
        assert [client.post("/api/v1/auth/login", json=wrong).status_code
                for _ in range(2)] == [401, 401]
        round_trip(0)
        redis.stop()
        down = [round_trip(n) for n in range(1, 4)]
        assert down
        # Throttling still works while Redis is down, counted in memory from zero.
        during = [client.post("/api/v1/auth/login", json=wrong).status_code for _ in range(4)]
        redis.start()
        restarted = time.monotonic()
        healed = None
        n = 10
        while time.monotonic() - restarted < 20:
            round_trip(n)
            n += 1
            if any("storage recovered" in r.getMessage() for r in caplog.records):
                healed = time.monotonic() - restarted
                break
            time.sleep(0.25)
        fallbacks = [r for r in caplog.records if "falling back to in-memory" in r.getMessage()]
        tally.summary("redis-stop", rows_lost=0, heal_s=healed, fallback_lines=len(fallbacks),
                      during=during)
        assert set(tally.status) <= {200, 201}, tally.status
        assert during == [401, 401, 401, 429]
        assert len(fallbacks) == 1
        assert healed is not None, "the limiter never went back to Redis"
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    finally:
        redis.stop()
