"""The walls between customers, checked on every endpoint the OpenAPI document lists.

For every path with ``{customer_id}`` and every method, an admin of customer A calls it
  * with customer B's ids (B's customer, B's site, member, door, ...),
  * with A's object ids nested under B's customer,
  * with B's object ids nested under A's customer (the case scoping must catch),
with a plausible valid body, and gets 404 every time; afterwards every row that mentions one
of B's ids is exactly as before. Paths without ``{customer_id}`` but with object ids
(``/doors/{door_id}/open``, ``/entries/{entry_id}/checkout``, ...) are called by a member of
A with B's ids. B's objects are made through the API itself (every collection POST whose
objects have their own path) and looked up by parameter name, so endpoints added later are
covered without editing this file.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import isolation
from tests.factories import World, bearer
from tests.isolation import OK
from tests.isolation import call as _call


@pytest.fixture
def spec(client):
    return isolation.openapi(client)


@pytest.fixture
def cast(client, session, world, spec):
    return isolation.make_cast(client, session, world, spec)


def _walled(client, method: str, path: str, params: dict[str, str], spec: dict[str, Any],
            op: dict[str, Any], headers: dict[str, str], body_ids: dict[str, str]) -> str | None:
    """None when the request is refused as if the ids did not exist: 404, or the very answer
    made-up ids get when the endpoint refuses this caller outright (401/403, e.g. a
    staff-only path). Otherwise a description of the leak."""
    r = _call(client, method, isolation.fill(path, params), spec, op, headers, body_ids)
    if r.status_code == 404:
        return None
    if r.status_code in (401, 403):
        made_up = {k: str(uuid.uuid4()) for k in isolation.path_params(path)}
        control = _call(client, method, isolation.fill(path, made_up), spec, op, headers,
                        body_ids)
        if (control.status_code, control.get_json(silent=True)) == (
                r.status_code, r.get_json(silent=True)):
            return None
    return f"{method.upper()} {path}: {r.status_code} {r.get_data(as_text=True)[:200]}"


def _b_ids(session, world: World) -> set[str]:
    session.commit()
    return isolation.owned_ids(session, world.b.customer.id,
                               {world.b.admin.id, world.b.worker.id})


def test_every_customer_path_is_walled(client, session, spec, cast):
    world, a_ids, b_ids = cast
    # The cast is real: the core kinds exist on both sides, with different ids.
    for key in ("customer_id", "site_id", "member_id", "entry_id"):
        assert a_ids[key] != b_ids[key], key
    b_owned = _b_ids(session, world)
    before = isolation.snapshot(session, b_owned)
    assert before["sites"] and before["memberships"] and before["customers"]

    headers = bearer(client, world.a.admin, device_id="a-admin-laptop")
    failures: list[str] = []
    checked = 0
    for path, method, op in isolation.operations(spec):
        if "{customer_id}" not in path:
            continue
        others = [p for p in isolation.path_params(path) if p != "customer_id"]
        cases = [("B's ids", {**b_ids}, b_ids)]
        if others:
            cases += [
                ("A's ids under B", {**a_ids, "customer_id": b_ids["customer_id"]}, a_ids),
                ("B's ids under A", {**b_ids, "customer_id": a_ids["customer_id"]}, a_ids),
            ]
        for label, path_ids, body_ids in cases:
            checked += 1
            leak = _walled(client, method, path, path_ids, spec, op, headers, body_ids)
            if leak:
                failures.append(f"{leak} ({label})")
    assert checked > 20, "the document lists suspiciously few customer paths"
    assert not failures, "\n".join(failures)
    assert isolation.snapshot(session, b_owned) == before


def test_bodies_naming_another_customers_objects_change_nothing(client, session, spec, cast):
    """A's admin on A's own paths, with B's ids inside the body (a site, doors, members):
    refused, and nothing of B's changes."""
    world, a_ids, b_ids = cast
    b_owned = _b_ids(session, world)
    before = isolation.snapshot(session, b_owned)
    headers = bearer(client, world.a.admin, device_id="a-admin-laptop")
    failures: list[str] = []
    tried: list[str] = []
    for path, method, op in isolation.operations(spec):
        if "{customer_id}" not in path or method not in ("post", "put", "patch"):
            continue
        body_ids = {**b_ids, "customer_id": a_ids["customer_id"]}
        parts = isolation.request_parts(spec, op, body_ids)
        mentioned = {str(v) for v in _flat(parts.get("json"))} & (set(b_ids.values())
                                                                  - {a_ids["customer_id"]})
        if not mentioned:
            continue
        url = isolation.fill(path, a_ids)
        tried.append(f"{method.upper()} {path}")
        r = getattr(client, method)(url, headers={**headers, **parts.pop("headers")}, **parts)
        if r.status_code in OK:
            failures.append(f"{method.upper()} {path}: {r.status_code} accepted B's "
                            f"{sorted(k for k, v in b_ids.items() if v in mentioned)}")
    # Doors, accesses, guests and credentials name sites, doors and members in their bodies.
    assert tried, "no operation takes another object's id in its body"
    assert not failures, "\n".join(failures)
    assert isolation.snapshot(session, b_owned) == before


def _flat(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _flat(v)]
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


def test_object_paths_outside_customers_are_walled(client, session, spec, cast):
    """``/doors/{door_id}/open``, ``/entries/{entry_id}/checkout``, ``/me/devices/{device_id}``
    ...: a member of A using B's ids gets 404, or the very answer a made-up id gets when the
    endpoint refuses the caller outright (e.g. support-only paths: 403 for any id)."""
    world, a_ids, b_ids = cast
    b_owned = _b_ids(session, world)
    before = isolation.snapshot(session, b_owned)
    headers = bearer(client, world.a.worker, device_id=f"phone-of-{world.a.worker.id}")
    failures: list[str] = []
    checked = 0
    for path, method, op in isolation.operations(spec):
        params = isolation.path_params(path)
        if "{customer_id}" in path or not params:
            continue
        known = [p for p in params if p in b_ids]
        if not known:
            continue
        checked += 1
        leak = _walled(client, method, path, b_ids, spec, op, headers, a_ids)
        if leak:
            failures.append(leak)
    assert checked >= 2
    assert not failures, "\n".join(failures)
    assert isolation.snapshot(session, b_owned) == before


def test_own_paths_work_so_the_404s_mean_something(client, spec, cast):
    """The same requests with A's ids under A reach A's objects: a 404 above is the wall,
    not a broken request."""
    world, a_ids, _ = cast
    headers = bearer(client, world.a.admin, device_id="a-admin-laptop")
    for path in ("/api/v1/customers/{customer_id}",
                 "/api/v1/customers/{customer_id}/sites/{site_id}",
                 "/api/v1/customers/{customer_id}/members",
                 "/api/v1/customers/{customer_id}/sites"):
        op = spec["paths"][path]["get"]
        r = _call(client, "get", isolation.fill(path, a_ids), spec, op, headers, a_ids)
        assert r.status_code == 200, path
    member = "/api/v1/customers/{customer_id}/members/{member_id}"
    r = _call(client, "patch", isolation.fill(member, a_ids), spec,
              spec["paths"][member]["patch"], headers, a_ids)
    assert r.status_code == 200, r.get_json()
