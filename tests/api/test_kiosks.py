"""Kiosks: made by admins (token once, hashed, revocable, audited), checking people in and
out by identity number or ID06 card, one refusal that tells nobody who exists, a PIN where
the kiosk asks for one, throttled per kiosk."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock, security
from entryfy.ops import doors as door_ops
from models import AuditEvent, Entry, Kiosk, Membership
from tests.attendance import give_identity_number, personnummer
from tests.factories import bearer

T0 = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)


def problem(r, status: int, slug: str | None = None) -> dict:
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    if slug:
        assert body["type"].endswith("/" + slug), body
    return body


def kiosks_url(t) -> str:
    return f"/api/v1/customers/{t.customer.id}/sites/{t.site.id}/kiosks"


def make_kiosk(client, t, **kw) -> dict:
    r = client.post(kiosks_url(t), headers=bearer(client, t.admin, device_id="admin-kiosk-phone"),
                    json={"name": "Gate tablet", **kw})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def kh(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def number(session, world):
    return give_identity_number(session, world.a.worker, personnummer("19900315", "123"))


def test_an_admin_makes_a_kiosk_whose_token_is_shown_once(client, session, world):
    body = make_kiosk(client, world.a)
    assert body["token"].startswith("kiosk_") and len(body["token"]) > 40
    k = session.get(Kiosk, uuid.UUID(body["id"]))
    assert k.token_hash == security.sha256_hex(body["token"])
    h = bearer(client, world.a.admin, device_id="admin-kiosk-phone")
    listed = client.get(kiosks_url(world.a), headers=h).get_json()
    assert [i["id"] for i in listed] == [body["id"]]
    assert "token" not in listed[0]
    ev = session.scalars(select(AuditEvent).where(AuditEvent.action == "kiosk.created")).all()
    assert [(e.actor_id, e.object_id) for e in ev] == [(world.a.admin.id, body["id"])]


def test_only_admins_make_kiosks_and_only_for_their_sites(client, world):
    r = client.post(kiosks_url(world.a), headers=bearer(client, world.a.worker),
                    json={"name": "x"})
    problem(r, 403)
    r = client.post(f"/api/v1/customers/{world.a.customer.id}/sites/{world.b.site.id}/kiosks",
                    headers=bearer(client, world.a.admin), json={"name": "x"})
    problem(r, 404)


def test_check_in_and_out_by_identity_number(client, session, world, number):
    token = make_kiosk(client, world.a)["token"]
    with clock.frozen_at(T0):
        r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                        json={"identity_number": number, "direction": "in"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["source"], body["site_id"], body["checked_in_at"]) == (
        "kiosk", str(world.a.site.id), "2026-11-02T07:00:00+00:00")
    e = session.get(Entry, uuid.UUID(body["id"]))
    assert (e.account_id, e.membership_id, e.employer_name) == (
        world.a.worker.id, world.a.worker_membership.id, "Sub AB")
    # The 10-digit form of the same number finds the same person; in twice is the same entry.
    again = client.post("/api/v1/kiosk/entries", headers=kh(token),
                        json={"identity_number": number[2:], "direction": "in"})
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    with clock.frozen_at(T0 + dt.timedelta(hours=8)):
        out = client.post("/api/v1/kiosk/entries", headers=kh(token),
                          json={"identity_number": number, "direction": "out"})
    assert out.status_code == 200
    assert out.get_json()["checked_out_at"] == "2026-11-02T15:00:00+00:00"
    # Out again: not checked in, and the kiosk says no more than for a stranger.
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "out"})
    problem(r, 422, "kiosk-not-recognised")


def test_check_in_by_id06_card(client, session, world, number):
    a = world.a
    h = bearer(client, a.admin, device_id="admin-kiosk-phone")
    r = client.put(f"/api/v1/customers/{a.customer.id}/members/{a.worker_membership.id}"
                   "/id06-card", headers=h, json={"card_number": "0042-1234-5678"})
    assert r.status_code == 204, r.get_json()
    m = session.get(Membership, a.worker_membership.id)
    session.refresh(m)
    assert m.id06_card_hash == security.keys().keyed_hash("id06-card", "004212345678")
    token = make_kiosk(client, a)["token"]
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"card_number": "004212345678", "direction": "in"})
    assert r.status_code == 201 and r.get_json()["source"] == "kiosk"
    # The same card for someone else of the customer: refused.
    r = client.put(f"/api/v1/customers/{a.customer.id}/members/{a.admin_membership.id}"
                   "/id06-card", headers=h, json={"card_number": "0042 1234 5678"})
    problem(r, 409, "card-taken")
    # Another customer's member: 404.
    r = client.put(f"/api/v1/customers/{a.customer.id}/members/"
                   f"{world.b.worker_membership.id}/id06-card", headers=h,
                   json={"card_number": "1111"})
    problem(r, 404)


def test_one_refusal_for_everyone_not_recognised(client, session, make, world, number):
    a = world.a
    token = make_kiosk(client, a)["token"]
    # B's worker: a real person with a number, but not a member of A.
    b_number = give_identity_number(session, world.b.worker, personnummer("19800101", "555"))
    inactive = make.account()
    inactive_number = give_identity_number(session, inactive, personnummer("19700101", "777"))
    make.membership(a.customer, inactive, "member", active=False)
    guest = make.account()
    guest_number = give_identity_number(session, guest, personnummer("19750505", "888"))
    make.membership(a.customer, guest, "guest")
    bodies = []
    for payload in ({"identity_number": personnummer("19600101", "999")},  # nobody's
                    {"identity_number": b_number}, {"identity_number": inactive_number},
                    {"identity_number": guest_number}, {"card_number": "DEADBEEF"},
                    {"identity_number": number, "pin": "1234"}):  # a wrong PIN
        r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                        json={**payload, "direction": "in"})
        bodies.append(problem(r, 422, "kiosk-not-recognised"))
    assert all(b == bodies[0] for b in bodies), bodies
    assert session.scalar(select(Entry.id)) is None


def test_refusals_look_alike_and_the_admins_see_why(client, app, session, make, world,
                                                    number):
    """Unknown, not a member, not checked in, a wrong PIN: the same status and body, the same
    statements run (the timing class), and one audit record each that tells the admins which
    it was, with the person only when recognised and never the number typed."""
    from sqlalchemy import event

    a = world.a
    token = make_kiosk(client, a)["token"]
    b_number = give_identity_number(session, world.b.worker, personnummer("19800101", "555"))
    _cred, pin = door_ops.issue_pin(session, a.worker_membership, site_id=a.site.id)
    session.commit()
    wrong = f"{(int(pin) + 1) % 10 ** len(pin):0{len(pin)}d}"
    engine = app.extensions["entryfy.db"].engine
    cases = {
        "unknown": {"identity_number": personnummer("19600101", "999"), "direction": "out"},
        "not a member": {"identity_number": b_number, "direction": "out"},
        "not checked in": {"identity_number": number, "direction": "out"},
        "unknown card": {"card_number": "DEADBEEF", "direction": "out"},
        "unknown, a PIN": {"identity_number": personnummer("19600101", "999"),
                           "direction": "in", "pin": wrong},
        "wrong PIN": {"identity_number": number, "direction": "in", "pin": wrong},
    }
    answers, statements = {}, {}
    for name, payload in cases.items():
        seen: list[str] = []

        def count(_c, _cur, stmt, *_a, seen=seen):  # type: ignore[no-untyped-def]
            seen.append(stmt)
        event.listen(engine, "before_cursor_execute", count)
        try:
            r = client.post("/api/v1/kiosk/entries", headers=kh(token), json=payload)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        body = problem(r, 422, "kiosk-not-recognised")
        answers[name] = (r.status_code, body, sorted(r.headers.keys()))
        statements[name] = len(seen)
    first = answers["unknown"]
    assert all(v == first for v in answers.values()), answers
    assert len({statements[n] for n in ("unknown", "not a member", "not checked in",
                                        "unknown card")}) == 1, statements
    assert statements["unknown, a PIN"] == statements["wrong PIN"], statements
    refused = session.scalars(select(AuditEvent).where(
        AuditEvent.action.like("kiosk.refused.%")).order_by(AuditEvent.seq)).all()
    assert [(e.action, e.subject_id, e.object_type, e.customer_id) for e in refused] == [
        ("kiosk.refused.not_recognised", None, "kiosk", a.customer.id),
        ("kiosk.refused.not_recognised", None, "kiosk", a.customer.id),
        ("kiosk.refused.not_checked_in", a.worker.id, "kiosk", a.customer.id),
        ("kiosk.refused.not_recognised", None, "kiosk", a.customer.id),
        ("kiosk.refused.not_recognised", None, "kiosk", a.customer.id),
        ("kiosk.refused.wrong_pin", a.worker.id, "kiosk", a.customer.id),
    ]
    assert session.scalar(select(Entry.id)) is None


def test_a_kiosk_that_asks_for_a_pin(client, session, make, world, number):
    a = world.a
    token = make_kiosk(client, a, require_pin=True)["token"]
    # PINs are per site: the worker's PIN for another site of the customer opens nothing here.
    other = make.site(a.customer)
    _cred, other_pin = door_ops.issue_pin(session, a.worker_membership, site_id=other.id)
    _cred, pin = door_ops.issue_pin(session, a.worker_membership, site_id=a.site.id)
    session.commit()
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "in"})
    problem(r, 422, "kiosk-not-recognised")
    if other_pin != pin:
        r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                        json={"identity_number": number, "direction": "in", "pin": other_pin})
        problem(r, 422, "kiosk-not-recognised")
    wrong = f"{(int(pin) + 1) % 10 ** len(pin):0{len(pin)}d}"
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "in", "pin": wrong})
    problem(r, 422, "kiosk-not-recognised")
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "in", "pin": pin})
    assert r.status_code == 201, r.get_json()


def test_tokens_that_do_not_work(client, session, world, number):
    a = world.a
    made = make_kiosk(client, a)
    for headers in ({}, kh("kiosk_" + "x" * 43), kh(made["token"] + "x"),
                    bearer(client, a.worker)):
        r = client.post("/api/v1/kiosk/entries", headers=headers,
                        json={"identity_number": number, "direction": "in"})
        problem(r, 401, "kiosk-token-invalid")
    h = bearer(client, a.admin, device_id="admin-kiosk-phone")
    r = client.delete(f"{kiosks_url(a)}/{made['id']}", headers=h)
    assert r.status_code == 204
    r = client.delete(f"{kiosks_url(a)}/{made['id']}", headers=h)
    assert r.status_code == 204
    r = client.post("/api/v1/kiosk/entries", headers=kh(made["token"]),
                    json={"identity_number": number, "direction": "in"})
    problem(r, 401, "kiosk-token-invalid")
    ev = session.scalars(select(AuditEvent).where(AuditEvent.action == "kiosk.revoked")).all()
    assert [e.object_id for e in ev] == [made["id"]]
    # Another customer's admin cannot revoke it (404).
    other = make_kiosk(client, a)
    r = client.delete(f"/api/v1/customers/{world.b.customer.id}/sites/{world.b.site.id}"
                      f"/kiosks/{other['id']}", headers=bearer(client, world.b.admin))
    problem(r, 404)


def test_bad_bodies(client, world, number):
    token = make_kiosk(client, world.a)["token"]
    for body in ({"direction": "in"},
                 {"identity_number": number, "card_number": "1234", "direction": "in"},
                 {"identity_number": number, "direction": "sideways"},
                 {"identity_number": number, "direction": "in", "extra": 1}):
        problem(client.post("/api/v1/kiosk/entries", headers=kh(token), json=body), 400)


def test_throttled_per_kiosk(client, app, world, number):
    token = make_kiosk(client, world.a)["token"]
    other = make_kiosk(client, world.a)["token"]
    app.config["KIOSK_LIMIT"] = "3 per minute"
    try:
        codes = [client.post("/api/v1/kiosk/entries", headers=kh(token),
                             json={"card_number": "ABCD", "direction": "in"}).status_code
                 for _ in range(4)]
        assert codes == [422, 422, 422, 429]
        r = client.post("/api/v1/kiosk/entries", headers=kh(other),
                        json={"card_number": "ABCD", "direction": "in"})
        assert r.status_code == 422
    finally:
        app.config.pop("KIOSK_LIMIT")


def test_numbers_stored_before_kiosks_are_found_after_the_backfill(client, session,
                                                                   world, number):
    from models import Account

    acc = session.get(Account, world.a.worker.id)
    acc.identity_number_hash = None  # as migration 0016 leaves an older number
    session.commit()
    token = make_kiosk(client, world.a)["token"]
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "in"})
    problem(r, 422, "kiosk-not-recognised")
    from entryfy.ops import identity

    assert identity.backfill_lookup_hashes(session) == 1
    assert identity.backfill_lookup_hashes(session) == 0
    session.commit()
    r = client.post("/api/v1/kiosk/entries", headers=kh(token),
                    json={"identity_number": number, "direction": "in"})
    assert r.status_code == 201, r.get_json()
