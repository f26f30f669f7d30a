"""The baseline: a bare Flask app whose one endpoint does one INSERT, served like Entryfy.

Same framework, same gunicorn settings, same database server and driver: what is left in the
ratio is the cost of Entryfy's own layers (authentication, tenancy, validation, rules).

    BASELINE_DATABASE_URL=postgresql://... gunicorn bench.baseline_app:app
    (the table comes from ``create_table(url)``, which bench scripts call first)
"""

from __future__ import annotations

import functools
import os
import uuid

from flask import Flask, jsonify, request
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    Uuid,
    create_engine,
    func,
)

metadata = MetaData()
rows = Table(
    "bench_baseline_rows", metadata,
    Column("id", Uuid, primary_key=True),
    Column("payload", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
)



@functools.cache
def engine() -> Engine:
    # Made on first use in each worker, after the fork: connections are never shared.
    url = os.environ["BASELINE_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    # The pool as entryfy.db.make_engine configures it (no pre-ping, recycled after 30 min):
    # a difference here would be counted as the cost of Entryfy's layers.
    return create_engine(
        url, pool_size=int(os.environ.get("DATABASE_POOL_SIZE", "5")),
        max_overflow=int(os.environ.get("DATABASE_MAX_OVERFLOW", "5")), pool_recycle=1800,
    )

def create_table(url: str) -> None:
    """Called by the bench before the server starts (not at import: two workers would race)."""
    e = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    metadata.create_all(e)
    e.dispose()

app = Flask("baseline")


@app.post("/insert")
def insert():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="bad body"), 400
    new_id = uuid.uuid4()
    with engine().begin() as conn:
        conn.execute(rows.insert().values(id=new_id, payload=str(body.get("payload", ""))[:200]))
    return jsonify(id=str(new_id)), 201
