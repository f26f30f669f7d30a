"""The worker: the mail outbox (sent after the commit, kept while SMTP is down), scheduled
jobs (each due job once per period, whichever worker; retention daily; request reminders;
controller-offline detection), a live worker delivering a check-in's webhook within
seconds, two workers delivering each event once, the command line and a graceful stop."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from entryfy import clock, jobs, mail, outbox
from entryfy.ops import doors as door_ops
from entryfy.ops import events
from entryfy.ops import webhooks as webhook_ops
from entryfy.worker import AlreadyRunning, Worker, sqlite_lock
from models import (
    DataRequest,
    DataRequestPart,
    OutboxMail,
    RetentionRun,
    ScheduledJob,
    WebhookDelivery,
)
from tests.attendance import at_site, give_identity_number, key
from tests.factories import bearer
from tests.receiver import Receiver


@pytest.fixture
def private_ok(monkeypatch):
    monkeypatch.setenv("ENTRYFY_WEBHOOKS_ALLOW_PRIVATE", "1")


@pytest.fixture
def held_mail(app):
    """Mail stays in the outbox after the commit (as in production with SMTP)."""
    m = app.extensions["entryfy.mail"]
    m.deliver_after_commit = False
    yield m
    m.deliver_after_commit = None


def _ask(client, account) -> str:
    """A privacy request from outside: a confirmation code is mailed to the account."""
    r = client.post("/api/v1/privacy/requests", json={"email": account.email, "type": "access"})
    assert r.status_code == 202, r.get_json()
    return account.email


def _row(session, address):
    return session.scalar(select(OutboxMail).where(OutboxMail.to_address == address)
                          .execution_options(populate_existing=True))


def _mail_to(address: str) -> list:
    return [m for m in mail.mailer().messages() if m["To"] == address]


# ------------------------------------------------------------------ the mail outbox

def test_mail_waits_in_the_outbox_until_the_worker_sends_it(app, client, session, database,
                                                           world, held_mail):
    to = _ask(client, world.a.worker)
    row = _row(session, to)
    assert row is not None and row.status == "pending"
    assert "code" not in row.content_enc.lower()  # encrypted at rest
    assert _mail_to(to) == []
    done = Worker(database, held_mail, run_jobs=False).run_once()
    assert done["mail"] == {"sent": 1}
    sent, = _mail_to(to)
    assert "confirmation code" in sent.get_content()
    assert sent["Message-ID"] == f"<{row.message_id}>"
    session.refresh(row)
    assert row.status == "sent" and row.sent_at is not None


def test_development_sends_right_after_the_commit(client, session, world):
    """No SMTP_URL (the .eml folder): the mail is in the folder when the answer comes."""
    to = _ask(client, world.a.worker)
    assert len(_mail_to(to)) == 1
    assert _row(session, to).status == "sent"


def test_a_rolled_back_request_mails_nothing(client, session, world, monkeypatch):
    from api import privacy_rights
    from entryfy.errors import Conflict

    original = privacy_rights.dsr.submit_from_outside

    def then_fail(*a, **kw):
        original(*a, **kw)  # the mail is queued here ...
        raise Conflict("refused for the test", slug="test-refusal")  # ... and rolled back

    monkeypatch.setattr(privacy_rights.dsr, "submit_from_outside", then_fail)
    r = client.post("/api/v1/privacy/requests",
                    json={"email": world.a.worker.email, "type": "access"})
    assert r.status_code == 409
    assert _mail_to(world.a.worker.email) == []
    assert _row(session, world.a.worker.email) is None


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_down_smtp_server_loses_nothing(app, client, session, database, world, held_mail,
                                          tmp_path):
    to = _ask(client, world.a.worker)
    down = mail.Mailer(f"smtp://127.0.0.1:{_closed_port()}", str(tmp_path / "unused"))
    assert Worker(database, down, run_jobs=False).run_once()["mail"] == {"retry": 1}
    row = _row(session, to)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "smtp-unavailable")
    assert row.next_attempt_at > clock.now()
    # The server is back (here: the folder mailer); once due, the mail goes out.
    with clock.frozen_at(clock.now() + dt.timedelta(seconds=10)):
        assert Worker(database, held_mail, run_jobs=False).run_once()["mail"] == {"sent": 1}
    assert len(_mail_to(to)) == 1


def test_mail_outside_a_transaction_is_sent_at_once(app, tmp_path):
    with app.app_context():
        before = len(mail.mailer().messages())
        mail.send("direct@example.test", "Hello", "Body")
        assert len(mail.mailer().messages()) == before + 1


def test_mail_in_a_cli_transaction_goes_through_the_outbox(app, session, database, held_mail):
    with app.app_context(), database.transaction() as s:
        mail.send("cli.person@example.test", "From a job", "Body")
        assert s.scalar(select(func.count()).select_from(OutboxMail).where(
            OutboxMail.to_address == "cli.person@example.test")) == 1
    assert _mail_to("cli.person@example.test") == []
    with pytest.raises(RuntimeError), app.app_context(), database.transaction():
        mail.send("rolled.back@example.test", "Never", "Body")
        raise RuntimeError("the job fails")
    assert session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.to_address == "rolled.back@example.test")) == 0


def test_outbox_mail_retention(session, database):
    old = clock.now() - dt.timedelta(days=8)
    rows = [OutboxMail(id=uuid.uuid4(), to_address=f"r{i}@example.test", content_enc="v1:x",
                       message_id=f"m{i}", status=status, attempts=1, next_attempt_at=old,
                       sent_at=sent)
            for i, (status, sent) in enumerate([("sent", old), ("failed", old),
                                                ("sent", clock.now()), ("pending", None)])]
    session.add_all(rows)
    session.commit()
    from privacy import retention

    retention.run(database, only=["outbox_mail"])
    left = session.scalars(select(OutboxMail.message_id).where(
        OutboxMail.message_id.in_(["m0", "m1", "m2", "m3"]))).all()
    assert sorted(left) == ["m2", "m3"]


def test_backoff_spans_about_a_day():
    total = sum(outbox.BACKOFF, dt.timedelta())
    assert dt.timedelta(hours=22) < total < dt.timedelta(hours=26)
    now = clock.now()
    assert outbox.next_attempt(1, now) == now + dt.timedelta(seconds=5)
    assert outbox.next_attempt(outbox.MAX_ATTEMPTS, now) is None


# ------------------------------------------------------------------ scheduled jobs

def test_retention_runs_from_the_schedule_once_a_day(session, database):
    before = session.scalar(select(func.count()).select_from(RetentionRun))
    t0 = clock.now()
    with clock.frozen_at(t0):
        assert jobs.run_due(database, "w1", only=["retention"]) == {"retention": "finished"}
        assert jobs.run_due(database, "w2", only=["retention"]) == {}  # not due again yet
    with clock.frozen_at(t0 + dt.timedelta(hours=23)):
        assert jobs.run_due(database, "w1", only=["retention"]) == {}
    with clock.frozen_at(t0 + dt.timedelta(days=1, seconds=1)):
        assert jobs.run_due(database, "w2", only=["retention"]) == {"retention": "finished"}
    assert session.scalar(select(func.count()).select_from(RetentionRun)) == before + 2
    row = session.get(ScheduledJob, "retention", populate_existing=True)
    assert row.last_status == "finished" and row.holder == "w2"


def test_a_failing_job_does_not_stop_the_others(session, database):
    ran = []
    jobs.register("test_boom", dt.timedelta(minutes=1), lambda db: 1 / 0)
    jobs.register("test_fine", dt.timedelta(minutes=1), lambda db: ran.append(1))
    try:
        done = jobs.run_due(database, "w", only=["test_boom", "test_fine"])
        assert done == {"test_boom": "failed", "test_fine": "finished"} and ran == [1]
    finally:
        jobs._JOBS.pop("test_boom")
        jobs._JOBS.pop("test_fine")


def test_registering_a_session_job_is_one_line(session, database, world):
    seen = []
    jobs.register("test_auto", dt.timedelta(minutes=5),
                  jobs.in_transaction(lambda s: seen.append(s.is_active)))
    try:
        assert jobs.run_due(database, "w", only=["test_auto"]) == {"test_auto": "finished"}
        assert seen == [True]
    finally:
        jobs._JOBS.pop("test_auto")


def _pending_parts(session, person, now, *due_in_days):
    """A person's access request received 25 days ago, with one pending part per
    (customer, days until due)."""
    req = DataRequest(account_id=person.id, type="access", status="in_progress",
                      channel="session", received_at=now - dt.timedelta(days=25),
                      due_at=now + dt.timedelta(days=5))
    session.add(req)
    session.flush()
    parts = [DataRequestPart(request_id=req.id, customer_id=customer.id, account_id=person.id,
                             status="pending", due_at=now + dt.timedelta(days=days))
             for customer, days in due_in_days]
    session.add_all(parts)
    return parts


def test_request_due_dates_are_reminded_once(session, database, world, app):
    now = clock.now()
    soon, later = _pending_parts(session, world.a.worker, now,
                                 (world.a.customer, 5), (world.b.customer, 20))
    session.commit()
    with app.app_context():
        assert jobs.run_due(database, "w", only=["request_due_reminders"]) == {
            "request_due_reminders": "finished"}
    told = [m for m in _mail_to(world.a.admin.email) if "awaits your decision" in m["Subject"]]
    assert len(told) == 1 and str(soon.id) in told[0].get_content()
    assert [m for m in _mail_to(world.b.admin.email) if "awaits" in m["Subject"]] == []
    assert world.a.worker.email not in told[0].get_content()
    session.refresh(soon)
    session.refresh(later)
    assert soon.reminded_at is not None and later.reminded_at is None
    with app.app_context(), clock.frozen_at(now + dt.timedelta(hours=2)):
        jobs.run_due(database, "w", only=["request_due_reminders"])
    assert len([m for m in _mail_to(world.a.admin.email) if "awaits" in m["Subject"]]) == 1


def test_a_reminder_waits_for_a_current_admin(session, database, world, app, make, caplog):
    """A customer whose admin memberships have all ended has nobody to remind: the part
    stays unreminded and the log says so (ids only); once the customer has a current admin
    again, the next run reminds them."""
    import logging

    from models import Membership

    now = clock.now()
    admin_m = session.scalar(select(Membership).where(
        Membership.customer_id == world.a.customer.id,
        Membership.account_id == world.a.admin.id))
    admin_m.valid_to = now - dt.timedelta(days=1)
    (part,) = _pending_parts(session, world.a.worker, now, (world.a.customer, 5))
    session.commit()
    with app.app_context(), caplog.at_level(logging.WARNING, logger="entryfy.jobs"):
        assert jobs.run_due(database, "w", only=["request_due_reminders"]) == {
            "request_due_reminders": "finished"}
    assert [m for m in _mail_to(world.a.admin.email) if "awaits" in m["Subject"]] == []
    session.refresh(part)
    assert part.reminded_at is None
    said = [r.getMessage() for r in caplog.records if "no current admin" in r.getMessage()]
    assert said == [f"request reminder not sent: customer={world.a.customer.id} has no "
                    f"current admin (part={part.id}, due {part.due_at:%Y-%m-%d})"]
    assert world.a.admin.email not in said[0] and world.a.worker.email not in said[0]

    successor = make.account()
    make.membership(world.a.customer, successor, "admin")
    session.commit()
    with app.app_context(), clock.frozen_at(now + dt.timedelta(hours=2)):
        jobs.run_due(database, "w", only=["request_due_reminders"])
    told = [m for m in _mail_to(successor.email) if "awaits your decision" in m["Subject"]]
    assert len(told) == 1 and str(part.id) in told[0].get_content()
    session.refresh(part)
    assert part.reminded_at is not None


def test_controller_offline_is_flagged_once_and_cleared_by_a_call(session, database, world):
    c, _ = door_ops.create_controller(session, customer_id=world.a.customer.id, name="Gate")
    c.last_seen_at = clock.now() - dt.timedelta(minutes=10)
    fresh, _ = door_ops.create_controller(session, customer_id=world.a.customer.id,
                                          name="Fresh")
    fresh.last_seen_at = clock.now()
    session.commit()
    alerts = []

    def hook(s, ctl):  # type: ignore[no-untyped-def]
        alerts.append(ctl.id)

    jobs.ON_CONTROLLER_OFFLINE.append(hook)
    try:
        jobs.run_due(database, "w", only=["controller_offline"])
        session.refresh(c)
        session.refresh(fresh)
        assert c.offline_since is not None and fresh.offline_since is None
        assert alerts == [c.id]
        with clock.frozen_at(clock.now() + dt.timedelta(minutes=2)):
            jobs.run_due(database, "w", only=["controller_offline"])
        assert alerts == [c.id]  # once per silence
        door_ops.seen(session, c)
        session.commit()
        assert c.offline_since is None
    finally:
        # Only the test's own hook: the doors feature's alert hook stays registered.
        jobs.ON_CONTROLLER_OFFLINE.remove(hook)


# ------------------------------------------------------------------ live workers

def _endpoint(session, customer_id, url, events_=("entry.created",)):
    ep, secret = webhook_ops.create_endpoint(session, customer_id, url=url, events=events_,
                                             actor_id=None)
    session.commit()
    return ep, secret


def test_a_running_worker_delivers_a_check_in_within_seconds(app, committed, session, make,
                                                             private_ok):
    t = make.tenant()
    rec = Receiver()
    w = Worker(committed, app.extensions["entryfy.mail"], poll_s=0.05, run_jobs=False)
    thread = threading.Thread(target=w.run_forever, daemon=True)
    try:
        _, secret = _endpoint(session, t.customer.id, rec.url)
        give_identity_number(session, t.worker)
        client = app.test_client()
        h = bearer(client, t.worker)
        thread.start()
        started = time.monotonic()
        r = client.post("/api/v1/entries", json=at_site(t.site), headers={**h, **key()})
        assert r.status_code == 201
        got = rec.wait_for(1, timeout_s=10)
        elapsed = time.monotonic() - started
        assert len(got) == 1, "no delivery within 10 s"
        assert elapsed < 5, elapsed
        headers, body = got[0]
        msg = Webhook(secret).verify(body, headers)
        assert msg["type"] == "entry.created" and msg["data"]["id"] == r.get_json()["id"]
    finally:
        w.stop()
        thread.join(timeout=10)
        rec.close()
    assert not thread.is_alive()


def test_two_workers_deliver_each_event_once(app, committed, session, make, backend,
                                             private_ok):
    if backend.name != "postgresql":
        pytest.skip("several workers at once is PostgreSQL's (SQLite takes one)")
    t = make.tenant()
    rec = Receiver(delay_s=0.01)
    try:
        _endpoint(session, t.customer.id, rec.url, ("member.created",))
        for i in range(60):
            events.emit(session, t.customer.id, "member.created", {"id": uuid.uuid4(), "n": i})
        session.commit()
        workers = [Worker(committed, app.extensions["entryfy.mail"], batch=5, run_jobs=False)
                   for _ in range(2)]
        results: list[dict] = []
        threads = [threading.Thread(target=lambda w=w: results.append(w.run_once()))
                   for w in workers]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=60)
        ids = [h["webhook-id"] for h, _ in rec.received]
        assert len(ids) == 60 and len(set(ids)) == 60
        per_worker = [r["webhooks"].get("delivered", 0) for r in results]
        assert sum(per_worker) == 60 and all(n > 0 for n in per_worker), per_worker
        assert session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.customer_id == t.customer.id,
            WebhookDelivery.status == "delivered")) == 60
    finally:
        rec.close()


def test_sqlite_takes_one_worker(database, backend):
    if backend.name != "sqlite":
        pytest.skip("the file lock is SQLite's")
    with sqlite_lock(database), pytest.raises(AlreadyRunning), sqlite_lock(database):
        pass
    with sqlite_lock(database):  # released: free again
        pass


def test_worker_once_from_the_command_line(runner, session, database, world, held_mail):
    with runner.app.app_context(), database.transaction():
        mail.send("cron.person@example.test", "From cron", "Body")
    r = runner.invoke(args=["worker", "--once", "--no-jobs"])
    assert r.exit_code == 0, r.output
    assert '"sent": 1' in r.output
    assert len(_mail_to("cron.person@example.test")) == 1
    bad = runner.invoke(args=["worker", "--once", "--job", "no_such_job"])
    assert bad.exit_code != 0 and "unknown job" in bad.output


def test_sigterm_stops_the_worker_gracefully(tmp_path):
    """A real process: `entryfy worker` on a fresh SQLite database stops on SIGTERM with
    exit code 0."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "ENTRYFY_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
           "ENTRYFY_OUTBOX": str(tmp_path / "outbox")}
    exe = str(Path(sys.executable).with_name("entryfy"))
    assert subprocess.run([exe, "db", "upgrade"], env=env, cwd=root, capture_output=True,
                          timeout=120, check=False).returncode == 0
    p = subprocess.Popen([exe, "worker", "--poll", "0.1"], env=env, cwd=root,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stderr is not None
        line = ""
        while "started" not in line:  # blocks until it says it runs
            line = p.stderr.readline().decode()
            assert line, "the worker ended before it started"
        time.sleep(0.5)  # in its loop
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert "stopped" in p.stderr.read().decode()
    finally:
        if p.poll() is None:
            p.kill()
