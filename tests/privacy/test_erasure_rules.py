"""Erasure's rules pinned with literal values, without the API in between: what each row's
outcome is (deleted, anonymised with which values, withheld under which rule), where the
personnel ledger's hold begins and ends, that another person's and another customer's rows are
never touched, the proof written, and a second run changing nothing.

The personnel ledger's cutoff at NOW (2030-06-01 12:00 UTC) is 2027-12-31 23:00 UTC: the
start of 2028 in Stockholm, two calendar years back. Rows whose newest time is before it are
past the hold; rows at or after it are held.

The first half needs no database (the rules over plain rows); the second arranges rows and
runs plan / execute (the flow's steps are in test_erasure_flow_rules.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from entryfy import clock, security
from entryfy.security import DataKeys
from models import (
    Account,
    DataRequestPart,
    Device,
    Entry,
    EntryCorrection,
    Erasure,
    ErasureRecord,
    Membership,
)
from models.support import Ticket
from privacy import erasure, subjects
from privacy.erasure import Action, HoldScope, Plan
from privacy.subjects import TableLinks

UTC = dt.UTC
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = dt.datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
JUST_BEFORE = CUTOFF - dt.timedelta(microseconds=1)
HELD = dt.datetime(2029, 3, 1, 7, 0, tzinfo=UTC)
PAST = dt.datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
# The test key of tests/conftest.py (TEST_CONFIG["ENTRYFY_DATA_KEY"]).
TEST_KEY = "dGVzdC1kYXRhLWtleS0wMDAwMDAwMDAwMDAwMDAwMDA="
LEDGER_APPLIES_TO = ("entries at a site that keeps a personnel ledger (a site with a ledger "
                     "id), and corrections of them; attendance at any other site is not held "
                     "and is erased on request")
A1 = uuid.UUID("00000000-0000-4000-8000-00000000000a")
C1 = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
R1 = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
ENTRY_PERSONAL = ["account_id", "employer_name", "employer_org_nr", "checked_in_at",
                  "checked_out_at", "inside_geofence", "distance_m", "coarse_latitude",
                  "coarse_longitude", "checkout_inside_geofence", "ip_prefix",
                  "registered_by_id"]


@pytest.fixture
def test_keys(monkeypatch):
    monkeypatch.setattr(security, "_keys", DataKeys(TEST_KEY))


def tl(name: str) -> TableLinks:
    return subjects.links(name)


class _Scope:
    """A hold scope that answers ``reach`` and remembers what it was asked."""

    def __init__(self, reach: bool) -> None:
        self.reach = reach
        self.asked: list[tuple[str, str, dict[str, Any]]] = []

    def reaches(self, key: str, table: str, row: dict[str, Any]) -> bool:
        self.asked.append((key, table, row))
        return self.reach


# ------------------------------------------------------------------ the plan's shapes

def _action(table: str, outcome: str, row_id: str = "r1", **kw: Any) -> Action:
    return Action(table=table, row_id=row_id, customer_id=kw.pop("customer_id", None),
                  outcome=outcome, rule=kw.pop("rule", None), columns=kw.pop("columns", []),
                  reason=kw.pop("reason", "why"), **kw)


def test_an_action_shows_everything_but_its_values_and_key():
    a = _action("entries", "withheld", customer_id=C1, rule="personnel_ledger",
                columns=["account_id", "employer_name"], reason="kept",
                values={"restricted": True}, pk={"id": R1})
    assert a.public() == {"table": "entries", "row_id": "r1",
                          "customer_id": "00000000-0000-4000-8000-0000000000c1",
                          "outcome": "withheld", "rule": "personnel_ledger",
                          "columns": ["account_id", "employer_name"], "reason": "kept"}
    assert _action("devices", "deleted").public()["customer_id"] is None
    assert (_action("x", "deleted").values, _action("x", "deleted").pk) == ({}, {})


def test_a_plan_counts_each_outcome_per_table_and_lists_the_withheld():
    p = Plan(A1, [_action("entries", "deleted", "e1"), _action("entries", "withheld", "e2"),
                  _action("entries", "deleted", "e3"), _action("devices", "anonymised", "d1")])
    assert p.counts() == {"entries": {"deleted": 2, "anonymised": 0, "withheld": 1},
                          "devices": {"deleted": 0, "anonymised": 1, "withheld": 0}}
    body = p.public()
    assert set(body) == {"account_id", "counts", "rows", "withheld"}
    assert body["account_id"] == "00000000-0000-4000-8000-00000000000a"
    assert body["counts"] == p.counts()
    assert [r["row_id"] for r in body["rows"]] == ["e1", "e2", "e3", "d1"]
    assert body["withheld"] == [{"table": "entries", "row_id": "e2", "customer_id": None,
                                 "outcome": "withheld", "rule": None, "columns": [],
                                 "reason": "why"}]
    assert Plan(A1, []).counts() == {}


def test_the_email_hash_is_keyed_and_ignores_case_and_spaces(test_keys):
    # HMAC-SHA256 under the test key's "erasure-email" derivation, computed once.
    known = "8103489cd7643f49f23376b4dc5a1353c5e60ee87183a48faf08953154ddbd51"
    assert erasure.email_hash("zelma.q@example.test") == known
    assert erasure.email_hash("  Zelma.Q@EXAMPLE.test \n") == known
    assert erasure.email_hash("zelma.q@example.tes") != known


def test_rules_are_looked_up_by_key_and_unknown_keys_are_none():
    assert erasure._rule(None) is None
    assert erasure._rule("") is None
    assert erasure._rule("no_such_rule") is None
    rule = erasure._rule("personnel_ledger")
    assert rule is not None and rule.key == "personnel_ledger" and rule.legal_hold is True
    assert erasure._hold_text("personnel_ledger") == LEDGER_APPLIES_TO
    # No applies_to: the rule's description.
    assert erasure._hold_text("audit_log").startswith("Audit trail of reads and changes")
    assert erasure._hold_text("no_such_rule") == "no_such_rule"


# ------------------------------------------------------------------ the hold's anchor

def test_a_hold_counts_from_the_newest_time_in_the_row():
    assert erasure.anchor_columns(tl("entries").table) == [
        "created_at", "checked_in_at", "checked_out_at"]
    assert erasure.anchor_columns(tl("entry_corrections").table) == [
        "created_at", "before_checked_in_at", "before_checked_out_at", "after_checked_in_at",
        "after_checked_out_at"]
    # A personal time with no created_at column; no times at all.
    assert erasure.anchor_columns(tl("passback_states").table) == ["entered_at"]
    assert erasure.anchor_columns(tl("access_members").table) == []
    # created_at is not personal, nor is a devices' last_seen_at kept under any hold: but
    # the function only lists the times, whichever the table.
    assert erasure.anchor_columns(tl("devices").table) == ["created_at", "last_seen_at"]


def _entry_row(**times: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": R1, "customer_id": C1, "site_id": uuid.uuid4(),
                           "account_id": A1, "created_at": None, "checked_in_at": None,
                           "checked_out_at": None, "_own": True}
    row.update(times)
    return row


def test_the_ledger_hold_boundary_per_row():
    entries = tl("entries")
    held = erasure._held
    assert held(entries, _entry_row(created_at=JUST_BEFORE, checked_in_at=JUST_BEFORE,
                                    checked_out_at=JUST_BEFORE), NOW) is None
    assert held(entries, _entry_row(created_at=CUTOFF), NOW) == "personnel_ledger"
    assert held(entries, _entry_row(created_at=PAST, checked_in_at=PAST,
                                    checked_out_at=HELD), NOW) == "personnel_ledger"
    # Checked in before the cutoff, out at it: held (the newest time counts).
    assert held(entries, _entry_row(created_at=JUST_BEFORE, checked_in_at=JUST_BEFORE,
                                    checked_out_at=CUTOFF), NOW) == "personnel_ledger"
    # A time missing is left out, not a reason to hold.
    assert held(entries, _entry_row(created_at=PAST, checked_in_at=PAST), NOW) is None
    # No time at all: counted from now, so held.
    assert held(entries, _entry_row(), NOW) == "personnel_ledger"
    # A rule without a legal hold, and a table without a rule, hold nothing.
    assert held(tl("devices"), {"id": R1, "created_at": HELD}, NOW) is None
    assert held(tl("access_events"), {"id": R1, "occurred_at": HELD}, NOW) is None


def test_the_hold_asks_its_scope_with_the_rule_the_table_and_the_row():
    row = _entry_row(created_at=HELD)
    out = _Scope(False)
    assert erasure._held(tl("entries"), row, NOW, out) is None
    assert out.asked == [("personnel_ledger", "entries", row)]
    inside = _Scope(True)
    assert erasure._held(tl("entries"), row, NOW, inside) == "personnel_ledger"
    # A scope is not asked about a row no hold's rule covers.
    quiet = _Scope(False)
    assert erasure._held(tl("devices"), {"id": R1, "created_at": HELD}, NOW, quiet) is None
    assert quiet.asked == []


def test_where_the_ledger_duty_reaches_as_sql():
    def sql(e: Any) -> str:
        return " ".join(str(e.compile(compile_kwargs={"literal_binds": True})).split())

    sites = ("SELECT sites.id FROM sites WHERE sites.ledger_id IS NOT NULL AND "
             "sites.ledger_id != ''")
    assert sql(HoldScope.ledger_sites_stmt()) == sites
    assert sql(HoldScope.reach_sql("personnel_ledger", tl("entries").table)) == \
        f"entries.site_id IN ({sites})"
    # In the statement over the table it reaches (offboarding's purge), the entry is looked
    # for in the row's own customer: correlated, not a second FROM.
    corrections = tl("entry_corrections").table
    assert sql(select(corrections.c.id).where(
        HoldScope.reach_sql("personnel_ledger", corrections))) == \
        "SELECT entry_corrections.id FROM entry_corrections WHERE entry_corrections.entry_id " \
        f"IN (SELECT entries.id FROM entries WHERE entries.site_id IN ({sites}) AND " \
        "entries.customer_id = entry_corrections.customer_id)"
    assert HoldScope.reach_sql("personnel_ledger", tl("devices").table) is None
    assert HoldScope.reach_sql("audit_log", tl("entries").table) is None
    assert HoldScope.reach_sql(None, tl("entries").table) is None


# ------------------------------------------------------------------ clearing values

def test_cleared_values_per_column_kind():
    accounts = tl("accounts")
    row = {"id": A1}
    assert erasure._cleared_value(accounts, "phone", row) is None  # nullable
    assert erasure._cleared_value(accounts, "email", row) == \
        "erased-00000000-0000-4000-8000-00000000000a@erased.invalid"
    assert erasure._cleared_value(accounts, "first_name", row) == ""  # text, not null
    assert erasure._cleared_value(tl("consents"), "granted", {"id": R1}) is False
    with pytest.raises(ValueError) as e:
        erasure._cleared_value(tl("consents"), "decided_at", {"id": R1})
    assert str(e.value) == "cannot clear consents.decided_at"
    # An e-mail column that may be null is simply nulled.
    assert erasure._cleared_value(tl("memberships"), "invited_email", {"id": R1}) is None
    assert erasure._anonymise_values(accounts, row, ["email", "phone", "last_name"]) == {
        "email": "erased-00000000-0000-4000-8000-00000000000a@erased.invalid",
        "phone": None, "last_name": ""}


def test_row_ids_are_the_key_values_joined_and_cut_at_64():
    assert erasure._pk(tl("entries"), {"id": R1, "x": 1}) == {"id": R1}
    assert erasure._pk(tl("access_members"), {"access_id": "a", "membership_id": "m",
                                              "customer_id": "c"}) == {
        "access_id": "a", "membership_id": "m"}
    assert erasure._row_id({"a": "x", "b": 7}) == "x:7"
    assert erasure._row_id({"id": R1}) == "00000000-0000-4000-8000-0000000000e1"
    long = erasure._row_id({"a": "a" * 40, "b": "b" * 40})
    assert long == "a" * 40 + ":" + "b" * 23 and len(long) == 64


# ------------------------------------------------------------------ one row's outcome

def _base(table: str, row_id: str = "00000000-0000-4000-8000-0000000000e1",
          customer_id: Any = C1, pk: Any = None) -> dict[str, Any]:
    return {"table": table, "row_id": row_id, "customer_id": customer_id,
            "pk": pk if pk is not None else {"id": R1}}


def _fields(a: Action) -> dict[str, Any]:
    return {"table": a.table, "row_id": a.row_id, "customer_id": a.customer_id, "pk": a.pk,
            "outcome": a.outcome, "rule": a.rule, "columns": a.columns, "reason": a.reason,
            "values": a.values}


def test_decide_the_audit_trail_is_withheld_as_references():
    row = {"id": R1, "customer_id": C1, "subject_id": A1, "actor_id": None, "_own": True}
    a = erasure._decide(tl("audit_events"), row, A1, None, NOW)
    assert _fields(a) == {**_base("audit_events"), "outcome": "withheld", "rule": "audit_log",
                          "columns": [], "values": {},
                          "reason": "the hash-chained audit trail holds references only, "
                                    "no values"}


def test_decide_a_table_kept_by_its_own_rule():
    class Kept:
        __privacy__ = {"retention": "audit_log", "erasure": "keep"}

    devices = tl("devices")
    kept = TableLinks(devices.table, Kept, devices.own, devices.roles, devices.emails,
                      devices.columns, devices.targets)
    a = erasure._decide(kept, {"id": R1, "account_id": A1, "_own": True}, A1, None, NOW)
    assert _fields(a) == {**_base("devices", customer_id=None), "outcome": "withheld",
                          "rule": "audit_log", "columns": [], "values": {},
                          "reason": "kept until its own retention period ends; holds "
                                    "references only, no values about you"}


def test_decide_a_held_entry_is_withheld_and_restricted():
    scope = _Scope(True)
    a = erasure._decide(tl("entries"), _entry_row(created_at=HELD), A1, None, NOW, scope)
    assert _fields(a) == {**_base("entries"), "outcome": "withheld", "rule": "personnel_ledger",
                          "columns": ENTRY_PERSONAL, "values": {"restricted": True},
                          "reason": f"kept under legal hold (personnel_ledger: "
                                    f"{LEDGER_APPLIES_TO}); restricted to storage and legal "
                                    "claims"}
    # The same entry where no ledger is kept: erased.
    gone = erasure._decide(tl("entries"), _entry_row(created_at=HELD), A1, None, NOW,
                           _Scope(False))
    assert (gone.outcome, gone.rule, gone.columns, gone.reason, gone.values) == (
        "deleted", "personnel_ledger", [], "erased", {})


def test_decide_a_held_correction_has_nothing_to_restrict():
    row = {"id": R1, "customer_id": C1, "entry_id": uuid.uuid4(), "corrected_by_id": None,
           "created_at": HELD, "_own": True}
    a = erasure._decide(tl("entry_corrections"), row, A1, None, NOW)
    assert _fields(a) == {
        **_base("entry_corrections"), "outcome": "withheld", "rule": "personnel_ledger",
        "columns": ["corrected_by_id", "before_checked_in_at", "before_checked_out_at",
                    "after_checked_in_at", "after_checked_out_at", "reason"],
        "values": {}, "reason": f"kept under legal hold (personnel_ledger: {LEDGER_APPLIES_TO})"}


def test_decide_the_person_in_another_role_is_unlinked():
    other = uuid.uuid4()
    row = {"id": R1, "customer_id": C1, "opened_by_id": A1, "subject": "Help", "_own": False}
    a = erasure._decide(tl("tickets"), row, A1, None, NOW)
    assert _fields(a) == {**_base("tickets"), "outcome": "anonymised", "rule": "support_case",
                          "columns": ["opened_by_id"], "values": {"opened_by_id": None},
                          "reason": "you appear in another role: the link to you is "
                                    "removed, the record stays"}
    # Only the columns that name the person: the revoker here is someone else.
    grant = {"id": R1, "customer_id": C1, "granted_by_id": A1, "revoked_by_id": other,
             "_own": False}
    g = erasure._decide(tl("access_grants"), grant, A1, None, NOW)
    assert (g.outcome, g.columns, g.values) == ("anonymised", ["granted_by_id"],
                                                {"granted_by_id": None})


def test_decide_a_link_that_cannot_be_cleared_keeps_the_row():
    consents = tl("consents")
    as_role = TableLinks(consents.table, consents.model, (), ("account_id",), (),
                         consents.columns, consents.targets)
    row = {"id": R1, "account_id": A1, "_own": False}
    a = erasure._decide(as_role, row, A1, None, NOW)
    assert _fields(a) == {**_base("consents", customer_id=None), "outcome": "withheld",
                          "rule": "account_lifetime", "columns": ["account_id"], "values": {},
                          "reason": "the record cannot exist without this link"}


def test_decide_a_request_record_is_kept_without_the_person():
    row = {"id": R1, "account_id": A1, "details": "Erase me, Zelma", "_own": True}
    a = erasure._decide(tl("data_requests"), row, A1, None, NOW)
    assert _fields(a) == {**_base("data_requests", customer_id=None), "outcome": "anonymised",
                          "rule": "request_record", "columns": ["account_id", "details"],
                          "values": {"account_id": None, "details": None},
                          "reason": "the record is kept without anything about you, to "
                                    "demonstrate how your request was handled"}
    # A kept record's e-mail column that cannot be empty gets the row's own erased address.

    class KeptAccount:
        __privacy__ = {"retention": "account_lifetime", "erasure": "anonymise"}

    accounts = tl("accounts")
    kept = TableLinks(accounts.table, KeptAccount, (), (), (), accounts.columns, ())
    k = erasure._decide(kept, {"id": A1, "email": "z@example.test", "_own": True}, A1, None,
                        NOW)
    assert (k.outcome, k.values["email"], k.values["first_name"], k.values["phone"]) == (
        "anonymised", "erased-00000000-0000-4000-8000-00000000000a@erased.invalid", "", None)


def test_decide_everything_else_is_deleted():
    row = {"id": R1, "account_id": A1, "created_at": HELD, "_own": True}
    a = erasure._decide(tl("devices"), row, A1, None, NOW)
    assert _fields(a) == {**_base("devices", customer_id=None), "outcome": "deleted",
                          "rule": "account_lifetime", "columns": [], "values": {},
                          "reason": "erased"}
    # A row without "_own" is the person in a role: a membership without the person's
    # reference among its role columns has nothing to unlink, and is kept whole.
    m = erasure._decide(tl("memberships"), {"id": R1, "customer_id": C1, "account_id": A1},
                        A1, None, NOW)
    assert (m.outcome, m.columns, m.values) == ("anonymised", [], {})


# ------------------------------------------------------------------ with the database

class Cast:
    """Customer A (a ledger site, a site without a ledger, one with an empty ledger id),
    customer B (a ledger site), the person ``me`` in both and ``other`` in A."""

    def __init__(self, s: Any, make: Any) -> None:
        self.s = s
        self.a, self.b = make.customer(), make.customer()
        self.ledger = make.site(self.a, ledger_id="LEDGER-A")
        self.plain = make.site(self.a, ledger_id=None)
        self.blank = make.site(self.a, ledger_id="")
        self.b_site = make.site(self.b, ledger_id="LEDGER-B")
        self.me = make.account(email="Zelma.Q@example.test", first_name="Zelma",
                               last_name="Quist", phone="+46700000001")
        self.other = make.account(email="olle.o@example.test", first_name="Olle",
                                  last_name="Other", phone="+46700000002")
        self.me_a = make.membership(self.a, self.me, "member", employer_name="Quist Bygg AB")
        self.me_b = make.membership(self.b, self.me, "member", employer_name="Quist Bygg AB")
        self.other_a = make.membership(self.a, self.other, "member", employer_name="O AB")

    def entry(self, who: Account, site: Any, created: dt.datetime,
              checked_out: dt.datetime | None = None) -> uuid.UUID:
        # The person's membership there (a held entry names it; deleting the membership
        # only clears that link, ON DELETE SET NULL).
        member = {(self.me.id, self.a.id): self.me_a, (self.me.id, self.b.id): self.me_b,
                  (self.other.id, self.a.id): self.other_a}[(who.id, site.customer_id)]
        e = Entry(id=uuid.uuid4(), customer_id=site.customer_id, site_id=site.id,
                  account_id=who.id, membership_id=member.id, employer_name="Quist Bygg AB",
                  employer_org_nr="559012-3450", checked_in_at=created,
                  checked_out_at=checked_out or created + dt.timedelta(hours=8),
                  inside_geofence=True, distance_m=12, ip_prefix="198.51.100.0/24",
                  source="app", created_at=created)
        self.s.add(e)
        self.s.flush()
        return e.id

    def correction(self, entry_id: uuid.UUID, customer: Any, created: dt.datetime,
                   by: Account | None = None) -> uuid.UUID:
        c = EntryCorrection(id=uuid.uuid4(), customer_id=customer.id, entry_id=entry_id,
                            corrected_by_id=by.id if by else None,
                            before_checked_in_at=created, after_checked_in_at=created,
                            reason="forgot to tap", created_at=created)
        self.s.add(c)
        self.s.flush()
        return c.id


@pytest.fixture
def cast(session, make):
    return Cast(session, make)


def _outcomes(p: Plan) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(a.table, a.row_id): (a.outcome, a.rule) for a in p.actions}


def test_hold_scope_reaches_only_entries_at_sites_with_a_ledger_id(session, cast):
    s, c = session, cast
    on_ledger = c.entry(c.me, c.ledger, HELD)
    on_plain = c.entry(c.me, c.plain, HELD)
    scope = HoldScope(s)
    assert scope.reaches("audit_log", "entries", {"site_id": c.plain.id}) is True
    assert scope.reaches("personnel_ledger", "entries", {"site_id": c.ledger.id}) is True
    assert scope.reaches("personnel_ledger", "entries", {"site_id": c.b_site.id}) is True
    assert scope.reaches("personnel_ledger", "entries", {"site_id": c.plain.id}) is False
    assert scope.reaches("personnel_ledger", "entries", {"site_id": c.blank.id}) is False
    # A correction reaches through its entry.
    assert scope.reaches("personnel_ledger", "entry_corrections",
                         {"site_id": None, "entry_id": on_ledger}) is True
    assert scope.reaches("personnel_ledger", "entry_corrections",
                         {"entry_id": on_plain}) is False
    assert scope.reaches("personnel_ledger", "entry_corrections", {"entry_id": None}) is False
    # A row's own site wins over its entry's.
    assert scope.reaches("personnel_ledger", "x",
                         {"site_id": c.plain.id, "entry_id": on_ledger}) is False
    assert scope.ledger_sites() >= {c.ledger.id, c.b_site.id}
    assert not scope.ledger_sites() & {c.plain.id, c.blank.id}
    # Read once per erasure: a site given a ledger id later is not seen by this scope.
    c.plain.ledger_id = "LEDGER-LATE"
    s.flush()
    assert scope.reaches("personnel_ledger", "entries", {"site_id": c.plain.id}) is False
    assert HoldScope(s).reaches("personnel_ledger", "entries", {"site_id": c.plain.id})


def test_plan_of_one_customers_part(session, cast):
    from privacy import audit

    s, c = session, cast
    held = c.entry(c.me, c.ledger, HELD)
    past = c.entry(c.me, c.ledger, PAST)
    # Checked in just before the cutoff, out at it: the newest time holds it.
    edge = c.entry(c.me, c.ledger, JUST_BEFORE, checked_out=CUTOFF)
    plain = c.entry(c.me, c.plain, HELD)
    blank = c.entry(c.me, c.blank, HELD)
    at_b = c.entry(c.me, c.b_site, HELD)
    theirs_held = c.entry(c.other, c.ledger, HELD)
    theirs_past = c.entry(c.other, c.ledger, PAST)
    fix_held = c.correction(held, c.a, HELD)
    fix_plain = c.correction(plain, c.a, HELD)
    # The person, as the one who corrected someone else's entry.
    fix_as_admin = c.correction(theirs_held, c.a, HELD, by=c.me)
    ticket = Ticket(id=uuid.uuid4(), customer_id=c.a.id, opened_by_id=c.me.id,
                    subject="Gate broken", status="open", updated_at=HELD)
    s.add(ticket)
    ev_a = audit.record(s, action="member.read", customer_id=c.a.id, actor_role="admin",
                        subject_id=c.me.id)
    audit.record(s, action="member.read", customer_id=c.b.id, actor_role="admin",
                 subject_id=c.me.id)
    audit.record(s, action="account.read", customer_id=None, actor_role="system",
                 subject_id=c.me.id)
    s.add(Device(id=uuid.uuid4(), account_id=c.me.id, device_hash="d" * 64))
    # Invitations to the person's address (in any case), in A and in B.
    inv_a = Membership(id=uuid.uuid4(), customer_id=c.a.id, role="member",
                       invited_email="ZELMA.Q@Example.TEST")
    inv_b = Membership(id=uuid.uuid4(), customer_id=c.b.id, role="member",
                       invited_email="zelma.q@example.test")
    s.add_all([inv_a, inv_b])
    s.flush()

    p = erasure.plan(s, c.me.id, "zelma.q@example.test", customer_ids={c.a.id},
                     platform=False, now=NOW)
    L = "personnel_ledger"
    assert _outcomes(p) == {
        ("entries", str(held)): ("withheld", L),
        ("entries", str(past)): ("deleted", L),
        ("entries", str(edge)): ("withheld", L),
        ("entries", str(plain)): ("deleted", L),
        ("entries", str(blank)): ("deleted", L),
        ("entry_corrections", str(fix_held)): ("withheld", L),
        ("entry_corrections", str(fix_plain)): ("deleted", L),
        ("entry_corrections", str(fix_as_admin)): ("withheld", L),
        ("memberships", str(c.me_a.id)): ("deleted", "membership"),
        ("memberships", str(inv_a.id)): ("deleted", "membership"),
        ("tickets", str(ticket.id)): ("anonymised", "support_case"),
        ("audit_events", str(ev_a.id)): ("withheld", "audit_log"),
    }
    # Children first, the customer's rows only, no account row in a customer's part.
    assert all(a.customer_id == c.a.id for a in p.actions)
    assert [a.table for a in p.actions].index("entry_corrections") < \
        [a.table for a in p.actions].index("entries") < \
        [a.table for a in p.actions].index("memberships")
    by_id = {a.row_id: a for a in p.actions}
    assert by_id[str(held)].values == {"restricted": True}
    # Held: every personal column is kept, the person's reference among them.
    assert by_id[str(fix_as_admin)].columns == [
        "corrected_by_id", "before_checked_in_at", "before_checked_out_at",
        "after_checked_in_at", "after_checked_out_at", "reason"]
    assert by_id[str(ticket.id)].values == {"opened_by_id": None}
    assert str(theirs_held) not in by_id and str(theirs_past) not in by_id
    assert str(at_b) not in by_id and str(inv_b.id) not in by_id
    # Without the address, an invitation is not found.
    blind = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=False, now=NOW)
    assert str(inv_a.id) not in {a.row_id for a in blind.actions}


def test_plan_scope_of_the_audit_trail_and_the_platform_part(session, cast):
    from models import DataRequest
    from privacy import audit

    s, c = session, cast
    ev_a = audit.record(s, action="member.read", customer_id=c.a.id, actor_role="admin",
                        subject_id=c.me.id)
    ev_b = audit.record(s, action="member.read", customer_id=c.b.id, actor_role="admin",
                        subject_id=c.me.id)
    ev_p = audit.record(s, action="account.read", customer_id=None, actor_role="system",
                        subject_id=c.me.id)
    dev = Device(id=uuid.uuid4(), account_id=c.me.id, device_hash="e" * 64)
    req = DataRequest(id=uuid.uuid4(), account_id=c.me.id, type="access", status="completed",
                      channel="session", received_at=HELD, due_at=HELD, closed_at=HELD,
                      extended_months=0, details="What do you hold, Zelma asks")
    s.add_all([dev, req])
    s.flush()
    part = DataRequestPart(id=uuid.uuid4(), request_id=req.id, customer_id=c.a.id,
                           account_id=c.me.id, status="denied", reason="Zelma works here",
                           due_at=HELD)
    s.add(part)
    s.flush()

    def audits(p: Plan) -> set[str]:
        return {a.row_id for a in p.actions if a.table == "audit_events"}

    only_a = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=False, now=NOW)
    assert audits(only_a) == {str(ev_a.id)}
    a_and_platform = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=True,
                                  now=NOW)
    assert audits(a_and_platform) == {str(ev_a.id), str(ev_p.id)}
    platform = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True, now=NOW)
    assert audits(platform) == {str(ev_p.id)}
    everything = erasure.plan(s, c.me.id, None, now=NOW)
    assert audits(everything) == {str(ev_a.id), str(ev_b.id), str(ev_p.id)}
    # The platform part: the devices, the requests and the account; no tenant rows.
    assert {(t, o) for (t, _), (o, _) in _outcomes(platform).items()} == {
        ("audit_events", "withheld"), ("devices", "deleted"), ("data_requests", "anonymised"),
        ("data_request_parts", "anonymised"), ("accounts", "anonymised")}
    # The request's part with a customer goes with the platform part (the request tables),
    # never with a customer's.
    [pa] = [a for a in platform.actions if a.table == "data_request_parts"]
    assert (pa.row_id, pa.customer_id, pa.rule, pa.values) == (
        str(part.id), c.a.id, "request_record", {"account_id": None, "reason": None})
    assert _outcomes(platform)[("devices", str(dev.id))] == ("deleted", "account_lifetime")
    assert _outcomes(platform)[("data_requests", str(req.id))] == ("anonymised",
                                                                   "request_record")
    # A customer's part has no platform rows.
    assert {a.table for a in only_a.actions} == {"memberships", "audit_events"}
    # The account is last.
    assert platform.actions[-1].table == "accounts"
    assert everything.actions[-1].table == "accounts"
    assert {a.table for a in everything.actions} == {
        "audit_events", "devices", "data_requests", "data_request_parts", "memberships",
        "accounts"}


def test_a_row_a_held_row_needs_is_anonymised_not_deleted(session, cast):
    s, c = session, cast
    # An entry past the hold, corrected within it: the correction is held, and would go with
    # its entry (ON DELETE CASCADE), so the entry stays with the person's data cleared.
    past = c.entry(c.me, c.ledger, PAST)
    fix = c.correction(past, c.a, HELD)
    lone = c.entry(c.me, c.ledger, PAST)
    theirs = c.entry(c.other, c.ledger, PAST)
    p = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=False, now=NOW)
    by_id = {a.row_id: a for a in p.actions}
    assert (by_id[str(fix)].outcome, by_id[str(lone)].outcome) == ("withheld", "deleted")
    kept = by_id[str(past)]
    assert kept.outcome == "anonymised"
    assert kept.reason == ("a record kept under legal hold needs this one; your data in it "
                           "cleared")
    nullable = [c_ for c_ in ENTRY_PERSONAL if c_ != "checked_in_at"]
    assert kept.columns == nullable
    assert kept.values == dict.fromkeys(nullable)
    erasure.apply(s, p)
    e = s.get(Entry, past)
    assert e is not None and s.get(EntryCorrection, fix) is not None
    assert s.get(Entry, lone) is None
    assert s.get(Entry, theirs).account_id == c.other.id
    assert (e.account_id, e.employer_name, e.employer_org_nr, e.checked_out_at,
            e.inside_geofence, e.distance_m, e.ip_prefix) == (None,) * 7
    assert (e.checked_in_at, e.restricted, e.site_id) == (PAST, False, c.ledger.id)


def test_account_row_deleted_when_nothing_refers_to_it(session, make):
    s = session
    solo = make.account(email="solo.z@example.test")
    s.add(Device(id=uuid.uuid4(), account_id=solo.id, device_hash="f" * 64))
    s.flush()
    p = erasure.plan(s, solo.id, "solo.z@example.test", customer_ids=set(), platform=True,
                     now=NOW)
    acc = p.actions[-1]
    assert _fields(acc) == {"table": "accounts", "row_id": str(solo.id), "customer_id": None,
                            "pk": {"id": solo.id}, "outcome": "deleted",
                            "rule": "account_lifetime", "columns": [], "values": {},
                            "reason": "your account is deleted"}
    assert erasure.account_action(s, uuid.uuid4(), []) is None


def _account_cleared(account_id: uuid.UUID) -> dict[str, Any]:
    return {"email": f"erased-{account_id}@erased.invalid", "password_hash": None,
            "phone": None, "identity_number_hash": None, "totp_secret_enc": None,
            "totp_last_step": None, "recovery_codes_hash": None, "last_login_at": None}


def test_account_row_kept_empty_while_a_customer_keeps_rows(session, cast):
    s, c = session, cast
    # Customer A has not erased its part: the membership there still names the account, and
    # so does an entry at a site without a ledger (attendance, under no legal hold).
    c.entry(c.other, c.plain, HELD)
    with clock.frozen_at(NOW):
        p = erasure.plan(s, c.other.id, "olle.o@example.test", customer_ids=set(),
                         platform=True, now=NOW)
    acc = p.actions[-1]
    assert acc.table == "accounts" and acc.outcome == "anonymised"
    assert acc.rule == "account_lifetime"
    assert acc.reason == ("records a customer keeps still refer to this account; everything "
                          "about you in it erased")
    assert acc.columns == ["email", "password_hash", "first_name", "last_name", "phone",
                           "identity_number_enc", "identity_number_hash", "totp_secret_enc",
                           "totp_last_step", "recovery_codes_hash", "last_login_at"]
    assert acc.values == {**_account_cleared(c.other.id), "first_name": "", "last_name": "",
                          "identity_number_enc": None, "is_active": False}


def test_account_row_withheld_for_the_ledger_keeps_only_who_they_were(session, cast):
    s, c = session, cast
    held = c.entry(c.me, c.ledger, HELD)
    for m in (c.me_a, c.me_b):
        s.delete(m)
    s.flush()
    with clock.frozen_at(NOW):
        p = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True, now=NOW)
    acc = p.actions[-1]
    assert acc.table == "accounts"
    assert (acc.outcome, acc.rule) == ("withheld", "personnel_ledger")
    # The same with customer A's part in the plan: the entry is withheld (and restricted),
    # not gone, so it still holds the account.
    with clock.frozen_at(NOW):
        both = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=True, now=NOW)
    assert _outcomes(both)[("entries", str(held))] == ("withheld", "personnel_ledger")
    assert (both.actions[-1].outcome, both.actions[-1].rule) == ("withheld",
                                                                 "personnel_ledger")
    assert acc.columns == ["first_name", "last_name", "identity_number_enc"]
    assert acc.values == {**_account_cleared(c.me.id), "is_active": False}
    assert acc.reason == ("kept only as the ledger needs it (personnel_ledger): contact data, "
                          "password and activity erased, sign-in disabled")
    # Once the entry's hold has ended, nothing is held and the account goes.
    with clock.frozen_at(dt.datetime(2032, 1, 1, tzinfo=UTC)):
        later = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True)
    assert later.actions[-1].outcome == "anonymised"  # the entry itself is still there
    s.delete(s.get(Entry, held))
    s.flush()
    with clock.frozen_at(NOW):
        gone = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True, now=NOW)
    assert gone.actions[-1].outcome == "deleted"


def test_account_row_counts_rows_the_plan_removes_as_gone(session, cast):
    s, c = session, cast
    ticket = Ticket(id=uuid.uuid4(), customer_id=c.a.id, opened_by_id=c.other.id,
                    subject="Door", status="open", updated_at=HELD)
    s.add(ticket)
    s.delete(c.other_a)
    s.flush()
    with clock.frozen_at(NOW):
        both = erasure.plan(s, c.other.id, None, customer_ids={c.a.id}, platform=True,
                            now=NOW)
        platform_only = erasure.plan(s, c.other.id, None, customer_ids=set(), platform=True,
                                     now=NOW)
    # The ticket is unlinked by the same plan: nothing is left pointing at the account.
    assert _outcomes(both)[("tickets", str(ticket.id))] == ("anonymised", "support_case")
    assert both.actions[-1].outcome == "deleted"
    # Without customer A's part the ticket still names the account.
    assert platform_only.actions[-1].outcome == "anonymised"


def test_account_row_stays_while_another_customers_part_is_not_erased(session, cast):
    s, c = session, cast
    with clock.frozen_at(NOW):
        p = erasure.plan(s, c.me.id, None, customer_ids={c.a.id}, platform=True, now=NOW)
    # A's membership goes in this plan; B's is read after it and still names the account.
    assert _outcomes(p)[("memberships", str(c.me_a.id))] == ("deleted", "membership")
    assert (p.actions[-1].table, p.actions[-1].outcome) == ("accounts", "anonymised")


def test_preview_is_the_whole_plan_and_changes_nothing(session, cast):
    s, c = session, cast
    held = c.entry(c.me, c.ledger, HELD)
    inv = Membership(id=uuid.uuid4(), customer_id=c.b.id, role="member",
                     invited_email="zelma.q@example.test")
    s.add(inv)
    s.flush()
    with clock.frozen_at(NOW):
        body = erasure.preview(s, c.me)
    assert body["account_id"] == str(c.me.id)
    rows = {(r["table"], r["row_id"]): r for r in body["rows"]}
    assert rows[("entries", str(held))]["outcome"] == "withheld"
    assert rows[("memberships", str(c.me_b.id))]["outcome"] == "deleted"
    assert rows[("memberships", str(inv.id))]["outcome"] == "deleted"
    assert body["withheld"][-1]["table"] == "accounts"
    assert body["counts"]["memberships"] == {"deleted": 3, "anonymised": 0, "withheld": 0}
    s.expire_all()
    assert s.get(Entry, held).restricted is False
    assert s.get(Account, c.me.id).email == "zelma.q@example.test"


def _records(s: Any, erasure_id: uuid.UUID) -> set[tuple[str, str, str, str | None, str | None]]:
    return {(r.table_name, r.row_id, r.outcome, r.rule, r.columns) for r in s.scalars(
        select(ErasureRecord).where(ErasureRecord.erasure_id == erasure_id))}


def test_execute_a_customers_part_changes_only_that_customers_rows(session, cast, caplog):
    s, c = session, cast
    inv = Membership(id=uuid.uuid4(), customer_id=c.a.id, role="member",
                     invited_email="zelma.q@example.test")
    s.add(inv)
    s.flush()
    inv_id = inv.id
    held = c.entry(c.me, c.ledger, HELD)
    past = c.entry(c.me, c.ledger, PAST)
    at_b = c.entry(c.me, c.b_site, PAST)
    theirs = c.entry(c.other, c.ledger, PAST)
    me_a, me_b, other_a = c.me_a.id, c.me_b.id, c.other_a.id
    request_id = uuid.uuid4()
    with clock.frozen_at(NOW), caplog.at_level("INFO", logger="privacy.erasure"):
        er, p = erasure.execute(s, c.me.id, request_id=request_id, customer_id=c.a.id,
                                platform=False)
    assert [r.getMessage() for r in caplog.records if r.name == "privacy.erasure"] == [
        f"erasure {er.id} done: 4 rows (customer={c.a.id})"]
    s.expire_all()
    assert s.get(Membership, inv_id) is None
    assert s.get(Entry, held).restricted is True
    assert s.get(Entry, held).account_id == c.me.id  # kept whole, for the ledger
    assert s.get(Entry, past) is None
    assert s.get(Membership, me_a) is None
    # Customer B's rows, the other person's rows and the account: untouched.
    assert s.get(Entry, at_b).restricted is False
    assert s.get(Membership, me_b).active is True
    assert s.get(Entry, theirs).restricted is False
    assert s.get(Membership, other_a) is not None
    acc = s.get(Account, c.me.id)
    assert (acc.email, acc.phone, acc.is_active) == ("zelma.q@example.test", "+46700000001",
                                                     True)
    # The tombstone: the account, a keyed hash of the address (never the address), the
    # customer, the time, how many rows were withheld.
    row = s.get(Erasure, er.id)
    assert (row.request_id, row.account_id, row.customer_id, row.performed_at,
            row.reapplied_at, row.withheld) == (request_id, c.me.id, c.a.id, NOW, None, 1)
    assert row.email_hash == erasure.email_hash("zelma.q@example.test")
    assert len(row.email_hash) == 64 and "zelma" not in row.email_hash
    cols = ",".join(ENTRY_PERSONAL)
    assert _records(s, er.id) == {
        ("entries", str(held), "withheld", "personnel_ledger", cols),
        ("entries", str(past), "deleted", "personnel_ledger", None),
        ("memberships", str(me_a), "deleted", "membership", None),
        ("memberships", str(inv_id), "deleted", "membership", None)}
    assert {r.recorded_at for r in s.scalars(
        select(ErasureRecord).where(ErasureRecord.erasure_id == er.id))} == {NOW}
    assert sorted(a.outcome for a in p.actions) == ["deleted", "deleted", "deleted", "withheld"]


def test_execute_again_changes_nothing_and_counts_the_withheld_again(session, cast):
    s, c = session, cast
    held = c.entry(c.me, c.ledger, HELD)
    with clock.frozen_at(NOW):
        er, _ = erasure.execute(s, c.me.id, customer_id=c.a.id, platform=False)
    later = NOW + dt.timedelta(days=1)
    with clock.frozen_at(later):
        again, p = erasure.execute(s, c.me.id, customer_id=c.a.id, platform=False, erasure=er)
    assert again is er
    s.expire_all()
    row = s.get(Erasure, er.id)
    assert (row.performed_at, row.reapplied_at, row.withheld) == (NOW, later, 2)
    assert [(a.table, a.outcome) for a in p.actions] == [("entries", "withheld")]
    assert s.get(Entry, held).restricted is True
    assert s.scalar(select(Erasure.id).where(Erasure.id != er.id,
                                             Erasure.account_id == c.me.id)) is None
    # Each round's records under the one tombstone: the membership went in the first.
    rounds = sorted((r.recorded_at, r.table_name, r.outcome) for r in s.scalars(
        select(ErasureRecord).where(ErasureRecord.erasure_id == er.id)))
    assert rounds == [(NOW, "entries", "withheld"), (NOW, "memberships", "deleted"),
                      (later, "entries", "withheld")]


def test_execute_the_platform_part_erases_the_account(session, cast):
    s, c = session, cast
    held = c.entry(c.me, c.ledger, HELD)
    dev_id, me = uuid.uuid4(), c.me.id
    s.add(Device(id=dev_id, account_id=me, device_hash="a" * 64, name="Zelma's"))
    s.flush()
    with clock.frozen_at(NOW):
        erasure.execute(s, me, customer_id=c.a.id, platform=False)
        erasure.execute(s, me, customer_id=c.b.id, platform=False)
        er, _ = erasure.execute(s, me, customer_id=None, platform=True)
    s.expire_all()
    assert s.get(Device, dev_id) is None
    acc = s.get(Account, me)
    assert (acc.email, acc.phone, acc.password_hash, acc.is_active) == (
        f"erased-{me}@erased.invalid", None, None, False)
    assert (acc.first_name, acc.last_name) == ("Zelma", "Quist")
    assert s.get(Entry, held).restricted is True
    row = s.get(Erasure, er.id)
    assert (row.customer_id, row.withheld) == (None, 1)
    assert _records(s, er.id) == {
        ("devices", str(dev_id), "deleted", "account_lifetime", None),
        ("accounts", str(me), "withheld", "personnel_ledger",
         "first_name,last_name,identity_number_enc")}
    # The address is erased now: a later round finds no address to hash. (No part named:
    # the platform part.)
    with clock.frozen_at(NOW):
        er2, p2 = erasure.execute(s, me)
    assert s.get(Erasure, er2.id).email_hash is None
    assert [(a.table, a.outcome) for a in p2.actions] == [("accounts", "withheld")]
    # Unless it is given: the address as it was before the earlier round.
    with clock.frozen_at(NOW):
        er3, _ = erasure.execute(s, me, customer_id=None, platform=True,
                                 email="Zelma.Q@example.test")
    assert s.get(Erasure, er3.id).email_hash == erasure.email_hash("zelma.q@example.test")


def test_execute_every_customers_part_without_the_platform(session, cast):
    s, c = session, cast
    at_a = c.entry(c.me, c.plain, PAST)
    at_b = c.entry(c.me, c.b_site, PAST)
    me_a, me_b = c.me_a.id, c.me_b.id
    with clock.frozen_at(NOW):
        er, p = erasure.execute(s, c.me.id, platform=False)
    s.expire_all()
    assert (s.get(Entry, at_a), s.get(Entry, at_b)) == (None, None)
    assert (s.get(Membership, me_a), s.get(Membership, me_b)) == (None, None)
    assert {a.table for a in p.actions} == {"entries", "memberships"}
    acc = s.get(Account, c.me.id)
    assert (acc.email, acc.is_active) == ("zelma.q@example.test", True)
    assert s.get(Erasure, er.id).customer_id is None


def test_the_hold_keeps_the_identity_categories_of_the_purposes_under_its_rule(
        session, cast, monkeypatch):
    from privacy import registry

    s, c = session, cast
    c.entry(c.me, c.ledger, HELD)
    for m in (c.me_a, c.me_b):
        s.delete(m)
    s.flush()
    # Only the ledger's purpose names the rule; support processes names too, under its own
    # rule: what support needs is no reason to keep anything.
    monkeypatch.setattr(registry, "purposes", lambda: [registry.purpose("support"),
                                                       registry.purpose("personnel_ledger")])
    with clock.frozen_at(NOW):
        acc = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True,
                           now=NOW).actions[-1]
    assert (acc.outcome, acc.columns) == ("withheld",
                                          ["first_name", "last_name", "identity_number_enc"])
    monkeypatch.setattr(registry, "purposes", lambda: [registry.purpose("support")])
    with clock.frozen_at(NOW):
        bare = erasure.plan(s, c.me.id, None, customer_ids=set(), platform=True,
                            now=NOW).actions[-1]
    assert (bare.outcome, bare.rule, bare.columns) == ("withheld", "personnel_ledger", [])
    assert (bare.values["first_name"], bare.values["identity_number_enc"]) == ("", None)
