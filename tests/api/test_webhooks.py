"""Webhooks over HTTP: endpoints (secret shown once, never listed), SSRF refusals, signed
deliveries a receiver on localhost verifies, retries, the deliveries log, replay, and the
walls between customers."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from entryfy import clock, mail
from entryfy.ops import webhooks as ops
from entryfy.worker import Worker
from models import AuditEvent, WebhookDelivery, WebhookEndpoint
from tests.attendance import at_site, give_identity_number, key
from tests.factories import bearer
from tests.receiver import Receiver


@pytest.fixture
def private_ok(monkeypatch):
    monkeypatch.setenv("ENTRYFY_WEBHOOKS_ALLOW_PRIVATE", "1")


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def ah(client, world):
    return bearer(client, world.a.admin, device_id="admin-device-1")


def _create(client, world, ah, url, events=("entry.created",)):
    return client.post(f"/api/v1/customers/{world.a.customer.id}/webhooks",
                       json={"url": url, "events": list(events)}, headers=ah)


def _deliveries(session, made):
    return session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.endpoint_id == uuid.UUID(made["id"]))
        .order_by(WebhookDelivery.created_at)
        .execution_options(populate_existing=True)).all()


def _worker(app, database) -> Worker:
    return Worker(database, app.extensions["entryfy.mail"], run_jobs=False)


def test_create_shows_the_secret_once_and_lists_never(client, session, world, ah, private_ok,
                                                      receiver):
    r = _create(client, world, ah, receiver.url, ["entry.created", "member.created"])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["events"] == ["entry.created", "member.created"] and body["active"] is True
    base = f"/api/v1/customers/{world.a.customer.id}/webhooks"
    listed = client.get(base, headers=ah)
    one = client.get(f"{base}/{body['id']}", headers=ah)
    assert listed.status_code == 200 and one.status_code == 200
    for answer in (listed, one):
        text = answer.get_data(as_text=True)
        assert secret not in text and '"secret"' not in text
    assert [w["id"] for w in listed.get_json()["items"]] == [body["id"]]
    ep = session.get(WebhookEndpoint, uuid.UUID(body["id"]))
    assert ep.secret_enc.startswith("v1:") and secret not in ep.secret_enc
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.customer_id == world.a.customer.id,
        AuditEvent.object_id == body["id"])).all()
    assert actions == ["webhook.created"]
    assert client.delete(f"{base}/{body['id']}", headers=ah).status_code == 204
    assert client.get(f"{base}/{body['id']}", headers=ah).status_code == 404
    actions = session.scalars(select(AuditEvent.action).where(
        AuditEvent.customer_id == world.a.customer.id,
        AuditEvent.object_id == body["id"]).order_by(AuditEvent.seq)).all()
    assert actions == ["webhook.created", "webhook.deleted"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/hook",
    "http://192.168.0.10/hook", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook", "http://[fe80::1]/hook", "http://100.64.0.1/hook",
    "http://0.0.0.0/hook", "http://[::ffff:127.0.0.1]/hook",
])
def test_private_targets_are_refused(client, session, world, ah, url):
    r = _create(client, world, ah, url)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["type"].endswith("webhook-private-address")
    assert session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.customer_id == world.a.customer.id)).all() == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "https://user:pw@x.test/",
                                 "http:///nohost"])
def test_malformed_targets_are_400(client, world, ah, url):
    r = _create(client, world, ah, url)
    assert r.status_code == 400 and "url" in r.get_json()["errors"]


def test_unknown_event_type_is_400(client, world, ah, private_ok, receiver):
    r = _create(client, world, ah, receiver.url, ["entry.deleted"])
    assert r.status_code == 400 and "events" in r.get_json()["errors"]


def test_other_customers_and_non_admins_are_walled(client, world, ah, private_ok, receiver):
    made = _create(client, world, ah, receiver.url).get_json()
    bh = bearer(client, world.b.admin, device_id="admin-device-2")
    wh = bearer(client, world.a.worker, device_id="worker-device-1")
    a_base = f"/api/v1/customers/{world.a.customer.id}/webhooks"
    b_base = f"/api/v1/customers/{world.b.customer.id}/webhooks"
    assert client.get(a_base, headers=bh).status_code == 404
    assert client.get(f"{b_base}/{made['id']}", headers=bh).status_code == 404
    assert client.delete(f"{b_base}/{made['id']}", headers=bh).status_code == 404
    assert client.get(f"{b_base}/{made['id']}/deliveries", headers=bh).status_code == 404
    assert client.get(a_base, headers=wh).status_code == 403


def test_check_in_is_delivered_signed(app, client, session, database, world, private_ok,
                                      receiver, ah):
    secret = _create(client, world, ah, receiver.url).get_json()["secret"]
    give_identity_number(session, world.a.worker)
    h = bearer(client, world.a.worker)
    r = client.post("/api/v1/entries", json=at_site(world.a.site), headers={**h, **key()})
    assert r.status_code == 201
    entry_id = r.get_json()["id"]
    done = _worker(app, database).run_once()
    assert done["webhooks"] == {"delivered": 1}
    (headers, body), = receiver.received
    msg = Webhook(secret).verify(body, headers)
    assert msg["type"] == "entry.created"
    assert msg["data"]["id"] == entry_id
    assert msg["data"]["site_id"] == str(world.a.site.id)
    assert msg["data"]["member_id"] == str(world.a.worker_membership.id)
    # ids only: no name, e-mail or identity number of the person
    text = body.decode()
    for value in (world.a.worker.email, world.a.worker.first_name, world.a.worker.last_name):
        assert value not in text
    assert headers["webhook-signature"].startswith("v1,")
    # a wrong secret does not verify
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)


def test_no_webhook_no_outbox_row_on_check_in(client, session, world):
    give_identity_number(session, world.a.worker)
    h = bearer(client, world.a.worker)
    assert client.post("/api/v1/entries", json=at_site(world.a.site),
                       headers={**h, **key()}).status_code == 201
    assert session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.customer_id == world.a.customer.id)).all() == []


def test_a_500_is_retried_with_backoff_then_delivered(app, client, session, database, world,
                                                     private_ok, ah):
    rec = Receiver(statuses=(500, 200))
    try:
        made = _create(client, world, ah, rec.url, ["member.created"]).get_json()
        r = client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                        json={"email": "new.person@example.test", "role": "member"}, headers=ah)
        assert r.status_code == 201
        w = _worker(app, database)
        assert w.run_once()["webhooks"] == {"retry": 1}
        d, = _deliveries(session, made)
        assert (d.status, d.attempts, d.response_code, d.error) == ("pending", 1, 500, "http-500")
        # Not due yet: nothing sent.
        assert w.run_once()["webhooks"] == {}
        with clock.frozen_at(clock.now() + dt.timedelta(seconds=6)):
            assert w.run_once()["webhooks"] == {"delivered": 1}
        assert len(rec.received) == 2
        assert rec.received[0][0]["webhook-id"] == rec.received[1][0]["webhook-id"]
        log = client.get(f"/api/v1/customers/{world.a.customer.id}/webhooks/{made['id']}/"
                         "deliveries", headers=ah).get_json()["items"]
        assert [(x["status"], x["attempts"], x["response_code"]) for x in log] == [
            ("delivered", 2, 200)]
        assert log[0]["payload"]["data"]["id"] == r.get_json()["id"]
    finally:
        rec.close()


def test_retries_exhausted_disable_the_endpoint_and_mail_the_admins(
        app, client, session, database, world, private_ok, ah):
    rec = Receiver(statuses=(503,))
    try:
        made = _create(client, world, ah, rec.url, ["member.created"]).get_json()
        client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                    json={"email": "new.person@example.test", "role": "member"}, headers=ah)
        w = _worker(app, database)
        start = clock.now()
        for hours in range(0, 30):
            with clock.frozen_at(start + dt.timedelta(hours=hours, seconds=10)):
                w.run_once()
        assert len(rec.received) == 8  # the first try and seven retries, ~24 h in all
        ep = session.get(WebhookEndpoint, uuid.UUID(made["id"]), populate_existing=True)
        assert ep.active is False and ep.disabled_reason == "retries-exhausted"
        told = [m for m in mail.mailer().messages()
                if m["To"] == world.a.admin.email and "webhook was disabled" in m["Subject"]]
        assert len(told) == 1 and made["id"] in told[0].get_content()
        log = client.get(f"/api/v1/customers/{world.a.customer.id}/webhooks/{made['id']}/"
                         "deliveries", headers=ah).get_json()["items"]
        assert [(x["status"], x["attempts"], x["response_code"]) for x in log] == [
            ("failed", 8, 503)]
        # A disabled endpoint takes no replay and gets no new events.
        r = client.post(f"/api/v1/customers/{world.a.customer.id}/webhooks/{made['id']}/"
                        f"deliveries/{log[0]['id']}/replay", headers=ah)
        assert r.status_code == 422
        client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                    json={"email": "second.person@example.test", "role": "member"}, headers=ah)
        assert len(session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(made["id"]))).all()) == 1
    finally:
        rec.close()


def test_replay_sends_the_same_message_again(app, client, session, database, world,
                                             private_ok, receiver, ah):
    made = _create(client, world, ah, receiver.url, ["member.created"]).get_json()
    client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                json={"email": "new.person@example.test", "role": "member"}, headers=ah)
    w = _worker(app, database)
    w.run_once()
    base = f"/api/v1/customers/{world.a.customer.id}/webhooks/{made['id']}/deliveries"
    first = client.get(base, headers=ah).get_json()["items"][0]
    r = client.post(f"{base}/{first['id']}/replay", headers=ah)
    assert r.status_code == 202
    assert r.get_json()["replay_of_id"] == first["id"] and r.get_json()["status"] == "pending"
    w.run_once()
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]
    assert receiver.received[0][0]["webhook-id"] == receiver.received[1][0]["webhook-id"]
    Webhook(made["secret"]).verify(receiver.received[1][1], receiver.received[1][0])
    bh = bearer(client, world.b.admin, device_id="admin-device-2")
    other = f"/api/v1/customers/{world.b.customer.id}/webhooks/{made['id']}/deliveries"
    assert client.post(f"{other}/{first['id']}/replay", headers=bh).status_code == 404


def test_a_rolled_back_request_sends_nothing(app, client, session, database, world,
                                             private_ok, receiver, ah, monkeypatch):
    """The member add queues a member.created event, then fails: nothing leaves the
    transaction (mail: tests/entryfy/test_worker.py)."""
    _create(client, world, ah, receiver.url, ["member.created"])
    from entryfy.errors import Conflict
    from entryfy.ops import customers

    def refuse(*a, **kw):
        raise Conflict("refused for the test", slug="test-refusal")

    monkeypatch.setattr(customers.audit, "record", refuse)
    before = len(mail.mailer().messages())
    r = client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                    json={"email": "never.invited@example.test", "role": "member"}, headers=ah)
    assert r.status_code == 409
    assert session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.customer_id == world.a.customer.id)).all() == []
    _worker(app, database).run_once()
    assert receiver.received == []
    assert len(mail.mailer().messages()) == before


def test_delivery_rechecks_the_address(app, client, session, database, world, private_ok,
                                       receiver, ah, monkeypatch):
    """Allowed when made (ENTRYFY_WEBHOOKS_ALLOW_PRIVATE=1), refused at delivery once the
    setting is off: the check runs again for every attempt (DNS can change)."""
    made = _create(client, world, ah, receiver.url, ["member.created"]).get_json()
    client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                json={"email": "new.person@example.test", "role": "member"}, headers=ah)
    monkeypatch.delenv("ENTRYFY_WEBHOOKS_ALLOW_PRIVATE")
    assert _worker(app, database).run_once()["webhooks"] == {"retry": 1}
    assert receiver.received == []
    d, = _deliveries(session, made)
    assert (d.error, d.response_code) == ("private-address", None)


def test_redirects_are_not_followed(app, client, session, database, world, private_ok, ah):
    rec = Receiver(statuses=(302,), headers={"Location": "http://169.254.169.254/"})
    try:
        made = _create(client, world, ah, rec.url, ["member.created"]).get_json()
        client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                    json={"email": "new.person@example.test", "role": "member"}, headers=ah)
        assert _worker(app, database).run_once()["webhooks"] == {"retry": 1}
        assert len(rec.received) == 1
        d = session.scalar(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(made["id"])))
        assert (d.response_code, d.error) == (302, "http-302")
    finally:
        rec.close()


def test_checkout_and_door_events_are_emitted(client, session, world, private_ok, receiver,
                                              ah):
    made = _create(client, world, ah, receiver.url,
                   ["entry.created", "entry.checked_out"]).get_json()
    give_identity_number(session, world.a.worker)
    h = bearer(client, world.a.worker)
    entry = client.post("/api/v1/entries", json=at_site(world.a.site),
                        headers={**h, **key()}).get_json()
    r = client.post(f"/api/v1/entries/{entry['id']}/checkout", json={}, headers=h)
    assert r.status_code == 200
    rows = _deliveries(session, made)
    assert sorted(d.event_type for d in rows) == ["entry.checked_out", "entry.created"]
    out = next(json.loads(d.payload) for d in rows if d.event_type == "entry.checked_out")
    assert out["data"]["id"] == entry["id"] and out["data"]["checked_out_at"]


def test_sign_matches_the_standard(world):
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    at = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    h = ops.sign(secret, "msg_1", at, '{"a":1}')
    assert h["webhook-id"] == "msg_1" and h["webhook-timestamp"] == str(int(at.timestamp()))
    assert Webhook(secret).sign("msg_1", at, '{"a":1}') == h["webhook-signature"]


def test_door_openings_are_emitted_granted_and_refused(client, session, world, private_ok,
                                                       receiver, ah):
    from tests import doorkit

    made = _create(client, world, ah, receiver.url, ["access_event.created"]).get_json()
    door = doorkit.door(session, world.a.site)
    doorkit.access(session, [door], [world.a.worker_membership], ["app"])
    h = bearer(client, world.a.worker)
    ok = client.post(f"/api/v1/doors/{door.id}/open", headers=h, json=doorkit.INSIDE)
    no = client.post(f"/api/v1/doors/{door.id}/open", headers=h, json=doorkit.OUTSIDE)
    assert (ok.status_code, no.status_code) == (200, 403)
    sent = {json.loads(d.payload)["data"]["id"]: json.loads(d.payload)["data"]
            for d in _deliveries(session, made)}
    assert sent[ok.get_json()["event_id"]]["outcome"] == "granted"
    assert sent[no.get_json()["event_id"]]["outcome"] == "denied"
    assert sent[no.get_json()["event_id"]]["reason"] == "outside_geofence"
    assert sent[ok.get_json()["event_id"]]["door_id"] == str(door.id)


def _statements_of_a_check_in(client, database, site, h):
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        r = client.post("/api/v1/entries", json=at_site(site), headers={**h, **key()})
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert r.status_code == 201, r.get_json()
    client.post(f"/api/v1/entries/{r.get_json()['id']}/checkout", json={}, headers=h)
    # The token's last use is written now and then (throttled), not per check-in.
    return [s for s in seen if not s.startswith(("SAVEPOINT", "RELEASE",
                                                   "UPDATE access_tokens SET last_used_at"))]


def test_check_in_statement_count_does_not_creep_without_a_webhook(
        client, session, database, world, private_ok, receiver, ah):
    """The hot path: no webhook for entry.created costs no statement (the lookup answers it);
    one costs one INSERT ... SELECT."""
    give_identity_number(session, world.a.worker)
    h = bearer(client, world.a.worker)
    bare = _statements_of_a_check_in(client, database, world.a.site, h)
    _create(client, world, ah, receiver.url, ["member.created"])  # another event type
    other = _statements_of_a_check_in(client, database, world.a.site, h)
    _create(client, world, ah, receiver.url, ["entry.created"])
    hooked = _statements_of_a_check_in(client, database, world.a.site, h)
    assert len(other) == len(bare), (bare, other)
    assert len(hooked) == len(bare) + 1
    assert sum("webhook_deliveries" in s for s in hooked) == 1
    assert not any("webhook_deliveries" in s for s in bare + other)


def test_dns_rebinding_is_caught_at_delivery(app, client, session, database, world, ah,
                                             monkeypatch):
    """The host resolved to a public address when the webhook was made and to loopback at
    delivery: the delivery is refused, nothing is sent."""
    import socket

    from entryfy import netguard

    answers = {"now": "93.184.215.14"}

    def fake_getaddrinfo(host, port, *a, **kw):
        assert host == "hooks.customer.example"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers["now"], port))]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", fake_getaddrinfo)
    made = _create(client, world, ah, "https://hooks.customer.example/in", ["member.created"])
    assert made.status_code == 201, made.get_json()
    client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                json={"email": "new.person@example.test", "role": "member"}, headers=ah)
    answers["now"] = "127.0.0.1"
    assert _worker(app, database).run_once()["webhooks"] == {"retry": 1}
    d, = _deliveries(session, made.get_json())
    assert (d.error, d.response_code) == ("private-address", None)


def test_a_slow_receiver_times_out(app, client, session, database, world, private_ok, ah,
                                   monkeypatch):
    from entryfy import netguard

    monkeypatch.setattr(netguard, "TIMEOUT_S", 0.3)
    rec = Receiver(delay_s=2.0)
    try:
        made = _create(client, world, ah, rec.url, ["member.created"]).get_json()
        client.post(f"/api/v1/customers/{world.a.customer.id}/members",
                    json={"email": "new.person@example.test", "role": "member"}, headers=ah)
        assert _worker(app, database).run_once()["webhooks"] == {"retry": 1}
        d, = _deliveries(session, made)
        assert (d.error, d.response_code) == ("timeout", None)
    finally:
        rec.close()


def test_the_registry_names_webhook_receivers_as_recipients(client):
    body = client.get("/api/v1/privacy/processing-activities").get_json()
    text = json.dumps(body)
    assert "Receivers of webhooks chosen by the customer" in text
    assert "webhook_log" in text
