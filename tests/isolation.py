"""Helpers for the tenant-isolation suite: requests built from the OpenAPI document, each
customer's objects looked up by path-parameter name, and snapshots of one customer's rows.

Nothing here names a particular endpoint: a path another engineer adds later is covered by
the same rules, so the walls between customers are checked without anyone editing a test.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from entryfy import clock
from models import Entry
from models.base import Base
from tests.factories import World, bearer

OK = range(200, 300)
METHODS = ("get", "post", "put", "patch", "delete")
# Path parameters whose name does not follow "<singular of table>_id".
ALIASES = {
    "member_id": "memberships",
    "token_id": "access_tokens",
    "request_id": "data_requests",
    "grant_id": "access_grants",
}


def singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def path_params(path: str) -> list[str]:
    return re.findall(r"{([^}]+)}", path)


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"{([^}]+)}", lambda m: ids.get(m.group(1)) or str(uuid.uuid4()), path)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items()
            for method, op in ops.items() if method in METHODS]


# ------------------------------------------------------------------ plausible requests

def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = _resolve(spec, part)
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += part.get("required", [])
        return merged
    return schema


def _time(name: str) -> str:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    later = name.endswith(("_to", "to", "until", "out_at")) or name.startswith("expires")
    return (now + dt.timedelta(days=1) if later else now - dt.timedelta(hours=2)).isoformat()


def _org_nr() -> str:
    nine = f"55{uuid.uuid4().int % 10**7:07d}"
    total = sum((v - 9 if v > 9 else v)
                for v in (int(c) * (2 if i % 2 == 0 else 1) for i, c in enumerate(nine)))
    return f"{nine[:6]}-{nine[6:]}{(10 - total % 10) % 10}"


def sample(spec: dict[str, Any], schema: dict[str, Any], ids: dict[str, str],
           name: str = "", *, full: bool = False) -> Any:
    """A plausible valid value for ``schema``, ids taken from ``ids`` by field name: the
    required properties and the optional ids that are known, or with ``full`` every optional
    property too (except unknown ids and patterned strings, which cannot be guessed)."""
    schema = _resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        out = {}
        required = set(schema.get("required", []))
        for prop, sub in schema.get("properties", {}).items():
            sub_resolved = _resolve(spec, sub)
            if sub_resolved.get("readOnly"):
                continue
            is_id = prop.endswith(("_id", "_ids"))
            known_id = (prop.endswith("_id") and prop in ids) or (
                prop.endswith("_ids") and prop[:-1] in ids)
            guessable = not is_id and "pattern" not in sub_resolved
            if prop in required or known_id or (full and guessable):
                out[prop] = sample(spec, sub, ids, prop, full=full)
        return out
    if kind == "array":
        if name.endswith("_ids"):
            return [ids[name[:-1]]] if name[:-1] in ids else []
        return [sample(spec, schema.get("items", {}), ids, singular(name), full=full)]
    if name.endswith("_id") or schema.get("format") == "uuid":
        return ids.get(name) or str(uuid.uuid4())
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        if name in ("latitude", "longitude"):
            return {"latitude": 59.33, "longitude": 18.06}[name]
        low, high = schema.get("minimum", 1), schema.get("maximum")
        value = max(low, 1) if high is None else min(max(low, 1), high)
        return int(value) if kind == "integer" else float(value)
    fmt = schema.get("format")
    if fmt == "email":
        return f"isolation-{uuid.uuid4().hex[:10]}@example.test"
    if fmt == "date-time":
        return _time(name)
    if fmt == "date":
        return _time(name)[:10]
    if "org_nr" in name:
        return _org_nr()
    text = f"Isolation {name or 'value'}"
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:high] if high else text


def request_parts(spec: dict[str, Any], op: dict[str, Any], ids: dict[str, str],
                  *, full: bool = False) -> dict[str, Any]:
    """``json``, ``headers`` and ``query_string`` for one operation."""
    parts: dict[str, Any] = {"headers": {}, "query_string": {}}
    for p in op.get("parameters", []):
        if not p.get("required") or p["in"] == "path":
            continue
        value = sample(spec, p.get("schema", {}), ids, p["name"])
        if p["in"] == "header":
            parts["headers"][p["name"]] = str(value)
        elif p["in"] == "query":
            parts["query_string"][p["name"]] = value
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "schema" in body:
        parts["json"] = sample(spec, body["schema"], ids, full=full)
    return parts


# ------------------------------------------------------------------ objects and snapshots

def _param_names(table: str) -> list[str]:
    names = [singular(table) + "_id", singular(table.rsplit("_", 1)[-1]) + "_id"]
    names += [alias for alias, t in ALIASES.items() if t == table]
    return names


def lookup(session: Session, customer_id: uuid.UUID, account_ids: set[uuid.UUID]
           ) -> dict[str, str]:
    """One object of the customer per path-parameter name (``site_id``, ``door_id``, ...):
    rows of tenant tables with its ``customer_id``, rows of platform tables that belong to
    its people (``token_id``, ``device_id``)."""
    out: dict[str, str] = {"customer_id": str(customer_id)}
    for table in Base.metadata.sorted_tables:
        cols = table.c
        if "id" not in cols:
            continue
        if "customer_id" in cols:
            where = cols.customer_id == customer_id
        elif "account_id" in cols:
            where = cols.account_id.in_(account_ids)
        else:
            continue
        stmt = select(cols.id).where(where).limit(1)
        if "created_at" in cols:
            stmt = stmt.order_by(cols.created_at)
        row = session.execute(stmt).first()
        if row is None:
            continue
        for name in _param_names(table.name):
            out.setdefault(name, str(row[0]))
    return out


def owned_ids(session: Session, customer_id: uuid.UUID, account_ids: set[uuid.UUID]
              ) -> set[str]:
    ids = {str(customer_id)} | {str(a) for a in account_ids}
    for table in Base.metadata.sorted_tables:
        cols = table.c
        if "id" in cols and "customer_id" in cols:
            ids |= {str(v) for v in session.scalars(
                select(cols.id).where(cols.customer_id == customer_id))}
        if "id" in cols and "account_id" in cols:
            ids |= {str(v) for v in session.scalars(
                select(cols.id).where(cols.account_id.in_(account_ids)))}
    return ids


def snapshot(session: Session, ids: set[str]) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table that mentions one of ``ids`` (its own id, its customer, its
    person, anything it references), as text: what must not change."""
    session.commit()  # a new transaction: the system scope applies again (see reread())
    session.expire_all()
    out = {}
    for table in Base.metadata.sorted_tables:
        rows = []
        for row in session.execute(select(table)):
            values = tuple("" if v is None else str(v) for v in row)
            if any(v in ids for v in values):
                rows.append(values)
        out[table.name] = sorted(rows)
    return out


# ------------------------------------------------------------------ the cast, by parameter name

def openapi(client) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def call(client, method: str, path: str, spec: dict[str, Any], op: dict[str, Any],
         headers: dict[str, str], body_ids: dict[str, str]):
    """The request with the smallest plausible body; if the schema refuses it (400), once
    more with every guessable optional field, since a 400 never reaches the wall."""
    r = None
    for full in (False, True):
        parts = request_parts(spec, op, body_ids, full=full)
        r = getattr(client, method)(path, headers={**headers, **parts.pop("headers")}, **parts)
        if r.status_code != 400:
            break
    return r


def seed(client, spec: dict[str, Any], tenant, ids: dict[str, str]) -> None:
    """Make one of each kind of object for ``tenant`` through its admin: every POST on a
    customer's collection whose objects have their own path parameter somewhere."""
    headers = bearer(client, tenant.admin, device_id=f"seed-{tenant.customer.id}")
    all_params = {p for path in spec["paths"] for p in path_params(path)}
    done: set[str] = set()
    for _ in range(3):  # later kinds may need ids of earlier ones (doors before accesses)
        for path, method, op in operations(spec):
            if method != "post" or path in done or "{customer_id}" not in path:
                continue
            last = path.rstrip("/").rsplit("/", 1)[-1]
            param = singular(last.replace("-", "_")) + "_id"
            if last.startswith("{") or param not in all_params or param in ids:
                continue
            if any(p not in ids for p in path_params(path)):
                continue
            r = call(client, "post", fill(path, ids), spec, op, headers, ids)
            body = r.get_json(silent=True)
            if r.status_code in OK and isinstance(body, dict) and "id" in body:
                ids[param] = str(body["id"])
                done.add(path)


def tenant_ids(session, tenant, client, spec) -> dict[str, str]:
    people = {tenant.admin.id, tenant.worker.id}
    ids = lookup(session, tenant.customer.id, people)
    ids["member_id"] = str(tenant.worker_membership.id)
    seed(client, spec, tenant, ids)
    session.commit()
    for key, value in lookup(session, tenant.customer.id, people).items():
        ids.setdefault(key, value)
    return ids


def make_cast(client, session, world: World, spec: dict[str, Any]):
    """World A and B, each with an entry and a device token for its worker, and one object of
    every kind the API can make; their ids by parameter name."""
    for t in (world.a, world.b):
        session.add(Entry(customer_id=t.customer.id, site_id=t.site.id, account_id=t.worker.id,
                          membership_id=t.worker_membership.id,
                          checked_in_at=clock.now()))
        session.commit()
        bearer(client, t.worker, device_id=f"phone-of-{t.worker.id}")
    a_ids = tenant_ids(session, world.a, client, spec)
    b_ids = tenant_ids(session, world.b, client, spec)
    return world, a_ids, b_ids


