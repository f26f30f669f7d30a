"""What an opening from the phone records (``attempt``), field by field, and the decision's
smaller choices with literal values: which method a refusal reports, the guest-QR channel, a
PIN of another site, the door's own position, the evacuation's method, the webhook payload
of an attempt, and the ledger passage at a site entrance."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

import pytest
from sqlalchemy import select

from entryfy import clock
from entryfy.errors import Conflict, NotFound, Unprocessable
from entryfy.ops import doors as ops
from entryfy.ops import webhooks
from entryfy.ops.doors import credentials
from entryfy.ops.doors import decision as decision_module
from entryfy.ops.doors.credentials import credential_hash
from models import (
    AccessEvent,
    AuditEvent,
    DoorCredential,
    Entry,
    Lockdown,
    Membership,
    PassbackState,
    UnlockCommand,
    WebhookDelivery,
)
from tests import doorkit

UTC = dt.UTC
AT = dt.datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # a Monday, 12:00 in Stockholm
NOW = dt.datetime(2026, 6, 15, 10, 0, 7, tzinfo=UTC)  # when the server records it
HERE = ops.Position(59.33, 18.06, 10)  # the factory site: 59.33, 18.06, radius 200 m
FAR = ops.Position(59.40, 18.06, 10)  # ~7.8 km north


@pytest.fixture
def setup(app, session, world):  # type: ignore[no-untyped-def]
    a = world.a
    door = doorkit.door(session, a.site)
    acc = doorkit.access(session, [door], [a.worker_membership], ["app"])
    return a, door, acc


def _decide(session, membership, door, channel="app", **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("at", AT)
    kw.setdefault("position", HERE)
    return ops.decide(session, membership=membership, door=door, channel=channel, **kw)


def _attempt(session, membership, door, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("channel", "app")
    kw.setdefault("position", HERE)
    kw.setdefault("at", AT)
    with clock.frozen_at(NOW):
        return ops.attempt(session, membership=membership, door=door, **kw)


def _listen(session, monkeypatch, customer_id):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(webhooks, "_check_target", lambda url: None)
    webhooks.create_endpoint(session, customer_id, url="https://hooks.example.test/in",
                             events=["access_event.created"], actor_id=None)
    session.flush()


# -- attempt: the event row, the unlock command, the webhook ---------------------------------


def test_a_granted_attempt_records_every_field(session, setup):
    a, door, _ = setup
    m = a.worker_membership
    ctl, _ = ops.create_controller(session, customer_id=a.customer.id, name="Reader 1")
    door.controller_id = ctl.id
    session.flush()
    decision, ev = _attempt(session, m, door, direction="in")
    assert (decision.granted, decision.reason, decision.method) == (True, None, "app")
    session.expire_all()
    row = session.get(AccessEvent, ev.id)
    assert row.customer_id == a.customer.id
    assert row.occurred_at == AT and row.recorded_at == NOW
    assert (row.door_id, row.membership_id, row.account_id) == (door.id, m.id, a.worker.id)
    assert (row.method, row.direction, row.outcome, row.reason, row.source) == (
        "app", "in", "granted", None, "app")
    (cmd,) = session.scalars(select(UnlockCommand)).all()
    assert (cmd.customer_id, cmd.controller_id, cmd.door_id, cmd.event_id) == (
        a.customer.id, ctl.id, door.id, ev.id)
    assert cmd.expires_at == AT + dt.timedelta(seconds=60)


def test_a_refused_attempt_records_the_reason_and_the_channels_first_method(session, setup):
    a, door, _ = setup
    m = a.worker_membership
    ctl, _ = ops.create_controller(session, customer_id=a.customer.id, name="Reader 1")
    door.controller_id = ctl.id
    session.flush()
    # No access allows a scan: no method was judged, so the event names the channel's first.
    decision, ev = _attempt(session, m, door, channel="scan", direction="out")
    assert (decision.granted, decision.reason, decision.method) == (
        False, "method_not_allowed", None)
    session.expire_all()
    row = session.get(AccessEvent, ev.id)
    assert (row.method, row.direction, row.outcome, row.reason, row.source) == (
        "qr", "out", "denied", "method_not_allowed", "app")
    assert session.scalars(select(UnlockCommand)).all() == []


def test_a_refusal_with_a_method_records_that_method(session, setup):
    a, door, acc = setup
    acc.methods = ["app_pin"]
    session.flush()
    decision, ev = _attempt(session, a.worker_membership, door)
    assert (decision.granted, decision.reason, decision.method) == (
        False, "pin_required", "app_pin")
    assert (ev.method, ev.outcome, ev.reason) == ("app_pin", "denied", "pin_required")


def test_attempt_defaults_to_the_clock_now(session, setup):
    a, door, _ = setup
    with clock.frozen_at(NOW):
        _, ev = ops.attempt(session, membership=a.worker_membership, door=door,
                            channel="app", position=HERE)
    assert ev.occurred_at == NOW and ev.recorded_at == NOW


def test_the_webhook_payload_of_an_attempt(session, setup, monkeypatch):
    a, door, _ = setup
    m = a.worker_membership
    _listen(session, monkeypatch, a.customer.id)
    _, ev = _attempt(session, m, door, direction="in")
    (delivery,) = session.scalars(select(WebhookDelivery)).all()
    assert delivery.event_type == "access_event.created"
    body = json.loads(delivery.payload)
    assert body["type"] == "access_event.created"
    assert body["data"] == {
        "id": str(ev.id), "door_id": str(door.id), "member_id": str(m.id),
        "occurred_at": "2026-06-15T10:00:00Z", "outcome": "granted", "reason": None,
        "method": "app", "direction": "in", "source": "app",
    }


def test_a_soft_anti_passback_grant_is_recorded_with_its_warning(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    acc.anti_passback = "soft"
    session.add(PassbackState(customer_id=a.customer.id, membership_id=m.id,
                              site_id=a.site.id, entered_at=AT - dt.timedelta(hours=1)))
    session.flush()
    decision, ev = _attempt(session, m, door, direction="in")
    assert (decision.granted, decision.method, decision.warning, decision.anti_passback) == (
        True, "app", "anti_passback", "soft")
    assert (ev.outcome, ev.reason) == ("granted", "anti_passback")


def test_a_granted_entry_is_noted_for_anti_passback_only_where_a_rule_applies(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    _attempt(session, m, door, direction="in")
    assert session.scalars(select(PassbackState)).all() == []
    acc.anti_passback = "hard"
    session.flush()
    decision, _ = _attempt(session, m, door, direction="in")
    assert (decision.granted, decision.anti_passback) == (True, "hard")
    (state,) = session.scalars(select(PassbackState)).all()
    assert (state.membership_id, state.site_id, state.entered_at) == (m.id, a.site.id, AT)
    # In again without having left: refused, and the refusal is recorded as such.
    again, ev = _attempt(session, m, door, direction="in", at=AT + dt.timedelta(minutes=5))
    assert (again.granted, again.reason, again.method) == (False, "anti_passback", "app")
    assert (ev.outcome, ev.reason) == ("denied", "anti_passback")


def test_a_site_entrance_registers_the_passage_in_the_ledger(session, setup):
    a, _, _ = setup
    m = a.worker_membership
    gate = doorkit.door(session, a.site, name="Gate", site_entrance=True)
    doorkit.access(session, [gate], [m], ["app"], name="Gate access")
    plain = doorkit.door(session, a.site, name="Office")
    doorkit.access(session, [plain], [m], ["app"], name="Office access")
    # A plain door, and a gate without a direction, register nothing.
    _attempt(session, m, plain, direction="in")
    _attempt(session, m, gate)
    assert session.scalars(select(Entry)).all() == []
    _attempt(session, m, gate, direction="in")
    (entry,) = session.scalars(select(Entry)).all()
    assert (entry.account_id, entry.site_id, entry.checked_in_at, entry.source) == (
        a.worker.id, a.site.id, AT, "door")
    assert entry.checked_out_at is None
    # A refused passage out changes nothing; the granted one closes the shift.
    _attempt(session, m, gate, direction="out", position=FAR,
             at=AT + dt.timedelta(hours=8))
    session.expire_all()
    assert session.get(Entry, entry.id).checked_out_at is None
    _attempt(session, m, gate, direction="out", at=AT + dt.timedelta(hours=8))
    session.expire_all()
    assert session.get(Entry, entry.id).checked_out_at == AT + dt.timedelta(hours=8)


# -- decide: the smaller choices -------------------------------------------------------------


def test_each_refusal_reports_the_method_it_was_judged_as(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    acc.methods = ["app_pin"]
    session.flush()
    pin = doorkit.pin_for(session, m)
    wrong = f"{(int(pin) + 1) % 10**6:06d}"
    d = _decide(session, m, door, pin=wrong)
    assert (d.granted, d.reason, d.method) == (False, "wrong_pin", "app_pin")
    d = _decide(session, m, door, pin=pin, position=None)
    assert (d.granted, d.reason, d.method) == (False, "position_required", "app_pin")
    d = _decide(session, m, door, pin=pin, position=FAR)
    assert (d.granted, d.reason, d.method) == (False, "outside_geofence", "app_pin")
    assert d.radius_m == 200 and 7700 < d.distance_m < 7900
    for i in range(5):
        session.add(AccessEvent(
            id=uuid.uuid4(), customer_id=a.customer.id, occurred_at=AT - dt.timedelta(minutes=i),
            door_id=door.id, account_id=a.worker.id, membership_id=m.id, method="app_pin",
            outcome="denied", reason="wrong_pin", source="app", recorded_at=AT))
    session.flush()
    d = _decide(session, m, door, pin=pin)
    assert (d.granted, d.reason, d.method) == (False, "too_many_attempts", "app_pin")


def test_a_card_reader_reports_the_keycard_method_when_the_card_is_not_valid(session, setup):
    a, door, acc = setup
    acc.methods = ["keycard"]
    session.flush()
    d = _decide(session, a.worker_membership, door, channel="keycard", position=None,
                presented_hash=None)
    assert (d.granted, d.reason, d.method) == (False, "credential_not_valid", "keycard")


def test_a_guest_qr_read_by_a_reader(session, setup):
    """The "qr" channel: a reader presents the keyed hash of a personal QR code."""
    a, door, acc = setup
    m = a.worker_membership
    acc.methods = ["qr"]
    session.flush()
    code = "QR-CODE-OF-THE-WORKER-0001"
    session.add(DoorCredential(
        id=uuid.uuid4(), customer_id=a.customer.id, membership_id=m.id, kind="qr",
        value_hash=credential_hash(a.customer.id, "qr", code)))
    session.flush()
    good = credential_hash(a.customer.id, "qr", code)
    d = _decide(session, m, door, channel="qr", position=None, presented_hash=good)
    assert (d.granted, d.reason, d.method) == (True, None, "qr")
    bad = credential_hash(a.customer.id, "qr", "QR-CODE-OF-NOBODY")
    d = _decide(session, m, door, channel="qr", position=None, presented_hash=bad)
    assert (d.granted, d.reason, d.method) == (False, "credential_not_valid", "qr")
    # A keycard's hash of the same text is not the QR credential.
    card = credential_hash(a.customer.id, "keycard", code)
    d = _decide(session, m, door, channel="qr", position=None, presented_hash=card)
    assert (d.granted, d.reason) == (False, "credential_not_valid")


def test_a_pin_of_another_site_is_wrong_at_this_door(session, setup, make):
    a, door, acc = setup
    m = a.worker_membership
    acc.methods = ["app_pin"]
    session.flush()
    other_site = make.site(a.customer, name="Annex")
    elsewhere = doorkit.pin_for(session, m, site=other_site)
    d = _decide(session, m, door, pin=elsewhere)
    assert (d.granted, d.reason, d.method) == (False, "wrong_pin", "app_pin")
    here = doorkit.pin_for(session, m, site=a.site)
    d = _decide(session, m, door, pin=here)
    assert (d.granted, d.reason, d.method) == (True, None, "app_pin")


def test_the_doors_own_position_wins_over_the_sites(session, setup):
    a, door, _ = setup
    m = a.worker_membership
    # The door stands 7.8 km north of its site's point, with the site's 200 m radius.
    door.latitude, door.longitude = 59.40, 18.06
    session.flush()
    assert _decide(session, m, door, position=FAR).granted
    d = _decide(session, m, door, position=HERE)
    assert (d.granted, d.reason, d.radius_m) == (False, "outside_geofence", 200)
    # East of the site by ~5.7 km (0.1 degree of longitude at 59.33 N): only the door's own
    # longitude puts it there.
    door.latitude, door.longitude = 59.33, 18.16
    session.flush()
    assert _decide(session, m, door, position=ops.Position(59.33, 18.16, 10)).granted
    assert not _decide(session, m, door, position=HERE).granted


def test_an_evacuation_grants_with_the_channels_first_method(session, setup):
    a, door, _ = setup
    m = a.worker_membership
    lock = Lockdown(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                    mode="unlock_all", exempt_roles=[])
    session.add(lock)
    session.flush()
    a.site.lockdown_id = lock.id
    session.flush()
    for channel, method in [("app", "app"), ("scan", "qr"), ("pin", "pin"),
                            ("keycard", "keycard"), ("qr", "qr")]:
        d = _decide(session, m, door, channel=channel, position=None)
        assert (d.granted, d.reason, d.method) == (True, None, method), channel


def test_a_no_pin_access_is_preferred_only_over_a_pin_access(session, world):
    """Two covering accesses: the first found stays unless it needs a PIN and the next
    does not (a second no-PIN access does not replace the first)."""
    a = world.a
    m = a.worker_membership
    door = doorkit.door(session, a.site)
    doorkit.access(session, [door], [m], ["app"], name="First", anti_passback="hard")
    doorkit.access(session, [door], [m], ["app"], name="Second")
    session.add(PassbackState(customer_id=a.customer.id, membership_id=m.id,
                              site_id=a.site.id, entered_at=AT - dt.timedelta(hours=1)))
    session.flush()
    names = [acc.name for acc in ops.candidate_accesses(session, door.id, m.id)]
    d = _decide(session, m, door, direction="in")
    # The first access found decides: "First" (hard anti-passback) refuses the second entry.
    if names[0] == "First":
        assert (d.granted, d.reason) == (False, "anti_passback")
    else:
        assert (d.granted, d.reason, d.anti_passback) == (True, None, None)


# -- issue_member_pin: the PIN mailed to the member ------------------------------------------


def test_a_member_pin_is_mailed_with_the_workplace_and_site_and_audited(session, setup):
    a, _, _ = setup
    m = a.worker_membership
    before = doorkit.mail_ids()
    cred = ops.issue_member_pin(session, m, a.site.id, by=a.admin_membership)
    assert (cred.kind, cred.membership_id, cred.site_id) == ("pin", m.id, a.site.id)
    msg = doorkit.last_mail_to(a.worker.email, before)
    assert msg["Subject"] == "Your door PIN"
    body = msg.get_content()
    lead = f"Your PIN for the doors of {a.customer.name} at {a.site.name} is: "
    assert body.startswith(lead)
    pin = body[len(lead):len(lead) + 6]
    assert pin.isdigit() and body[len(lead) + 6:].startswith(
        "\n\nIt opens that site's doors only. Keep it to yourself. Your administrator can "
        "issue a new one.")
    # The mailed PIN is the one stored (as its keyed hash).
    assert cred.value_hash == credential_hash(a.customer.id, "pin", pin)
    ev = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(cred.id))).one()
    assert (ev.action, ev.actor_id, ev.actor_role, ev.subject_id, ev.customer_id) == (
        "credential.pin.issue", a.admin.id, "admin", a.worker.id, a.customer.id)


def test_a_member_pin_needs_a_registered_member(session, setup):
    a, _, _ = setup
    pending = Membership(id=uuid.uuid4(), customer_id=a.customer.id, account_id=None,
                         role="worker")
    with pytest.raises(Unprocessable) as err:
        ops.issue_member_pin(session, pending, a.site.id)
    assert (err.value.slug, err.value.detail) == (
        "member-pending", "The member has not registered yet.")
    gone = Membership(id=uuid.uuid4(), customer_id=a.customer.id, account_id=uuid.uuid4(),
                      role="worker")
    with pytest.raises(NotFound) as err:
        ops.issue_member_pin(session, gone, a.site.id)
    assert err.value.detail == "No such member."
    assert session.scalars(select(DoorCredential)).all() == []


# -- the rest of the recording path ----------------------------------------------------------


def test_attempt_logs_ids_and_outcome_only(session, setup, caplog):
    a, door, _ = setup
    with caplog.at_level(logging.DEBUG, logger="entryfy.ops.doors.decision"):
        _, ev = _attempt(session, a.worker_membership, door)
    (rec,) = [r for r in caplog.records if r.name == "entryfy.ops.doors.decision"]
    assert rec.getMessage() == (
        f"door attempt door={door.id} event={ev.id} outcome=granted reason=None")
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="entryfy.ops.doors.decision"):
        _, ev = _attempt(session, a.worker_membership, door, position=FAR)
    (rec,) = [r for r in caplog.records if r.name == "entryfy.ops.doors.decision"]
    assert rec.getMessage() == (
        f"door attempt door={door.id} event={ev.id} outcome=denied reason=outside_geofence")


def test_a_membership_gone_meanwhile_is_a_conflict_not_a_500(session, setup):
    a, door, _ = setup
    # A membership read before an erasure removed its row: the event's foreign key fails.
    gone = Membership(id=uuid.uuid4(), customer_id=a.customer.id, account_id=None,
                      role="worker", active=True)
    with pytest.raises(Conflict) as err:
        _attempt(session, gone, door)
    assert err.value.slug == "membership-ended"
    assert err.value.detail == (
        "Your membership ended while the door was being opened (for example, your account is "
        "being erased); nothing was recorded.")


def test_the_first_person_in_opens_the_unlock_window_at_their_passage(session, setup):
    a, door, _ = setup
    ops.update_door(session, door, {
        "unlock_schedule": [{"days": ["mon"], "start": "08:00", "end": "17:00"}],
        "first_person_in": True})
    session.flush()
    decision, _ = _attempt(session, a.worker_membership, door)  # Monday 12:00 in Stockholm
    assert decision.granted
    assert door.first_in_at == AT


def test_revoking_names_the_admin_and_an_unknown_credential_is_not_found(session, setup):
    a, _, _ = setup
    card = ops.add_keycard(session, a.worker_membership, "CAFE0002")
    card_id = card.id
    credentials.revoke_credential(session, card, by=a.admin_membership)
    ev = session.scalars(select(AuditEvent).where(
        AuditEvent.object_id == str(card_id), AuditEvent.action == "credential.keycard.revoke"
    )).one()
    assert (ev.actor_id, ev.actor_role, ev.subject_id) == (a.admin.id, "admin", a.worker.id)
    with pytest.raises(NotFound) as err:
        credentials.load_credential(session, a.customer.id, card_id)
    assert err.value.detail == "No such credential."


# -- credentials: who did it, the windows, the words -----------------------------------------


def test_a_keycard_keeps_its_window_and_its_issuer(session, setup):
    a, _, _ = setup
    m = a.worker_membership
    card = ops.add_keycard(session, m, "cafe0003", valid_from=AT,
                           valid_to=AT + dt.timedelta(days=3), by=a.admin_membership)
    assert (card.kind, card.valid_from, card.valid_to) == (
        "keycard", AT, AT + dt.timedelta(days=3))
    ev = session.scalars(select(AuditEvent).where(AuditEvent.object_id == str(card.id))).one()
    assert (ev.action, ev.actor_id, ev.subject_id) == (
        "credential.keycard.issue", a.admin.id, a.worker.id)
    with pytest.raises(Conflict) as err:
        ops.add_keycard(session, m, "CAFE0003")
    assert (err.value.slug, err.value.detail) == ("keycard-taken", "That card is already enrolled.")


def test_a_new_pin_revokes_the_old_one_in_the_admins_name(session, setup):
    a, _, _ = setup
    m = a.worker_membership
    old, _ = ops.issue_pin(session, m, site_id=a.site.id)
    old_id = old.id
    ops.issue_pin(session, m, site_id=a.site.id, by=a.admin_membership)
    ev = session.scalars(select(AuditEvent).where(
        AuditEvent.object_id == str(old_id), AuditEvent.action == "credential.pin.revoke")).one()
    assert (ev.actor_id, ev.actor_role, ev.subject_id) == (a.admin.id, "admin", a.worker.id)


def test_the_words_of_the_pin_refusals(session, setup, make, monkeypatch):
    a, _, _ = setup
    lone = make.membership(a.customer, make.account())
    with pytest.raises(Unprocessable) as err:
        ops.issue_pin(session, lone)
    assert err.value.detail == "A PIN opens the doors of one site: name the site (site_id)."
    with pytest.raises(NotFound) as err:
        ops.issue_pin(session, lone, site_id=uuid.uuid4())
    assert err.value.detail == "No such site."
    ops.issue_pin(session, a.worker_membership, site_id=a.site.id)
    taken = credentials.credential_value(session.scalars(select(DoorCredential)).one())
    monkeypatch.setattr(credentials, "_new_pin", lambda: taken)
    with pytest.raises(Conflict) as err:
        ops.issue_pin(session, lone, site_id=a.site.id)
    assert err.value.detail == "No free PIN could be drawn; try again."


def test_the_pin_site_is_from_this_members_accesses_only(session, setup, make):
    a, _, _ = setup
    colleague = make.membership(a.customer, make.account())
    depot = make.site(a.customer, name="Depot")
    doorkit.access(session, [doorkit.door(session, depot, name="Depot door")], [colleague],
                   ["app_pin"], name="Depot")
    # The worker's one access is at the factory site; the colleague's depot is not theirs.
    assert credentials.pin_site(session, a.worker_membership) == a.site.id
    assert credentials.pin_site(session, colleague) == depot.id


def test_only_wrong_pins_count_towards_the_lockout(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    acc.methods = ["app_pin"]
    session.flush()
    pin = doorkit.pin_for(session, m)
    for i in range(5):
        session.add(AccessEvent(
            id=uuid.uuid4(), customer_id=a.customer.id, occurred_at=AT - dt.timedelta(minutes=i),
            door_id=door.id, account_id=a.worker.id, membership_id=m.id, method="app_pin",
            outcome="denied", reason="outside_geofence", source="app", recorded_at=AT))
    session.flush()
    assert ops.recent_wrong_pins(session, m.id, AT) == 0
    d = _decide(session, m, door, pin=pin)
    assert (d.granted, d.reason) == (True, None)


def test_a_lockdown_lets_the_exempt_roles_through(session, setup, world):
    a, door, _ = setup
    m = a.worker_membership
    lock = Lockdown(id=uuid.uuid4(), customer_id=a.customer.id, site_id=a.site.id,
                    mode="lockdown", exempt_roles=[m.role])
    session.add(lock)
    session.flush()
    a.site.lockdown_id = lock.id
    session.flush()
    assert _decide(session, m, door).granted
    lock.exempt_roles = []
    session.flush()
    d = _decide(session, m, door)
    assert (d.granted, d.reason) == (False, "lockdown")
    with pytest.raises(ValueError) as err:
        _decide(session, world.b.worker_membership, door)
    assert str(err.value) == "membership and door of different customers"


def test_anti_passback_spares_the_exempt_roles(session, setup):
    a, door, acc = setup
    m = a.worker_membership
    acc.anti_passback = "hard"
    acc.anti_passback_exempt_roles = [m.role]
    session.add(PassbackState(customer_id=a.customer.id, membership_id=m.id,
                              site_id=a.site.id, entered_at=AT - dt.timedelta(hours=1)))
    session.flush()
    d = _decide(session, m, door, direction="in")
    assert (d.granted, d.reason, d.anti_passback) == (True, None, None)


@pytest.mark.parametrize("order", [("app_pin", "app"), ("app", "app_pin"),
                                   ("app_pin", "app_pin")])
def test_the_no_pin_access_wins_in_either_row_order(session, world, monkeypatch, order):
    """The database returns the covering accesses in no set order: each order is forced."""
    a = world.a
    m = a.worker_membership
    door = doorkit.door(session, a.site)
    made = {}
    for i, method in enumerate(order):
        made[i] = doorkit.access(session, [door], [m], [method], name=f"Access {i}")
    monkeypatch.setattr(decision_module, "candidate_accesses",
                        lambda session, door_id, membership_id: [made[0], made[1]])
    d = _decide(session, m, door)
    want = "app" if "app" in order else "app_pin"
    reason = None if want == "app" else "pin_required"
    assert (d.granted, d.reason, d.method) == (want == "app", reason, want)
