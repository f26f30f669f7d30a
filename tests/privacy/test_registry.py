"""The processing registry and the data map agree (docs/ARCHITECTURE.md, "Data map")."""

from __future__ import annotations

import datetime as dt

import pytest

from privacy import datamap, registry
from privacy.datamap import ColumnEntry

UTC = dt.UTC


def test_data_map_and_registry_agree():
    assert datamap.problems() == []


def test_every_purpose_used_in_the_data_map_is_declared():
    declared = {p.key for p in registry.purposes()}
    assert datamap.used_purposes() <= declared


def test_every_declared_purpose_is_used_or_marked_not_stored():
    used = datamap.used_purposes()
    for p in registry.purposes():
        if p.stored_in_system:
            assert p.key in used, p.key
        else:
            assert p.key not in used, f"{p.key} is used but marked as not stored"
            for other in p.uses_data_of:
                assert registry.purpose(other).stored_in_system


def test_every_retention_rule_is_used_by_a_purpose():
    named = {k for p in registry.purposes() for k in p.retention_keys}
    assert named == {r.key for r in registry.retention_rules()}


def test_every_personal_column_has_purpose_retention_and_erasure():
    for c in datamap.personal_columns():
        assert c.purpose and c.retention and c.erasure in datamap.ERASURE_STRATEGIES, c


def test_the_check_catches_a_personal_column_without_purpose_or_retention():
    bad = ColumnEntry(table="probe", column="secret", model="Probe", category="contact.email",
                      subject="account", purpose=None, retention=None, erasure="delete",
                      identifier=False, tenant=False)
    problems = datamap.problems([*datamap.build(), bad])
    assert "probe.secret: personal data without a purpose" in problems
    assert "probe.secret: personal data without a retention rule" in problems


def test_the_check_catches_undeclared_keys_and_categories():
    bad = [
        ColumnEntry("probe", "a", "Probe", "contact.email", "account", "no_such_purpose",
                    "account_lifetime", "delete", False, False),
        ColumnEntry("probe", "b", "Probe", "contact.email", "account", "account",
                    "no_such_rule", "delete", False, False),
        ColumnEntry("probe", "c", "Probe", "location.coarse", "account", "account",
                    "account_lifetime", "delete", False, False),
        ColumnEntry("probe", "d", "Probe", "contact.email", "account", "account",
                    "personnel_ledger", "delete", False, False),
    ]
    problems = "\n".join(datamap.problems([*datamap.build(), *bad]))
    assert "purpose 'no_such_purpose' is not in the registry" in problems
    assert "retention rule 'no_such_rule' is not in the registry" in problems
    assert "category 'location.coarse' is not declared for purpose 'account'" in problems
    assert "retention 'personnel_ledger' is not one purpose 'account' declares" in problems


def test_an_unused_stored_purpose_is_reported():
    only_accounts = [c for c in datamap.build() if c.table == "accounts"]
    assert "purpose 'personnel_ledger' is declared as stored here but no column uses it" in \
        datamap.problems(only_accounts)


def test_ledger_columns_are_under_legal_hold():
    cols = {c.column: c for c in datamap.build() if c.table == "entries"}
    assert cols["checked_in_at"].erasure == "legal_hold"
    assert cols["checked_in_at"].as_dict()["legal_hold"] is True
    assert cols["checked_in_at"].as_dict()["retention_period"] == "P2Y"


def test_seed_promises_are_expressed():
    support = registry.retention_rule("support_case")
    assert support.period == registry.Period(days=28) and support.anchor == "closed_at"
    ledger = registry.retention_rule("personnel_ledger")
    assert ledger.legal_hold and "Skatteförfarandelagen" in (ledger.legal_basis_for_hold or "")
    assert ledger.anchor == "end_of_calendar_year" and ledger.period == registry.Period(years=2)
    assert registry.retention_rule("account_lifetime").period is None
    assert registry.purpose("newsletter").legal_basis == "consent"
    assert registry.purpose("account").legal_basis == "contract"
    assert registry.purpose("personnel_ledger").controller == "customer"
    assert registry.purpose("account").controller == "vendor"
    sec = registry.retention_rule("security_log")
    assert sec.period is not None and sec.period.after(dt.datetime(2026, 1, 1, tzinfo=UTC)) \
        <= dt.datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(("now", "cutoff"), [
    # Due once 1 January (Y+1) + 2 years has passed, in Swedish time.
    (dt.datetime(2027, 3, 1, tzinfo=UTC), dt.datetime(2024, 12, 31, 23, 0, tzinfo=UTC)),
    (dt.datetime(2026, 12, 31, 22, 59, tzinfo=UTC), dt.datetime(2023, 12, 31, 23, 0, tzinfo=UTC)),
    (dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC), dt.datetime(2024, 12, 31, 23, 0, tzinfo=UTC)),
])
def test_ledger_cutoff_is_the_end_of_the_calendar_year_plus_two(now, cutoff):
    rule = registry.retention_rule("personnel_ledger")
    assert rule.cutoff(now) == cutoff
    # An entry of 2024 (Swedish time) is due from 1 January 2027 00:00 Stockholm.
    last_2024 = dt.datetime(2024, 12, 31, 22, 59, tzinfo=UTC)  # 23:59 in Stockholm
    assert rule.held(last_2024, dt.datetime(2026, 12, 31, 22, 59, tzinfo=UTC))
    assert rule.due(last_2024, dt.datetime(2026, 12, 31, 23, 0, tzinfo=UTC))


def test_period_arithmetic_is_calendar_aware():
    p = registry.Period(months=1)
    assert p.before(dt.datetime(2026, 3, 31, tzinfo=UTC)) == dt.datetime(2026, 2, 28, tzinfo=UTC)
    assert registry.Period(years=2).iso() == "P2Y"
    assert registry.Period(days=28).iso() == "P28D"
    with pytest.raises(ValueError):
        registry.Period(days=-1)


def test_lookups_fail_loudly():
    with pytest.raises(KeyError):
        registry.purpose("nope")
    with pytest.raises(KeyError):
        registry.retention_rule("nope")


def test_declarations_split_controller_and_processor():
    c = registry.controller_declaration()
    p = registry.processor_declaration()
    assert {x["controller"] for x in c["purposes"]} == {"vendor"}
    assert {x["controller"] for x in p["purposes"]} == {"customer"}
    assert c["controller"]["dpo"] and p["sub_processors"]
    keys = {x["key"] for x in c["purposes"]} | {x["key"] for x in p["purposes"]}
    assert keys == {x.key for x in registry.purposes()}


def test_privacy_map_command_prints_the_map(runner):
    r = runner.invoke(args=["privacy", "map"])
    assert r.exit_code == 0, r.output
    assert "entries" in r.output and "legal_hold" in r.output and "personnel_ledger" in r.output
    r = runner.invoke(args=["privacy", "map", "--format", "json"])
    assert r.exit_code == 0
    import json

    rows = json.loads(r.output)
    assert {"table", "column", "subject", "purpose", "retention", "erasure"} <= set(rows[0])
