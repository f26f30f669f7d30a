"""Retention's rules pinned with literal values: the erasure's ledger hold touches only the
person's entries, the hold's boundary (checked in before the cutoff, out after it), the run's
notes, limits, lock and failure record.

The personnel ledger's cutoff at NOW (2030-06-01 12:00 UTC) is 2027-12-31 23:00 UTC: the
start of 2028 in Stockholm, two calendar years back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import socket
import uuid

import pytest
from sqlalchemy import func, select

from entryfy import clock
from models import Entry, EntryCorrection, JobLock, RetentionRun
from privacy import registry, retention

UTC = dt.UTC
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = dt.datetime(2027, 12, 31, 23, 0, tzinfo=UTC)


def _entry(s, tenant, account, checked_in_at, checked_out_at=None, *, restricted=False):
    e = Entry(id=uuid.uuid4(), customer_id=tenant.customer.id, site_id=tenant.site.id,
              account_id=account.id, membership_id=tenant.worker_membership.id,
              employer_name="Sub AB", employer_org_nr="559012-3450",
              checked_in_at=checked_in_at,
              checked_out_at=checked_out_at or checked_in_at + dt.timedelta(hours=8),
              source="app", created_at=checked_in_at, restricted=restricted)
    s.add(e)
    s.flush()
    return e.id


def _correction(s, entry_id, customer_id, created_at):
    c = EntryCorrection(id=uuid.uuid4(), customer_id=customer_id, entry_id=entry_id,
                        before_checked_in_at=created_at, after_checked_in_at=created_at,
                        reason="forgot to tap", created_at=created_at)
    s.add(c)
    s.flush()
    return c.id


def _state(s, ids):
    s.expire_all()
    out = {}
    for i in ids:
        e = s.get(Entry, i)
        out[i] = None if e is None else e.restricted
    return out


def test_constants():
    assert retention.DEFAULT_BATCH == 5000
    assert retention.SQLITE_LOCK_TTL.total_seconds() == 6 * 3600
    assert retention.LOCK_NAME == "retention"
    # "ENTR" in ASCII, then crc32(b"retention") = 0x2d7f0e8c: computed once, by hand.
    assert retention.PG_LOCK_KEY == 0x454E54522D7F0E8C


def test_erasing_one_person_leaves_everyone_elses_entries(session, world):
    s = session
    a = world.a
    me, other = a.worker, a.admin
    mine_old = _entry(s, a, me, dt.datetime(2027, 3, 1, 7, tzinfo=UTC))
    mine_held = _entry(s, a, me, dt.datetime(2029, 3, 1, 7, tzinfo=UTC))
    theirs_old = _entry(s, a, other, dt.datetime(2027, 3, 1, 7, tzinfo=UTC))
    theirs_held = _entry(s, a, other, dt.datetime(2029, 3, 1, 7, tzinfo=UTC))
    my_fix = _correction(s, mine_old, a.customer.id, dt.datetime(2027, 3, 2, tzinfo=UTC))
    their_fix = _correction(s, theirs_old, a.customer.id, dt.datetime(2027, 3, 2, tzinfo=UTC))
    assert retention.hold_or_erase_entries(s, me.id, now=NOW) == {
        "entries_deleted": 1, "corrections_deleted": 1, "entries_restricted": 1}
    assert _state(s, [mine_old, mine_held, theirs_old, theirs_held]) == {
        mine_old: None, mine_held: True, theirs_old: False, theirs_held: False}
    assert s.get(EntryCorrection, my_fix) is None
    assert s.get(EntryCorrection, their_fix) is not None
    # Again: nothing more to delete, and the held entry is already restricted.
    assert retention.hold_or_erase_entries(s, me.id, now=NOW) == {
        "entries_deleted": 0, "corrections_deleted": 0, "entries_restricted": 0}
    assert retention.held_entries(s, me.id, now=NOW) == 1
    assert retention.held_entries(s, other.id, now=NOW) == 1


def test_the_hold_boundary(session, world):
    """Checked in before the cutoff but out after it: held. Checked in exactly at the cutoff:
    held (due means strictly before). Both notes before the cutoff: due."""
    s = session
    a = world.a
    me = a.worker
    across = _entry(s, a, me, CUTOFF - dt.timedelta(hours=2), CUTOFF + dt.timedelta(hours=1))
    at_cutoff = _entry(s, a, me, CUTOFF, CUTOFF + dt.timedelta(hours=1))
    out_at_cutoff = _entry(s, a, me, CUTOFF - dt.timedelta(hours=2), CUTOFF)
    before = _entry(s, a, me, CUTOFF - dt.timedelta(hours=3), CUTOFF - dt.timedelta(minutes=1))
    assert retention.held_entries(s, me.id, now=NOW) == 3
    assert retention.hold_or_erase_entries(s, me.id, now=NOW) == {
        "entries_deleted": 1, "corrections_deleted": 0, "entries_restricted": 3}
    assert _state(s, [across, at_cutoff, out_at_cutoff, before]) == {
        across: True, at_cutoff: True, out_at_cutoff: True, before: None}


def test_now_defaults_to_the_clock(session, world):
    s = session
    a = world.a
    e = _entry(s, a, a.worker, dt.datetime(2029, 3, 1, 7, tzinfo=UTC))
    with clock.frozen_at(dt.datetime(2031, 12, 31, 22, 59, tzinfo=UTC)):
        assert retention.held_entries(s, a.worker.id) == 1
    with clock.frozen_at(dt.datetime(2031, 12, 31, 23, 0, tzinfo=UTC)):
        assert retention.held_entries(s, a.worker.id) == 0
        assert retention.hold_or_erase_entries(s, a.worker.id)["entries_deleted"] == 1
    assert _state(s, [e]) == {e: None}


def _run(database, **kw):
    with clock.frozen_at(NOW):
        return retention.run(database, **kw)


def test_batch_size_must_be_at_least_one(database):
    with pytest.raises(ValueError, match=r"^batch_size must be at least 1$"):
        _run(database, batch_size=0)
    assert _run(database, batch_size=1, only=["support_case"]).status == "finished"


def test_the_host_is_named_and_cut_at_200_characters(session, database):
    report = _run(database, host="h" * 250, only=["support_case"])
    assert report.host == "h" * 200
    assert session.get(RetentionRun, report.run_id).host == "h" * 200
    report = _run(database, only=["support_case"])
    assert report.host == socket.gethostname()[:200]


def test_what_the_report_says_of_rules_it_does_not_run(session, database, monkeypatch):
    monkeypatch.delitem(retention._EXECUTORS, "support_case")
    no_period = dataclasses.replace(registry.retention_rule("account_lifetime"),
                                    key="no_period_rule", carried_out_by=None)
    rules = [registry.retention_rule("account_lifetime"), registry.retention_rule("contract"),
             registry.retention_rule("support_case"), no_period]
    monkeypatch.setattr(registry, "retention_rules", lambda: rules)
    seen = []
    report = _run(database, progress=lambda r: seen.append((r.rule, r.note)))
    notes = {r.rule: r.note for r in report.rules}
    assert notes == {
        "account_lifetime": "not run by this job: " + registry.retention_rule(
            "account_lifetime").carried_out_by,
        "contract": "not run by this job: customer offboarding (platform admin)",
        "support_case": "no executor registered",
        "no_period_rule": "no period",
    }
    assert seen == list(notes.items())
    assert report.total() == 0 and report.longest_batch_s == 0.0
    assert [r.batches for r in report.rules] == [0, 0, 0, 0]


def test_batches_progress_and_timing(session, database, monkeypatch, caplog):
    calls = []

    def executor(b):
        calls.append(b.state.get("n", 0))
        b.state["n"] = b.state.get("n", 0) + 1
        return {"closed": 2 if len(calls) < 3 else 0}

    monkeypatch.setitem(retention._EXECUTORS, "support_case", executor)
    seen = []
    during = []

    def progress(r):  # type: ignore[no-untyped-def]
        seen.append((r.batches, dict(r.counts)))
        with database.session() as s:
            run = s.scalars(select(RetentionRun).where(RetentionRun.host == "host-p")).one()
            during.append((run.status, run.finished_at, run.counts))

    with caplog.at_level(logging.INFO, logger="privacy.retention"):
        report = _run(database, only=["support_case"], progress=progress, host="host-p")
    assert during == [("running", None, "{}")] * 3
    assert "retention rule=support_case batches=3 counts={'closed': 4}" in caplog.messages
    # The state carries over between batches; the run stops at the first batch doing nothing.
    assert calls == [0, 1, 2]
    assert seen == [(1, {"closed": 2}), (2, {"closed": 4}), (3, {"closed": 4})]
    rule = report.rules[0]
    assert (rule.rule, rule.batches, rule.counts) == ("support_case", 3, {"closed": 4})
    assert rule.cutoff == NOW - dt.timedelta(days=28)
    assert 0 <= rule.longest_batch_s == report.longest_batch_s < 60
    assert report.total() == 4
    run = session.get(RetentionRun, report.run_id)
    assert json.loads(run.counts) == {"support_case": {"closed": 4}}
    assert run.counts == '{"support_case": {"closed": 4}}'
    # A dry run asks once and changes nothing.
    calls.clear()
    report = _run(database, only=["support_case"], dry_run=True)
    assert calls == [0] and report.rules[0].batches == 1 and report.dry_run is True


def test_a_failing_rule_records_the_run_as_failed_and_frees_the_lock(session, database,
                                                                    monkeypatch):
    def broken(b):
        raise RuntimeError("disk full")

    monkeypatch.setitem(retention._EXECUTORS, "support_case", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        _run(database, only=["support_case"], host="host-f")
    run = session.scalars(select(RetentionRun).where(RetentionRun.host == "host-f")).one()
    assert (run.status, run.finished_at) == ("failed", NOW)
    assert json.loads(run.counts) == {"support_case": {}}
    assert session.scalar(select(func.count()).select_from(JobLock)) == 0
    monkeypatch.setitem(retention._EXECUTORS, "support_case", lambda b: {"closed": 0})
    assert _run(database, only=["support_case"]).status == "finished"


def test_the_lock_row_while_a_run_works(session, database, backend, monkeypatch):
    if backend.name != "sqlite":
        pytest.skip("lock rows are SQLite's lock (PostgreSQL: an advisory lock)")
    rows = []

    def executor(b):
        with database.session() as s:
            rows.extend((r.name, r.holder, r.acquired_at, r.expires_at)
                        for r in s.scalars(select(JobLock)))
        return {"closed": 0}

    monkeypatch.setitem(retention._EXECUTORS, "support_case", executor)
    _run(database, only=["support_case"], host="host-l")
    [(name, holder, acquired, expires)] = rows
    assert name == "retention"
    assert holder.startswith("host-l:") and len(holder) == len("host-l:") + 8
    assert (acquired, expires) == (NOW, NOW + dt.timedelta(hours=6))
    assert session.scalar(select(func.count()).select_from(JobLock)) == 0


def test_a_lock_row_that_expires_exactly_now_still_holds(session, database, backend, caplog):
    if backend.name != "sqlite":
        pytest.skip("lock rows are SQLite's lock")
    session.add(JobLock(name="retention", holder="other", acquired_at=NOW - dt.timedelta(
        hours=6), expires_at=NOW))
    session.commit()
    with caplog.at_level(logging.INFO, logger="privacy.retention"):
        report = _run(database, only=["support_case"], dry_run=True, host="host-s")
    assert "retention run skipped: another run holds the lock" in caplog.messages
    assert (report.status, report.dry_run, report.host, report.rules) == (
        "skipped", True, "host-s", [])
    run = session.get(RetentionRun, report.run_id)
    assert (run.status, run.started_at, run.finished_at, run.counts, run.dry_run, run.host) == (
        "skipped", NOW, NOW, "{}", True, "host-s")
    # Releasing is by holder: the other host's row stays.
    assert session.scalars(select(JobLock.holder)).all() == ["other"]


def test_taking_the_lock_clears_only_its_own_expired_row(session, database, backend):
    """Another job's lock row (erasure runs take named locks too) stays, expired or not."""
    if backend.name != "sqlite":
        pytest.skip("lock rows are SQLite's lock")
    session.add(JobLock(name="erasure:other", holder="elsewhere",
                        acquired_at=NOW - dt.timedelta(days=2),
                        expires_at=NOW - dt.timedelta(days=1)))
    session.commit()
    assert _run(database, only=["support_case"]).status == "finished"
    assert session.scalars(select(JobLock.name)).all() == ["erasure:other"]


def test_the_recorded_counts_are_in_rule_order_by_name(session, database):
    """The registry lists security_log before audit_log; the stored JSON sorts its keys."""
    report = _run(database, only=["security_log", "audit_log"])
    assert [r.rule for r in report.rules] == ["security_log", "audit_log"]
    run = session.get(RetentionRun, report.run_id)
    assert run.counts.startswith('{"audit_log": {')
    assert list(json.loads(run.counts)) == ["audit_log", "security_log"]
