"""GET /healthz and GET /readyz: for load balancers and orchestrators. No sign-in, no rate
limit, nothing personal; outside /api/v1 and its OpenAPI document, as is usual for probes."""

from __future__ import annotations

from flask import Blueprint, Response, json
from sqlalchemy import exc, text

from entryfy.dbfaults import classify
from entryfy.extensions import limiter
from entryfy.web import database

blp = Blueprint("health", __name__)


def _json(body: dict[str, str], status: int, **headers: str) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"Cache-Control": "no-store", **headers})


@blp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """200 while the process serves requests; says nothing about the database."""
    return _json({"status": "ok"}, 200)


@blp.get("/readyz")
@limiter.exempt
def readyz() -> Response:
    """200 when the database answers a query, else 503 with Retry-After."""
    try:
        with database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (exc.DBAPIError, exc.TimeoutError) as err:
        fault = classify(err)
        retry = fault.retry_after if fault else 5
        return _json({"status": "unavailable", "database": "unavailable"}, 503,
                     **{"Retry-After": str(retry)})
    return _json({"status": "ok", "database": "ok"}, 200)
