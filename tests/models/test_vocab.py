"""The vocabularies (models.vocab): members are their strings, the check constraints and the door
rules derive from them, and no module holds a complete copy of one as literals."""

from __future__ import annotations

import ast
import enum
import inspect
import json
import pathlib

from sqlalchemy import CheckConstraint

import models
from entryfy.ops import doors
from entryfy.ops.door_refusals import DETAILS
from models import vocab

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCABULARIES = [v for v in vars(vocab).values()
                if inspect.isclass(v) and issubclass(v, enum.StrEnum) and v is not enum.StrEnum]


def test_a_member_is_its_string_stored_and_in_json():
    assert vocab.Method.APP_PIN == "app_pin"
    assert vocab.Method("qr_pin") is vocab.Method.QR_PIN
    assert f"{vocab.Role.FOREMAN}" == "foreman"
    assert json.dumps({"method": vocab.Method.KEYCARD, "days": [vocab.Day.SUN]}) == \
        '{"method": "keycard", "days": ["sun"]}'
    # A plain string finds a member in a set or as a key (the door rules look up strings).
    assert "app_pin" in doors.NEEDS_PIN
    assert doors.CHANNELS["scan"] == ("qr", "qr_pin")


def test_values_keep_the_declared_order():
    assert vocab.METHODS == ("app", "app_pin", "qr", "qr_pin", "pin", "keycard", "keycard_pin")
    assert vocab.DAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert vocab.MEMBER_ROLES == ("member", "admin", "operator", "guest", "foreman",
                                  "hardware_manager")
    assert vocab.REASONS[0] == "membership_inactive"
    assert vocab.REASONS[3] == "lockdown"
    assert vocab.REASONS[-2:] == ("outside_geofence", "anti_passback")
    assert vocab.ANTI_PASSBACK == ("off", "soft", "hard")
    assert vocab.LOCKDOWN_MODES == ("lockdown", "unlock_all")
    assert vocab.ALERT_TYPES == ("forced_open", "held_open", "tamper", "controller_offline")
    assert all(type(w) is str for v in VOCABULARIES for w in vocab.values(v))


def test_in_check_writes_the_constraint_sql():
    assert vocab.in_check("kind", ("pin", "keycard")) == "kind IN ('pin', 'keycard')"
    assert vocab.in_check("direction", vocab.DIRECTIONS, nullable=True) == \
        "direction IS NULL OR direction IN ('in', 'out')"


def _checks() -> dict[str, str]:
    return {f"{t.name}.{c.name}": str(c.sqltext.text)
            for t in models.Base.metadata.tables.values() for c in t.constraints
            if isinstance(c, CheckConstraint)}


def test_check_constraints_come_from_the_vocabularies_unchanged():
    """The text the migrations created, spelled out: a reordered or renamed word fails here."""
    checks = _checks()
    assert checks["memberships.ck_memberships_role"] == \
        "role IN ('member', 'admin', 'operator', 'guest', 'foreman', 'hardware_manager')"
    assert checks["customers.ck_customers_status"] == \
        "status IN ('active', 'offboarding', 'ended')"
    assert checks["sites.ck_sites_geofence"] == "geofence IN ('enforce', 'record')"
    assert checks["accounts.ck_accounts_staff_role"] == \
        "staff_role IS NULL OR staff_role IN ('support', 'platform_admin')"
    assert checks["entries.ck_entries_source"] == "source IN ('app', 'door', 'admin', 'kiosk')"
    assert checks["door_credentials.ck_door_credentials_kind"] == \
        "kind IN ('pin', 'keycard', 'qr')"
    assert checks["access_events.ck_access_events_outcome"] == \
        "outcome IN ('granted', 'denied')"
    assert checks["access_events.ck_access_events_direction"] == \
        "direction IS NULL OR direction IN ('in', 'out')"
    assert checks["access_events.ck_access_events_source"] == "source IN ('app', 'controller')"
    assert checks["accesses.ck_accesses_anti_passback"] == \
        "anti_passback IN ('off', 'soft', 'hard')"
    assert checks["lockdowns.ck_lockdowns_mode"] == "mode IN ('lockdown', 'unlock_all')"
    assert checks["door_alerts.ck_door_alerts_type"] == \
        "type IN ('forced_open', 'held_open', 'tamper', 'controller_offline')"
    assert checks["consents.ck_consents_channel"] == \
        "channel IN ('app', 'web', 'api', 'email_link')"


def test_the_door_rules_speak_the_vocabulary():
    assert set(doors.CHANNELS) == set(vocab.Channel)
    assert {m for ms in doors.CHANNELS.values() for m in ms} == set(vocab.Method)
    # A controller decides each kind of credential alone, and the card with the PIN.
    assert set(doors.CONTROLLER_METHODS) == set(vocab.CredentialKind) | {"keycard_pin"}
    assert set(doors.NEEDS_PIN) == {"app_pin", "qr_pin", "keycard_pin"}
    assert set(doors.GUEST_METHODS) <= set(doors.CONTROLLER_METHODS)
    assert set(DETAILS) == set(vocab.RefusalReason)
    assert set(vocab.ACCESS_STAGES) <= set(vocab.RefusalReason)


def _literal_copies(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    words = {v.__name__: set(vocab.values(v)) for v in VOCABULARIES if len(v) > 1}
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            literal = {e.value for e in node.elts}
            found += [f"{path.relative_to(root)}:{node.lineno} copies {name}"
                      for name, ws in words.items() if literal == ws]
    return found


def test_no_module_copies_a_whole_vocabulary_as_literals():
    copies = [c for pkg in ("api", "entryfy", "models", "privacy")
              for p in sorted((ROOT / pkg).rglob("*.py"))
              if "migrations" not in p.parts and p.name != "vocab.py"
              for c in _literal_copies(p)]
    assert copies == []


def test_the_copy_finder_finds_a_copy(tmp_path):
    # Guards the guard: a module with the directions spelled out is reported, a subset is not.
    probe = tmp_path / "probe.py"
    probe.write_text('DIRECTIONS = ("in", "out")\nOTHER = ["in", "sideways"]\nX = {"pin", "qr"}\n')
    assert _literal_copies(probe, tmp_path) == ["probe.py:1 copies Direction"]
