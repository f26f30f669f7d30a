"""Retention on a clock moved forward: each rule deletes exactly what is due and nothing else,
legal holds survive, a second run does nothing, a dry run changes nothing, two runs at once
do the work once."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
from sqlalchemy import func, inspect, select, text

from entryfy import clock
from models import (
    AccessToken,
    AuditEvent,
    Entry,
    EntryCorrection,
    JobLock,
    RetentionRun,
)
from models.tenancy import SYSTEM
from privacy import audit, registry, retention

UTC = dt.UTC
NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def _token(s, account, expires_at, revoked_at=None):
    t = AccessToken(id=uuid.uuid4(), account_id=account.id, kind="session",
                    token_hash=uuid.uuid4().hex + uuid.uuid4().hex, expires_at=expires_at,
                    revoked_at=revoked_at)
    s.add(t)
    return t


def _entry(s, tenant, checked_in_at, *, created_at=None, account=None):
    e = Entry(id=uuid.uuid4(), customer_id=tenant.customer.id, site_id=tenant.site.id,
              account_id=(account or tenant.worker).id,
              membership_id=tenant.worker_membership.id, employer_name="Sub AB",
              employer_org_nr="559012-3450", checked_in_at=checked_in_at,
              checked_out_at=checked_in_at + dt.timedelta(hours=8), source="app",
              created_at=created_at or checked_in_at)
    s.add(e)
    return e


def _correction(s, entry, created_at):
    c = EntryCorrection(id=uuid.uuid4(), customer_id=entry.customer_id, entry_id=entry.id,
                        before_checked_in_at=entry.checked_in_at,
                        after_checked_in_at=entry.checked_in_at + dt.timedelta(minutes=5),
                        reason="forgot to tap", created_at=created_at)
    s.add(c)
    return c


def _ids(s, model):
    return set(s.scalars(select(model.id)))


@pytest.fixture
def estate(session, make, world):
    """Rows on both sides of every rule's cutoff at NOW."""
    s = session
    a = world.a
    x = {}
    # security_log: 30 days after expiry or revocation -> cutoff 2030-05-02 12:00.
    x["tok_expired"] = _token(s, a.worker, dt.datetime(2030, 4, 1, tzinfo=UTC))
    x["tok_revoked"] = _token(s, a.worker, dt.datetime(2030, 9, 1, tzinfo=UTC),
                              revoked_at=dt.datetime(2030, 4, 15, tzinfo=UTC))
    x["tok_recent_expiry"] = _token(s, a.worker, dt.datetime(2030, 5, 20, tzinfo=UTC))
    x["tok_recent_revoked"] = _token(s, a.worker, dt.datetime(2030, 9, 1, tzinfo=UTC),
                                     revoked_at=dt.datetime(2030, 5, 3, tzinfo=UTC))
    x["tok_live"] = _token(s, a.admin, dt.datetime(2030, 8, 1, tzinfo=UTC))
    # membership: 90 days after valid_to -> cutoff 2030-03-03 12:00.
    old, recent = make.account(), make.account()
    x["m_ended_long_ago"] = make.membership(a.customer, old, valid_to=dt.datetime(
        2030, 1, 1, tzinfo=UTC))
    x["m_ended_recently"] = make.membership(a.customer, recent, valid_to=dt.datetime(
        2030, 4, 1, tzinfo=UTC))
    # personnel_ledger: 2 years after the end of the calendar year -> due if before
    # 2028-01-01 00:00 Stockholm (2027-12-31 23:00 UTC).
    x["e_2027"] = _entry(s, a, dt.datetime(2027, 5, 3, 6, 0, tzinfo=UTC))
    x["e_2027_last_minute"] = _entry(s, world.b, dt.datetime(2027, 12, 31, 14, 0, tzinfo=UTC))
    x["e_2028_new_year_night"] = _entry(s, a, dt.datetime(2027, 12, 31, 23, 30, tzinfo=UTC))
    x["e_2029"] = _entry(s, a, dt.datetime(2029, 2, 1, 7, 0, tzinfo=UTC))
    x["e_2027_corrected_2028"] = _entry(s, a, dt.datetime(2027, 6, 1, 7, 0, tzinfo=UTC))
    x["e_2027_with_old_correction"] = _entry(s, a, dt.datetime(2027, 7, 1, 7, 0, tzinfo=UTC))
    s.flush()
    x["c_2028"] = _correction(s, x["e_2027_corrected_2028"],
                              dt.datetime(2028, 3, 1, tzinfo=UTC))
    x["c_2027"] = _correction(s, x["e_2027_with_old_correction"],
                              dt.datetime(2027, 7, 2, tzinfo=UTC))
    # access_log: door events 90 days -> cutoff 2030-03-03 12:00.
    from models.doors import AccessEvent

    for key, when in (("ae_old", dt.datetime(2030, 1, 1, tzinfo=UTC)),
                      ("ae_recent", dt.datetime(2030, 5, 1, tzinfo=UTC))):
        x[key] = AccessEvent(id=uuid.uuid4(), customer_id=a.customer.id, occurred_at=when,
                             account_id=a.worker.id, outcome="granted", source="app",
                             recorded_at=when)
        s.add(x[key])
    # audit_log: 2 years -> cutoff 2028-06-01 12:00; chains pruned as whole prefixes.
    for when in (dt.datetime(2028, 1, 1, tzinfo=UTC), dt.datetime(2028, 2, 1, tzinfo=UTC),
                 dt.datetime(2029, 1, 1, tzinfo=UTC)):
        with clock.frozen_at(when):
            audit.record(s, action="member.read", customer_id=a.customer.id,
                         actor_id=a.admin.id, subject_id=a.worker.id)
            audit.record(s, action="account.new_device_sign_in", customer_id=None,
                         subject_id=a.worker.id)
    s.commit()
    return x


DUE = {"tok_expired", "tok_revoked", "m_ended_long_ago", "ae_old", "e_2027", "e_2027_last_minute",
       "e_2027_with_old_correction", "c_2027"}


def _run(database, **kw):
    with clock.frozen_at(NOW):
        return retention.run(database, host="test-host", **kw)


def _present(s, estate):
    keys = {k: (type(obj), inspect(obj).identity[0]) for k, obj in estate.items()}
    s.expire_all()
    return {k for k, (model, ident) in keys.items() if s.get(model, ident) is not None}


def test_each_rule_deletes_exactly_what_is_due(session, database, estate):
    before_audit = session.scalar(select(func.count()).select_from(AuditEvent))
    report = _run(database)
    assert report.status == "finished"
    assert _present(session, estate) == set(estate) - DUE
    counts = {r.rule: r.counts for r in report.rules}
    assert counts["security_log"] == {"deleted": 2}
    assert counts["membership"] == {"deleted": 1}
    assert counts["access_log"] == {"deleted": 1}
    assert counts["personnel_ledger"] == {"entries_deleted": 3, "corrections_deleted": 1}
    assert counts["audit_log"] == {"audit_events_deleted": 4, "retention_runs_deleted": 0}
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before_audit - 4
    # The trail still verifies after its oldest records went.
    assert list(audit.verify(session)) == []
    notes = {r.rule: r.note for r in report.rules if r.note}
    assert "account deletion" in notes["account_lifetime"]


def test_a_second_run_does_nothing(session, database, estate):
    _run(database)
    second = _run(database)
    assert second.total() == 0
    assert _present(session, estate) == set(estate) - DUE


def test_a_dry_run_changes_nothing_and_says_what_it_would_do(session, database, estate):
    report = _run(database, dry_run=True)
    assert _present(session, estate) == set(estate)
    counts = {r.rule: r.counts for r in report.rules}
    assert counts["security_log"] == {"deleted": 2}
    assert counts["personnel_ledger"] == {"entries_deleted": 3, "corrections_deleted": 1}
    assert counts["audit_log"]["audit_events_deleted"] == 4
    run = session.get(RetentionRun, report.run_id)
    assert run.dry_run and run.status == "finished"
    assert json.loads(run.counts)["membership"] == {"deleted": 1}


def test_small_batches_give_the_same_result(session, database, estate):
    report = _run(database, batch_size=1)
    assert _present(session, estate) == set(estate) - DUE
    ledger = next(r for r in report.rules if r.rule == "personnel_ledger")
    assert ledger.batches == 4  # three of one row each, then one that finds nothing


def test_each_run_is_recorded(session, database, estate):
    report = _run(database)
    run = session.get(RetentionRun, report.run_id)
    assert (run.status, run.host, run.dry_run) == ("finished", "test-host", False)
    assert run.started_at == NOW and run.finished_at == NOW
    assert json.loads(run.counts)["security_log"] == {"deleted": 2}


def test_nothing_is_due_before_its_time(session, database, estate):
    with clock.frozen_at(dt.datetime(2027, 1, 1, tzinfo=UTC)):
        report = retention.run(database)
    assert report.total() == 0
    assert _present(session, estate) == set(estate)


def test_legal_hold_survives_erasure_and_goes_when_its_period_ends(session, database, world):
    s = session
    a = world.a
    old = _entry(s, a, dt.datetime(2027, 3, 1, 7, 0, tzinfo=UTC))
    held = _entry(s, a, dt.datetime(2029, 3, 1, 7, 0, tzinfo=UTC))
    s.commit()
    with clock.frozen_at(NOW):
        assert retention.held_entries(s, a.worker.id) == 1
        # The person asks for erasure: what the law no longer requires goes, the rest is
        # kept, restricted to ledger use.
        assert retention.hold_or_erase_entries(s, a.worker.id) == {
            "entries_deleted": 1, "corrections_deleted": 0, "entries_restricted": 1}
    s.commit()
    old_id, held_id = inspect(old).identity[0], inspect(held).identity[0]
    s.expire_all()
    assert s.get(Entry, old_id) is None
    assert s.get(Entry, held_id).restricted is True
    # Retention at NOW keeps it: 2029 is held until the end of 2031.
    _run(database)
    s.expire_all()
    assert s.get(Entry, held_id) is not None
    with clock.frozen_at(dt.datetime(2031, 12, 31, 22, 59, tzinfo=UTC)):
        retention.run(database)
    s.expire_all()
    assert s.get(Entry, held_id) is not None
    with clock.frozen_at(dt.datetime(2031, 12, 31, 23, 0, tzinfo=UTC)):  # 00:00 Stockholm
        retention.run(database)
    s.expire_all()
    assert s.get(Entry, held_id) is None


def test_a_run_skips_while_another_holds_the_lock(session, database, backend, estate):
    if backend.name == "postgresql":
        other = database.engine.connect()
        other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": retention.PG_LOCK_KEY})
        other.commit()
    else:
        session.add(JobLock(name=retention.LOCK_NAME, holder="other-host", acquired_at=NOW,
                            expires_at=NOW + dt.timedelta(hours=1)))
        session.commit()
    try:
        report = _run(database)
    finally:
        if backend.name == "postgresql":
            other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": retention.PG_LOCK_KEY})
            other.commit()
            other.close()
    assert report.status == "skipped" and report.rules == []
    assert _present(session, estate) == set(estate)
    assert session.get(RetentionRun, report.run_id).status == "skipped"


def test_a_stale_lock_row_is_taken_over(session, database, backend, estate):
    if backend.name != "sqlite":
        pytest.skip("lock rows are SQLite's lock")
    session.add(JobLock(name=retention.LOCK_NAME, holder="crashed-host",
                        acquired_at=NOW - dt.timedelta(days=2),
                        expires_at=NOW - dt.timedelta(days=1)))
    session.commit()
    assert _run(database).status == "finished"
    assert session.scalar(select(func.count()).select_from(JobLock)) == 0


def test_register_refuses_an_undeclared_rule():
    with pytest.raises(KeyError):
        retention.register("no_such_rule", lambda b: {})


def test_a_registered_executor_is_called_in_batches(session, database, world, monkeypatch):
    calls = []

    def executor(b: retention.Batch) -> dict[str, int]:
        calls.append((b.rule.key, b.cutoff, b.limit, b.dry_run))
        return {"closed": 0}

    monkeypatch.setitem(retention._EXECUTORS, "support_case", executor)
    report = _run(database, only=["support_case"], batch_size=7)
    assert calls == [("support_case", NOW - dt.timedelta(days=28), 7, False)]
    assert [r.rule for r in report.rules] == ["support_case"]


def test_retention_cli_dry_run_and_run(runner, session, estate):
    with clock.frozen_at(NOW):
        r = runner.invoke(args=["retention", "run", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "security_log: would deleted=2" in r.output
    assert _present(session, estate) == set(estate)
    with clock.frozen_at(NOW):
        r = runner.invoke(args=["retention", "run", "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    assert "personnel_ledger: did entries_deleted=3, corrections_deleted=1" in r.output
    assert _present(session, estate) == set(estate) - DUE
    # The trail's oldest records went, and it still verifies.
    r = runner.invoke(args=["audit", "verify"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["retention", "run", "--rule", "nope"])
    assert r.exit_code == 2


def test_two_runs_at_once_do_the_work_once(committed, backend, make):
    """Real commits, two threads: the one that gets the lock works, the other skips."""
    if backend.name != "postgresql":
        pytest.skip("concurrent hosts need a server database")
    acc = make.account()
    s = make.s
    for _ in range(5):
        _token(s, acc, dt.datetime(2030, 1, 1, tzinfo=UTC))
    s.commit()
    started, other_done = threading.Event(), threading.Event()
    results: dict[str, retention.RunReport] = {}

    def first_progress(_r):
        started.set()
        other_done.wait(30)

    def first():
        results["first"] = retention.run(committed, batch_size=2, progress=first_progress,
                                         host="host-1")

    def second():
        started.wait(30)
        try:
            results["second"] = retention.run(committed, batch_size=2, host="host-2")
        finally:
            other_done.set()

    with clock.frozen_at(NOW):
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert results["first"].status == "finished"
    assert results["second"].status == "skipped"
    tokens = next(r for r in results["first"].rules if r.rule == "security_log")
    assert tokens.counts == {"deleted": 5}
    with committed.transaction(SYSTEM) as c:
        assert c.scalar(select(func.count()).select_from(AccessToken)) == 0
        statuses = sorted(c.scalars(select(RetentionRun.status)))
    assert statuses == ["finished", "skipped"]


def test_the_rules_read_their_periods_from_the_registry():
    for key in ("security_log", "membership", "personnel_ledger", "audit_log"):
        assert key in retention.executors()
        assert registry.retention_rule(key).period is not None
