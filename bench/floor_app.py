"""The check-in's SQL alone in a bare Flask app: the floor under bench.checkin's ratio.

The bare app of bench/baseline_app.py, but its endpoint sends exactly the statements a
check-in sends, on the same database role (row-level security on) and with the same values:
the token sign-in (``entryfy_sign_in``, which signs the tenant context), at a site this
process has not seen the scoped lookup that reads its geofence, then the one statement that
scopes, checks every rule the database answers and inserts, and the commit. Each on a plain
psycopg connection of its thread, with no SQLAlchemy, no session, no tenancy bookkeeping and
no Python rules: the geofence verdict is taken as "inside" instead of computed, nothing is
validated, a refusal is a bare 409.

Its rate is what the database work of a check-in allows on this machine, with the least
Python a Flask app can wrap around it; a check-in that keeps its rules in these statements
cannot run faster. Not a product path: only the bench serves it.

    ENTRYFY_DATA_KEY=... DATABASE_URL=postgresql://... gunicorn bench.floor_app:app
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import threading
import uuid
from typing import Any

import psycopg
from flask import Flask, jsonify, request

from entryfy.db import make_engine, normalise_url
from entryfy.ops import accounts, entries
from models.hot import HotStatement

app = Flask("sql-only")


class _Statement:
    """A hot statement's PostgreSQL text and parameter order, as Entryfy sends it."""

    def __init__(self, statement: HotStatement, conn: Any) -> None:
        self.sql, self.names, self.static, _ = statement._compiled_pg(conn)

    def run(self, cur: psycopg.RawCursor[Any], params: dict[str, Any]) -> Any:
        cur.execute(self.sql, [params[n] if n in params else self.static[n]
                               for n in self.names])
        return cur.fetchone()


@functools.cache
def statements() -> tuple[_Statement, _Statement, _Statement]:
    # Compiled once per worker by Entryfy's own code (the same text the app sends).
    engine = make_engine(os.environ["DATABASE_URL"], pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        compiled = (_Statement(accounts._SIGN_IN["postgresql"], conn),
                    _Statement(entries._CHECK_IN_TARGET._pg, conn),
                    _Statement(entries._CHECK_IN_WRITE._pg, conn))
    engine.dispose()
    return compiled


_local = threading.local()
_fences: dict[uuid.UUID, dict[str, Any]] = {}
_ENTRY_COLUMNS = [c.key for c in entries._ENTRY_COLUMNS if c.key not in entries._FROM_TARGET]


def _connection() -> psycopg.Connection[Any]:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        url = normalise_url(os.environ["DATABASE_URL"]).replace("postgresql+psycopg://",
                                                                "postgresql://", 1)
        conn = _local.conn = psycopg.connect(url)
    return conn


@app.post("/api/v1/entries")
def check_in():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="bad body"), 400
    sign_in, lookup, write = statements()
    now = dt.datetime.now(dt.UTC)
    token = request.headers.get("Authorization", "")[len("Bearer "):]
    key = request.headers["Idempotency-Key"]
    site_id = uuid.UUID(body["site_id"])
    conn = _connection()
    with conn.transaction(), psycopg.RawCursor(conn) as cur:
        signed = sign_in.run(cur, {"token_hash": hashlib.sha256(token.encode()).hexdigest(),
                                   "kind": "device", "now": now})
        if signed is None or not signed[3]:
            return jsonify(error="refused"), 401
        account_id = signed[1]
        found = {"account_id": account_id, "key": key, "site_id": site_id, "now": now}
        fence = _fences.get(site_id)
        if fence is None:
            row = lookup.run(cur, found)  # scoped_ids, then the lookup's columns
            if row is None or row[1] is None:
                return jsonify(error="no such site"), 404
            fence = _fences[site_id] = {"fence_latitude": row[3], "fence_longitude": row[4],
                                        "fence_radius_m": row[5], "fence_geofence": row[6],
                                        "fence_store_coarse_position": row[8]}
        values = dict.fromkeys(_ENTRY_COLUMNS)
        entry_id = uuid.uuid4()
        values.update(id=entry_id, created_at=now, account_id=account_id, checked_in_at=now,
                      inside_geofence=True, distance_m=10, idempotency_key=key, source="app",
                      ip_prefix=None, restricted=False, auto_checkout=False)
        row = write.run(cur, {**found, **values, **fence})
        if row is None or not row[-1]:
            return jsonify(error="not written"), 409
    return jsonify(id=str(entry_id)), 201
