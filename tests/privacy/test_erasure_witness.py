"""Erasure that stays erased (issue #20): the witness journal outside the database, a restore
drill on both backends, erasure racing check-ins and door opens, the legal hold per row, the
published audit heads, idempotent requests and a witness that cannot be written."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, Text, func, select, text
from sqlalchemy.engine import make_url

from entryfy import witness
from models import (
    AccessEvent,
    Account,
    DataRequest,
    DataRequestPart,
    Entry,
    Erasure,
    ErasureRecord,
    Membership,
)
from models.base import Base
from models.tenancy import SYSTEM
from privacy import erasure_flow, journal
from tests import doorkit
from tests.factories import PASSWORD, Factory, bearer, login

API = "/api/v1"
INSIDE = doorkit.INSIDE
# Text columns that may still hold an identifier after erasure: none, for a person with no
# ledger-site entries. Hits anywhere are residue.


# ------------------------------------------------------------------ helpers

def _person(s, make: Factory, *, ledger: bool, email: str, with_door: bool = False
            ) -> dict[str, Any]:
    customer = make.customer()
    admin = make.account()
    make.membership(customer, admin, "admin")
    worker = make.account(email=email, first_name="Zelmira", last_name="Quornstedt",
                          phone="+46701234567")
    wm = make.membership(customer, worker, "member", employer_name="Quornstedt Bygg AB")
    site = make.site(customer, geofence="record",
                     ledger_id=f"LEDGER-{uuid.uuid4().hex[:6]}" if ledger else None)
    if ledger:
        from entryfy.ops import identity

        identity.set_identity_number(s, worker, "19811218-9876")
        s.commit()
    out = {"customer": customer, "admin": admin, "worker": worker, "membership": wm,
           "site": site, "email": email}
    if with_door:
        door = doorkit.door(s, site, name="Gate")
        doorkit.access(s, [door], [wm], ["app"])
        out["door"] = door
    return out


def _erase_via_api(client, p: dict[str, Any], headers: dict[str, str],
                   key: str | None = None) -> Any:
    h = dict(headers)
    if key:
        h["Idempotency-Key"] = key
    r = client.post(f"{API}/me/requests", headers=h,
                    json={"type": "erasure", "password": PASSWORD})
    assert r.status_code in (200, 201), r.get_json()
    rid = r.get_json()["id"]
    csrf = login(client, p["admin"])
    d = client.post(f"{API}/customers/{p['customer'].id}/requests/{rid}/decision",
                    headers={"X-CSRF-Token": csrf}, json={"decision": "approve"})
    client.post(f"{API}/auth/logout", headers={"X-CSRF-Token": csrf})
    return rid, d


def identifier_hits(s, values: list[str]) -> list[tuple[str, str]]:
    """Every (table, column) whose text holds one of ``values``: a scan of every table."""
    hits = []
    for t in Base.metadata.sorted_tables:
        for c in t.c:
            if not isinstance(c.type, (String, Text)):
                continue
            for v in values:
                n = s.scalar(select(func.count()).select_from(t).where(
                    func.lower(c).contains(v.lower())))
                if n:
                    hits.append((t.name, c.name))
    return hits


def account_refs(s, account_id: uuid.UUID) -> dict[str, int]:
    """Rows in every table whose uuid columns name the account, except the append-only trails
    that hold references only (audit events) and the erasure's own proof."""
    out: dict[str, int] = {}
    for t in Base.metadata.sorted_tables:
        if t.name in ("audit_events", "erasures", "erasure_records"):
            continue
        for c in t.c:
            if c.type.python_type is not uuid.UUID:
                continue
            n = s.scalar(select(func.count()).select_from(t).where(c == account_id))
            if n:
                out[f"{t.name}.{c.name}"] = n
    return out


# ------------------------------------------------------------------ journal

def test_an_erasure_writes_one_authenticated_journal_line_without_the_data(
        client, session, make, witness_dir):
    acc = make.account(email="solo.journal@example.test", first_name="Solveig",
                       last_name="Journalsdotter")
    acc_id = acc.id
    r = client.post(f"{API}/me/requests", headers=bearer(client, acc),
                    json={"type": "erasure", "password": PASSWORD})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["status"] == "completed"
    raw = (witness_dir / "erasures.jsonl").read_text()
    lines = raw.splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["account_id"] == str(acc_id) and line["customer_id"] is None
    assert line["request_id"] == r.get_json()["id"]
    assert set(line) == {"v", "kind", "account_id", "email_hash", "request_id", "customer_id",
                         "at", "mac"}
    for value in ("solo.journal", "Solveig", "Journalsdotter"):
        assert value.lower() not in raw.lower()
    good, bad = journal.erasures()
    assert [g.account_id for g in good] == [acc_id] and bad == []


def test_a_tampered_journal_line_is_reported_not_acted_on(client, make, witness_dir, runner):
    acc = make.account()
    r = client.post(f"{API}/me/requests", headers=bearer(client, acc),
                    json={"type": "erasure", "password": PASSWORD})
    assert r.status_code == 201
    path = witness_dir / "erasures.jsonl"
    line = json.loads(path.read_text())
    line["account_id"] = str(uuid.uuid4())  # someone redirects the erasure
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
        f.write("not json at all\n")
    result = runner.invoke(args=["privacy", "reapply-erasures"])
    assert result.exit_code == 1
    assert "UNVERIFIED journal line 2: authentication code does not verify" in result.output
    assert "UNVERIFIED journal line 3: not JSON" in result.output
    assert "1 journal lines checked, 0 applied again, residue 0" in result.output


def test_reapply_spares_an_account_made_with_the_address_after_the_erasure(
        client, session, make, witness_dir, runner):
    gone = make.account(email="comes.back@example.test")
    gone_id = gone.id
    r = client.post(f"{API}/me/requests", headers=bearer(client, gone),
                    json={"type": "erasure", "password": PASSWORD})
    assert r.get_json()["status"] == "completed"
    # The person signs up again later: a new account, not the erased one restored.
    again = make.account(email="comes.back@example.test", first_name="Returning")
    again_id = again.id
    session.commit()
    result = runner.invoke(args=["privacy", "reapply-erasures"])
    assert result.exit_code == 0, result.output
    assert "1 journal lines checked, 0 applied again, residue 0" in result.output
    session.expire_all()
    assert session.get(Account, gone_id) is None
    kept = session.get(Account, again_id)
    assert kept is not None and kept.is_active
    assert (kept.email, kept.first_name) == ("comes.back@example.test", "Returning")
    assert client.get(f"{API}/me", headers=bearer(client, kept)).status_code == 200


def test_a_torn_witness_line_does_not_swallow_the_next_one(tmp_path):
    w = witness.FileWitness(tmp_path / "w")
    w.append("erasures", '{"first":1}')
    with (tmp_path / "w" / "erasures.jsonl").open("ab") as f:
        f.write(b'{"torn":')  # a write cut short: disk full, power lost
    w.append("erasures", '{"second":2}')
    assert list(w.lines("erasures")) == ['{"first":1}', '{"torn":', '{"second":2}']


# ------------------------------------------------------------------ the legal hold per row

def test_erasure_at_a_site_without_a_ledger_keeps_no_name(client, session, make):
    p = _person(session, make, ledger=False, email="noledger@example.test")
    h = bearer(client, p["worker"])
    for i in range(3):
        r = client.post(f"{API}/entries", headers={**h, "Idempotency-Key": f"k{i}"},
                        json={"site_id": str(p["site"].id), **INSIDE})
        assert r.status_code == 201, r.get_json()
        eid = r.get_json()["id"]
        assert client.post(f"{API}/entries/{eid}/checkout", headers=h,
                           json={}).status_code == 200
    acc_id = p["worker"].id
    rid, d = _erase_via_api(client, p, h)
    assert d.status_code == 200, d.get_json()
    assert d.get_json()["status"] == "completed"
    # Only the audit trail's references are withheld; no legal hold reaches these entries.
    assert "legal hold" not in d.get_json()["outcome"]
    assert "4 deleted" in d.get_json()["outcome"]  # three entries and the membership
    session.expire_all()
    assert session.get(Account, acc_id) is None
    assert session.scalar(select(func.count()).select_from(Entry).where(
        Entry.account_id == acc_id)) == 0
    assert identifier_hits(session, ["noledger@example", "Zelmira", "Quornstedt"]) == []
    assert session.get(DataRequest, uuid.UUID(rid)).status == "completed"


def test_erasure_at_a_ledger_site_holds_the_entries_and_names_the_rule(client, session, make):
    p = _person(session, make, ledger=True, email="ledger.kept@example.test")
    h = bearer(client, p["worker"])
    r = client.post(f"{API}/entries", headers={**h, "Idempotency-Key": "k1"},
                    json={"site_id": str(p["site"].id), **INSIDE})
    assert r.status_code == 201, r.get_json()
    entry_id = uuid.UUID(r.get_json()["id"])
    acc_id = p["worker"].id
    _rid, d = _erase_via_api(client, p, h)
    assert d.status_code == 200
    assert "entries 1 under personnel_ledger: legal hold" in d.get_json()["outcome"]
    session.expire_all()
    entry = session.get(Entry, entry_id)
    assert entry is not None and entry.restricted is True
    records = {(x.table_name, x.row_id): x for x in session.scalars(
        select(ErasureRecord).join(Erasure, Erasure.id == ErasureRecord.erasure_id)
        .where(Erasure.account_id == acc_id))}
    assert records[("entries", str(entry_id))].rule == "personnel_ledger"
    acc = session.get(Account, acc_id)
    # Who the person was stays for the ledger; how to reach them does not.
    assert (acc.first_name, acc.last_name) == ("Zelmira", "Quornstedt")
    assert acc.email.endswith("@erased.invalid") and acc.phone is None
    assert records[("accounts", str(acc_id))].rule == "personnel_ledger"


def test_the_registry_says_which_purposes_are_legal_obligations(client):
    body = client.get(f"{API}/privacy/processing-activities").get_json()
    purposes = {p["key"]: p for p in body["controller"]["purposes"]
                + body["processor"]["purposes"]}
    assert {k for k, p in purposes.items() if p["legal_obligation"]} == {
        "personnel_ledger", "consent_management", "data_subject_requests"}
    assert purposes["attendance"]["legal_obligation"] is False
    ledger_rule = purposes["personnel_ledger"]["retention"]
    assert "ledger id" in ledger_rule["applies_to"]
    authorities = "Authorities, courts and police where the law requires it"
    assert {k for k, p in purposes.items() if authorities in p["recipients"]} == {
        "security", "access_control", "personnel_ledger"}
    for side in ("controller", "processor"):
        assert body[side]["automated_decision_making"] is False
        assert body[side]["profiling"] is False


# ------------------------------------------------------------------ idempotent requests

def test_the_same_request_twice_with_one_key_is_one_request(client, session, make, world):
    h = bearer(client, world.a.worker)
    body = {"type": "rectification", "password": PASSWORD, "details": "Employer is wrong"}
    first = client.post(f"{API}/me/requests", headers={**h, "Idempotency-Key": "req-1"},
                        json=body)
    again = client.post(f"{API}/me/requests", headers={**h, "Idempotency-Key": "req-1"},
                        json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    # The same key with another body is refused, and makes nothing.
    for changed in ({**body, "details": "Employer is right"}, {**body, "type": "access"},
                    {"type": "rectification", "password": PASSWORD}):
        clash = client.post(f"{API}/me/requests", headers={**h, "Idempotency-Key": "req-1"},
                            json=changed)
        assert clash.status_code == 409, changed
        assert clash.get_json()["type"].endswith("/idempotency-key-reused")
    other = client.post(f"{API}/me/requests", headers={**h, "Idempotency-Key": "req-2"},
                        json=body)
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    n = session.scalar(select(func.count()).select_from(DataRequest).where(
        DataRequest.account_id == world.a.worker.id))
    assert n == 2
    # Another person's identical key is their own request.
    h_b = bearer(client, world.b.worker)
    theirs = client.post(f"{API}/me/requests", headers={**h_b, "Idempotency-Key": "req-1"},
                         json=body)
    assert theirs.status_code == 201 and theirs.get_json()["id"] != first.get_json()["id"]
    bad = client.post(f"{API}/me/requests", headers={**h, "Idempotency-Key": "x" * 101},
                      json=body)
    assert bad.status_code == 400


# ------------------------------------------------------------------ the witness fails

def test_an_unwritable_witness_fails_the_erasure_loudly(app, committed, backend, tmp_path):
    with committed.transaction(SYSTEM) as s:
        make = Factory(s)
        p = _person(s, make, ledger=False, email="witness.down@example.test")
    client = app.test_client()
    h = bearer(client, p["worker"])
    r = client.post(f"{API}/me/requests", headers=h,
                    json={"type": "erasure", "password": PASSWORD})
    rid = r.get_json()["id"]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the witness folder should be")
    good = app.extensions["entryfy.witness"]
    app.extensions["entryfy.witness"] = witness.FileWitness(blocker / "witness")
    try:
        csrf = login(client, p["admin"])
        d = client.post(f"{API}/customers/{p['customer'].id}/requests/{rid}/decision",
                        headers={"X-CSRF-Token": csrf}, json={"decision": "approve"})
        assert d.status_code == 503
        assert d.headers["Retry-After"] == "60"
        assert d.get_json()["type"].endswith("/witness-unavailable")
        with committed.transaction(SYSTEM) as s:
            req = s.get(DataRequest, uuid.UUID(rid))
            part = s.scalar(select(DataRequestPart).where(DataRequestPart.request_id == req.id))
            assert req.status == "in_progress" and req.closed_at is None  # open
            assert part.status == "approved"  # approved, not carried out
            # Frozen, not erased: the membership is off, the entries and account still there.
            assert s.get(Account, p["worker"].id).email == "witness.down@example.test"
            assert s.get(Membership, p["membership"].id).active is False
    finally:
        app.extensions["entryfy.witness"] = good
    # The witness is back: approving again resumes and completes.
    d = client.post(f"{API}/customers/{p['customer'].id}/requests/{rid}/decision",
                    headers={"X-CSRF-Token": csrf}, json={"decision": "approve"})
    assert d.status_code == 200, d.get_json()
    assert d.get_json()["status"] == "completed"
    with committed.transaction(SYSTEM) as s:
        assert s.get(DataRequest, uuid.UUID(rid)).status == "completed"
        assert s.get(Account, p["worker"].id) is None


def test_one_erasure_request_is_carried_out_by_one_run_at_a_time(app, committed, backend,
                                                                  witness_dir):
    from privacy.retention import NamedLock

    with committed.transaction(SYSTEM) as s:
        make = Factory(s)
        p = _person(s, make, ledger=False, email="one.run@example.test")
    client = app.test_client()
    r = client.post(f"{API}/me/requests", headers=bearer(client, p["worker"]),
                    json={"type": "erasure", "password": PASSWORD})
    rid = uuid.UUID(r.get_json()["id"])
    # Another run (resume-erasures, a second approval) holds the request's lock.
    other = NamedLock(committed, "other-host:1", name=f"erasure:{rid.hex}",
                      ttl=erasure_flow.LOCK_TTL)
    assert other.acquire()
    try:
        csrf = login(client, p["admin"])
        d = client.post(f"{API}/customers/{p['customer'].id}/requests/{rid}/decision",
                        headers={"X-CSRF-Token": csrf}, json={"decision": "approve"})
        assert d.status_code == 200, d.get_json()
        assert d.get_json()["status"] == "approved"  # decided, left to the other run
        assert not (witness_dir / "erasures.jsonl").exists()
        with committed.transaction(SYSTEM) as s:
            assert s.get(Account, p["worker"].id).email == "one.run@example.test"
    finally:
        other.release()
    erasure_flow.run_pending(committed, rid)
    with committed.transaction(SYSTEM) as s:
        assert s.get(DataRequest, rid).status == "completed"
        assert s.get(Account, p["worker"].id) is None
    assert len((witness_dir / "erasures.jsonl").read_text().splitlines()) == 2  # part, account


# ------------------------------------------------------------------ the restore drill

def _backup(backend, dest: Path) -> None:
    if backend.name == "sqlite":
        # The WAL folded into the main file first (a plain sqlite3 connection: the app's
        # engine opens a transaction at its first statement, in which a checkpoint can't run).
        path = make_url(backend.admin_url).database
        with contextlib.closing(sqlite3.connect(path)) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(path, dest)
        return
    u = make_url(backend.admin_url)
    subprocess.run(["pg_dump", "-Fc", "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432),
                    "-U", u.username or "postgres", "-f", str(dest), u.database],
                   check=True, capture_output=True)


def _restore(backend, app, src: Path) -> None:
    app.extensions["entryfy.db"].engine.dispose()
    backend.admin_engine.dispose()
    if backend.name == "sqlite":
        path = Path(make_url(backend.admin_url).database)
        for extra in ("-wal", "-shm"):
            Path(str(path) + extra).unlink(missing_ok=True)
        shutil.copyfile(src, path)
        return
    u = make_url(backend.admin_url)
    subprocess.run(["pg_restore", "--clean", "--if-exists", "--single-transaction",
                    "-h", u.host or "127.0.0.1", "-p", str(u.port or 5432),
                    "-U", u.username or "postgres", "-d", u.database, str(src)],
                   check=True, capture_output=True)


def test_restore_drill_backup_erase_restore_reapply(app, committed, backend, tmp_path,
                                                    runner, capsys):
    if backend.name == "postgresql" and not (shutil.which("pg_dump")
                                             and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed")
    with committed.transaction(SYSTEM) as s:
        p = _person(s, Factory(s), ledger=False, email="restore.drill@example.test",
                    with_door=True)
    client = app.test_client()
    h = bearer(client, p["worker"], device_id="drill-phone-7731")
    for i in range(3):
        r = client.post(f"{API}/entries", headers={**h, "Idempotency-Key": f"d{i}"},
                        json={"site_id": str(p["site"].id), **INSIDE})
        assert r.status_code == 201, r.get_json()
        client.post(f"{API}/entries/{r.get_json()['id']}/checkout", headers=h, json={})
        assert client.post(f"{API}/doors/{p['door'].id}/open", headers=h,
                           json=INSIDE).status_code == 200
    acc_id, email = p["worker"].id, p["email"]
    dump = tmp_path / f"backup-{backend.name}.dump"
    _backup(backend, dump)

    _rid, d = _erase_via_api(client, p, h)
    assert d.status_code == 200 and d.get_json()["status"] == "completed"
    assert client.get(f"{API}/me", headers=h).status_code == 401
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    _restore(backend, app, dump)
    # The backup predates the erasure: the person is back in full, the old token works.
    with committed.transaction(SYSTEM) as s:
        assert s.get(Account, acc_id).email == email
        assert s.scalar(select(func.count()).select_from(Entry).where(
            Entry.account_id == acc_id)) == 3
        assert s.scalar(select(func.count()).select_from(Erasure)) == 0
    assert client.get(f"{API}/me", headers=h).status_code == 200
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 1, verify.output
    assert "ROLLED BACK" in verify.output

    result = runner.invoke(args=["privacy", "reapply-erasures"])
    with capsys.disabled():
        print(f"\n[{backend.name}] restore drill: reapply-erasures -> {result.output.strip()}")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 journal lines checked, 2 applied again, residue 0"

    with committed.transaction(SYSTEM) as s:
        left = erasure_flow.residue(s, acc_id, email, customer_id=None, platform=True)
        left_c = erasure_flow.residue(s, acc_id, email, customer_id=p["customer"].id,
                                      platform=False)
        hits = identifier_hits(s, [email, "Zelmira", "Quornstedt", "+46701234567",
                                   "drill-phone-7731"])
        refs = account_refs(s, acc_id)
        with capsys.disabled():
            print(f"[{backend.name}] residue after reapply: platform={left} "
                  f"customer={left_c} identifiers={hits} references={refs}")
        assert left == {} and left_c == {} and hits == [] and refs == {}
        assert s.scalar(select(func.count()).select_from(AccessEvent).where(
            AccessEvent.account_id == acc_id)) == 0
    assert client.get(f"{API}/me", headers=h).status_code == 401
    again = runner.invoke(args=["privacy", "reapply-erasures"])
    assert again.output.strip() == "2 journal lines checked, 0 applied again, residue 0"


# ------------------------------------------------------------------ the race

def test_erasure_wins_against_concurrent_check_ins_and_door_opens(app, committed, backend,
                                                                  capsys):
    with committed.transaction(SYSTEM) as s:
        p = _person(s, Factory(s), ledger=False, email="racing@example.test", with_door=True)
        sites = [p["site"]] + [Factory(s).site(p["customer"], geofence="record", ledger_id=None)
                               for _ in range(2)]
    acc_id = p["worker"].id
    client = app.test_client()
    h = bearer(client, p["worker"])
    r = client.post(f"{API}/me/requests", headers=h,
                    json={"type": "erasure", "password": PASSWORD})
    rid = r.get_json()["id"]
    stop = threading.Event()
    statuses: list[int] = []
    errors: list[BaseException] = []

    def checker(site_id: uuid.UUID) -> None:
        c = app.test_client()
        i = 0
        try:
            while not stop.is_set():
                i += 1
                r = c.post(f"{API}/entries", headers={**h, "Idempotency-Key": f"{site_id}-{i}"},
                           json={"site_id": str(site_id), **INSIDE})
                statuses.append(r.status_code)
                if r.status_code == 201:
                    c.post(f"{API}/entries/{r.get_json()['id']}/checkout", headers=h, json={})
        except BaseException as e:
            errors.append(e)

    def opener() -> None:
        c = app.test_client()
        try:
            while not stop.is_set():
                r = c.post(f"{API}/doors/{p['door'].id}/open", headers=h, json=INSIDE)
                statuses.append(r.status_code)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=checker, args=(s.id,)) for s in sites]
    threads.append(threading.Thread(target=opener))
    for t in threads:
        t.start()
    try:
        while len(statuses) < 30 and not errors:
            stop.wait(0.05)
        csrf = login(client, p["admin"])
        d = client.post(f"{API}/customers/{p['customer'].id}/requests/{rid}/decision",
                        headers={"X-CSRF-Token": csrf}, json={"decision": "approve"})
        stop.wait(0.3)  # the phones keep trying after the erasure
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert d.status_code == 200, d.get_json()
    assert d.get_json()["status"] == "completed"
    assert 500 not in statuses, sorted(set(statuses))
    with committed.transaction(SYSTEM) as s:
        left = erasure_flow.residue(s, acc_id, p["email"], customer_id=None, platform=True)
        refs = account_refs(s, acc_id)
        entries = s.scalar(select(func.count()).select_from(Entry).where(
            Entry.account_id == acc_id))
        events = s.scalar(select(func.count()).select_from(AccessEvent).where(
            AccessEvent.account_id == acc_id))
        assert s.get(DataRequest, uuid.UUID(rid)).status == "completed"
    with capsys.disabled():
        print(f"\n[{backend.name}] race: {len(statuses)} attempts "
              f"{dict(sorted((c, statuses.count(c)) for c in set(statuses)))}; residue "
              f"{left}, references {refs}, entries {entries}, door events {events}")
    assert left == {} and refs == {} and entries == 0 and events == 0
    assert statuses.count(201) > 0  # the race really ran before the freeze


def test_database_rolled_back_behind_the_witness_fails_verify(app, committed, runner):
    from privacy import audit

    with committed.transaction(SYSTEM) as s:
        audit.record(s, action="test.first", customer_id=None, actor_role="system")
    with committed.transaction(SYSTEM) as s:
        audit.record(s, action="test.second", customer_id=None, actor_role="system")
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    published, _ = journal.published_heads()
    assert published["platform"][0] == 2
    # A restore from a backup taken after the first record: the second is gone from the
    # database (the head and the record), as in an older dump.
    with committed.transaction(SYSTEM) as s:
        from models.audit import AuditChainHead, AuditEvent

        first = s.scalar(select(AuditEvent).where(AuditEvent.chain == "platform",
                                                  AuditEvent.seq == 1))
        head = s.get(AuditChainHead, "platform")
        head.seq, head.hash = 1, first.hash
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT set_config('entryfy.audit_prune', 'on', true)"))
        s.execute(AuditEvent.__table__.delete().where(AuditEvent.seq == 2,
                                                      AuditEvent.chain == "platform"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert ("ROLLED BACK platform #2: the database chain ends at #1, the witness saw #2"
            in result.output)
    # A forged acknowledgement (no key) is reported, and acknowledges nothing.
    wdir = Path(witness.witness().url.removeprefix("file://"))
    with (wdir / "audit-heads.jsonl").open("a") as f:
        f.write(json.dumps({"v": 1, "kind": "restore-ack", "heads": {"platform": [1, "x"]}})
                + "\n")
    forged_no = len(list(witness.witness().lines(journal.HEADS)))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "ROLLED BACK platform #2: the database chain ends at #1" in result.output
    assert f"witness line {forged_no}: no authentication code" in result.output
    # Drop the forged line again (the witness is append-only; this stands in for a clean one).
    lines = (wdir / "audit-heads.jsonl").read_text().splitlines()[:-1]
    (wdir / "audit-heads.jsonl").write_text("\n".join(lines) + "\n")
    # The operator acknowledges the restore: the event is recorded, verify is green again,
    # and the witness still holds the heads from before (the evidence).
    ack = runner.invoke(args=["audit", "acknowledge-restore", "--yes"])
    assert ack.exit_code == 0, ack.output
    assert "ROLLED BACK platform #2" in ack.output
    assert "restore acknowledged: 1 findings" in ack.output
    with committed.transaction(SYSTEM) as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.chain == "platform",
                                               AuditEvent.seq == 2))
        assert (ev.action, ev.actor_role) == ("audit.restore_acknowledged", "operator")
        ack_hash = ev.hash
    kinds = [json.loads(x)["kind"] for x in witness.witness().lines(journal.HEADS)]
    assert kinds[:2] == ["audit-heads", "audit-heads"] and "restore-ack" in kinds
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=["audit", "acknowledge-restore", "--yes"])
    assert again.exit_code == 0 and "nothing to acknowledge" in again.output
    # A later rollback is caught again, against the acknowledged heads.
    with committed.transaction(SYSTEM) as s:
        audit.record(s, action="test.third", customer_id=None, actor_role="system")
    with committed.transaction(SYSTEM) as s:
        head = s.get(AuditChainHead, "platform")
        head.seq, head.hash = 2, ack_hash
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT set_config('entryfy.audit_prune', 'on', true)"))
        s.execute(AuditEvent.__table__.delete().where(AuditEvent.seq == 3,
                                                      AuditEvent.chain == "platform"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "ROLLED BACK platform #3: the database chain ends at #2" in result.output


@pytest.mark.parametrize("n", [1])
def test_executor_for_every_automated_rule(n, monkeypatch):
    from privacy import executors, registry

    assert executors.missing() == []
    assert "request_record" in executors.executors()
    assert "support_case" in executors.executors()
    extra = registry.RetentionRule("new_rule", "a rule nobody carries out",
                                   registry.Period(days=n), "created_at")
    monkeypatch.setattr(registry, "_RULES", (*registry._RULES, extra))
    assert executors.missing() == ["new_rule"]


def test_offboarding_keeps_only_entries_at_ledger_sites(session, make):
    from entryfy import clock
    from privacy import offboarding

    c = make.customer()
    acc = make.account()
    make.membership(c, acc)
    ledger, plain = make.site(c), make.site(c, ledger_id=None)
    for site in (ledger, plain, plain):
        session.add(Entry(customer_id=c.id, site_id=site.id, account_id=acc.id,
                          checked_in_at=clock.now(), checked_out_at=clock.now()))
    session.commit()
    offboarding.start(session, c.id, actor_id=make.account().id, grace_days=0)
    cert = offboarding.purge(session, c.id, force=True)
    assert cert["tables"]["entries"] == {"deleted": 2, "kept": 1,
                                         "kept_because": "legal hold: personnel_ledger"}
    assert [e.site_id for e in session.scalars(select(Entry).where(
        Entry.customer_id == c.id))] == [ledger.id]
    # Only the kept entries' site is kept: the composite key (customer_id, site_id) -> sites
    # (revision 0021) names the customer too, which keeps no other site.
    assert cert["tables"]["sites"] == {"deleted": 1, "kept": 1,
                                       "kept_because": "needed by rows kept in entries"}


def test_request_records_are_deleted_two_years_after_closing(session, make, runner):
    import datetime as dt

    from entryfy import clock

    acc = make.account()
    now = clock.now()
    old = DataRequest(account_id=acc.id, type="access", status="completed", channel="session",
                      received_at=now - dt.timedelta(days=800),
                      due_at=now - dt.timedelta(days=770),
                      closed_at=now - dt.timedelta(days=2 * 366 + 1), extended_months=0)
    young = DataRequest(account_id=acc.id, type="access", status="completed",
                        channel="session", received_at=now - dt.timedelta(days=40),
                        due_at=now - dt.timedelta(days=10), closed_at=now - dt.timedelta(days=9),
                        extended_months=0)
    still_open = DataRequest(account_id=acc.id, type="erasure", status="in_progress",
                             channel="session", received_at=now - dt.timedelta(days=900),
                             due_at=now - dt.timedelta(days=870), extended_months=0)
    session.add_all([old, young, still_open])
    session.commit()
    ids = (old.id, young.id, still_open.id)
    dry = runner.invoke(args=["retention", "run", "--dry-run", "--rule", "request_record"])
    assert dry.exit_code == 0, dry.output
    assert "request_record: would requests_deleted=1, erasures_deleted=0" in dry.output
    assert "no executor" not in dry.output
    result = runner.invoke(args=["retention", "run", "--rule", "request_record"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert [session.get(DataRequest, i) is not None for i in ids] == [False, True, True]


def test_one_key_sent_twice_at_once_makes_one_request(app, committed, backend):
    if backend.name != "postgresql":
        pytest.skip("SQLite has one writer: the two never overlap")
    with committed.transaction(SYSTEM) as s:
        acc = Factory(s).account()
    client = app.test_client()
    h = {**bearer(client, acc), "Idempotency-Key": "tap-twice"}
    barrier = threading.Barrier(2)
    answers: list[Any] = []

    def post() -> None:
        c = app.test_client()
        barrier.wait()
        r = c.post(f"{API}/me/requests", headers=h,
                   json={"type": "access", "password": PASSWORD})
        answers.append((r.status_code, r.get_json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in answers) == [200, 201]
    assert len({rid for _, rid in answers}) == 1
    with committed.transaction(SYSTEM) as s:
        assert s.scalar(select(func.count()).select_from(DataRequest).where(
            DataRequest.account_id == acc.id)) == 1
