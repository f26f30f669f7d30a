"""The check-in's operations alone in a bare Flask app: the middle line of bench.checkin.

The bare app of bench/baseline_app.py, but its endpoint runs what Entryfy's check-in runs
below the web layer: the token sign-in (``ops.accounts.sign_in_with_token``: the
SECURITY DEFINER sign-in function that sets the row-level-security context) and the
check-in (``ops.entries.check_in``: the scoped lookup, the geodesic, the guarded INSERT),
on Entryfy's own engine and session, committed. No flask-smorest, webargs or marshmallow,
no Flask-Login, throttling, problem+json, security headers or retry middleware.

Between the baseline and the full app it splits the gap in two: what the rules cost in the
database and in the operations, and what the web layer around them costs. Not a product
path (it skips validation and the refusals' answers); only the bench serves it.

    ENTRYFY_DATA_KEY=... DATABASE_URL=postgresql://... gunicorn bench.ops_app:app
"""

from __future__ import annotations

import functools
import os
import uuid

from flask import Flask, jsonify, request

from entryfy import security
from entryfy.db import Database, make_engine
from entryfy.ops import accounts, entries

app = Flask("ops-only")


@functools.cache
def database() -> Database:
    # Made on first use in each worker, after the fork; configured as create_app does.
    # Passwords are never checked here (token sign-in only): the cheapest valid settings.
    security.configure(passwords=security.Passwords(1, 8192, 1),
                       keys=security.DataKeys(os.environ["ENTRYFY_DATA_KEY"]))
    return Database(make_engine(
        os.environ["DATABASE_URL"], pool_size=int(os.environ.get("DATABASE_POOL_SIZE", "5")),
        max_overflow=int(os.environ.get("DATABASE_MAX_OVERFLOW", "5"))))


@app.post("/api/v1/entries")
def check_in():
    body = request.get_json(silent=True)
    secret = request.headers.get("Authorization", "")[len("Bearer "):]
    session = database().session()
    try:
        signed = accounts.sign_in_with_token(session, secret, "device")
        if signed is None or not isinstance(body, dict):
            return jsonify(error="refused"), 401
        result = entries.check_in(
            session, account_id=signed.account_id, site_id=uuid.UUID(body["site_id"]),
            latitude=body["latitude"], longitude=body["longitude"],
            accuracy_m=body.get("accuracy_m"),
            idempotency_key=request.headers["Idempotency-Key"], ip=request.remote_addr)
        session.commit()
        return jsonify(id=str(result.entry.id)), 201 if result.created else 200
    finally:
        session.close()
