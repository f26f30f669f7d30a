"""GET /privacy/processing-activities (public) and a customer's audit trail (its admins)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from entryfy import clock
from privacy import audit, registry
from tests.factories import bearer

UTC = dt.UTC


def test_processing_activities_is_public_and_complete(client):
    r = client.get("/api/v1/privacy/processing-activities")
    assert r.status_code == 200
    body = r.get_json()
    assert set(body) == {"controller", "processor", "retention_rules"}
    c, p = body["controller"], body["processor"]
    assert c["role"] == "controller" and p["role"] == "processor"
    assert c["controller"]["dpo"] and c["security_measures"] and c["rights"]
    keys = {x["key"] for x in c["purposes"]} | {x["key"] for x in p["purposes"]}
    assert keys == {x.key for x in registry.purposes()}
    ledger = next(x for x in p["purposes"] if x["key"] == "personnel_ledger")
    assert ledger["legal_basis"] == "legal_obligation"
    assert ledger["retention"]["legal_hold"] is True
    assert ledger["retention"]["period"] == "P2Y"
    assert ledger["retention"]["anchor"] == "end_of_calendar_year"
    assert any("Skatteverket" in rec for rec in ledger["recipients"])
    for purpose in c["purposes"] + p["purposes"]:
        assert {"key", "title", "description", "controller", "legal_basis", "data_categories",
                "data_subjects", "recipients", "transfers", "transfers_note",
                "retention"} <= set(purpose)
        assert purpose["data_categories"] and purpose["data_subjects"]
        assert purpose["transfers"] or purpose["transfers_note"]
    news = next(x for x in c["purposes"] if x["key"] == "newsletter")
    assert news["legal_basis"] == "consent"
    support = next(x for x in body["retention_rules"] if x["key"] == "support_case")
    assert support["period"] == "P28D" and support["anchor"] == "closed_at"


def test_processing_activities_is_documented_as_public(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/privacy/processing-activities"]["get"]
    assert op["security"] == []


@pytest.fixture
def trail(session, world):
    a, b = world.a, world.b
    t0 = dt.datetime(2027, 3, 1, tzinfo=UTC)
    for i in range(5):
        with clock.frozen_at(t0 + dt.timedelta(days=i)):
            audit.record(session, action="member.read" if i % 2 == 0 else "entry.corrected",
                         customer_id=a.customer.id, actor_id=a.admin.id if i < 3 else None,
                         actor_role="admin", object_type="membership",
                         object_id=uuid.uuid4(), subject_id=a.worker.id)
    audit.record(session, action="member.read", customer_id=b.customer.id,
                 actor_id=b.admin.id)
    session.commit()
    return world


def _url(customer, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return f"/api/v1/customers/{customer.id}/audit-events" + (f"?{qs}" if qs else "")


def test_admins_page_through_their_trail(client, trail):
    a = trail.a
    h = bearer(client, a.admin)
    r = client.get(_url(a.customer, limit=2), headers=h)
    assert r.status_code == 200, r.get_json()
    page = r.get_json()
    assert [e["seq"] for e in page["items"]] == [5, 4]
    seen = [e["seq"] for e in page["items"]]
    while page["next_cursor"]:
        page = client.get(_url(a.customer, limit=2, cursor=page["next_cursor"]),
                          headers=h).get_json()
        seen += [e["seq"] for e in page["items"]]
    assert seen == [5, 4, 3, 2, 1]
    ev = client.get(_url(a.customer, limit=1), headers=h).get_json()["items"][0]
    assert set(ev) >= {"id", "seq", "occurred_at", "actor_id", "action", "subject_id", "hash",
                       "prev_hash"}


def test_filters(client, trail):
    a = trail.a
    h = bearer(client, a.admin)
    items = client.get(_url(a.customer, action="entry.corrected"), headers=h).get_json()["items"]
    assert [e["seq"] for e in items] == [4, 2]
    items = client.get(_url(a.customer, actor=a.admin.id), headers=h).get_json()["items"]
    assert [e["seq"] for e in items] == [3, 2, 1]
    items = client.get(_url(a.customer, **{"from": "2027-03-02T00:00:00Z",
                                           "to": "2027-03-04T00:00:00Z"}),
                       headers=h).get_json()["items"]
    assert [e["seq"] for e in items] == [3, 2]


def test_only_that_customers_admins(client, trail):
    a, b = trail.a, trail.b
    assert client.get(_url(a.customer), headers=bearer(client, a.worker)).status_code == 403
    r = client.get(_url(a.customer), headers=bearer(client, b.admin))
    assert r.status_code == 404
    assert client.get(_url(a.customer)).status_code == 401
    items = client.get(_url(b.customer), headers=bearer(client, b.admin)).get_json()["items"]
    assert len(items) == 1


@pytest.mark.parametrize("query", [
    "from=2027-03-02T00:00:00",            # no time zone
    "from=yesterday",
    "actor=not-a-uuid",
    "limit=0", "limit=1000",
    "cursor=!!!",
    "bogus=1",
    "from=2027-03-04T00:00:00Z&to=2027-03-02T00:00:00Z",
])
def test_bad_queries_are_400(client, trail, query):
    a = trail.a
    r = client.get(f"/api/v1/customers/{a.customer.id}/audit-events?{query}",
                   headers=bearer(client, a.admin))
    assert r.status_code == 400, (query, r.get_json())
    assert r.mimetype == "application/problem+json"
