"""`entryfy demo`: a world where every main flow works for each demo login, and a printed
walkthrough whose every call succeeds when pasted into a shell."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import pytest
from werkzeug.serving import make_server

from entryfy import clock, create_app
from entryfy import demo as demo_mod
from entryfy.ops import doors as door_ops
from entryfy.ops import geo
from models import Account, Controller, DataRequestPart, Door, Membership, Ticket
from tests.conftest import TEST_CONFIG


@pytest.fixture
def fresh(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    app = create_app({**TEST_CONFIG, "DATABASE_URL": url, "DATABASE_ADMIN_URL": url,
                      "OUTBOX_DIR": str(tmp_path / "outbox")})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    return app, runner


@pytest.fixture
def live(fresh):
    app, runner = fresh
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", runner
    server.shutdown()


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                    reason="needs bash and curl")
def test_the_printed_walkthrough_succeeds_call_by_call(live, tmp_path):
    base, runner = live
    out = runner.invoke(args=["demo", "--base-url", base])
    assert out.exit_code == 0, out.output
    script = out.output[out.output.index("# Entryfy demo walkthrough"):]
    assert script.count("curl ") == 10
    # Exactly as printed; -e and pipefail stop at the first call that fails (--fail-with-body).
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, check=False,
                       env={"PATH": "/usr/bin:/bin:/usr/local/bin", "TMPDIR": str(tmp_path)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "checked in: entry " in r.stdout
    assert '"granted":true' in r.stdout.replace(" ", "")
    assert "Wim Worker,19850101-9874,Underentreprenör AB" in r.stdout  # the ledger row
    assert '"request_status":"waiting_for_customer"' in r.stdout.replace(" ", "")
    assert r.stdout.rstrip().endswith("signed out")
    extract = json.loads((tmp_path / "entryfy-register-extract.json").read_text())
    assert "worker@demo.entryfy.dev" in json.dumps(extract)


def test_json_has_logins_a_site_with_its_fence_and_a_door(fresh):
    _, runner = fresh
    out = runner.invoke(args=["demo", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert [(x["role"], x["email"]) for x in data["logins"]] == [
        ("admin", "admin@demo.entryfy.dev"), ("worker", "worker@demo.entryfy.dev")]
    site = data["site"]
    verdict = geo.check(site["latitude"], site["longitude"], site["radius_m"],
                        site["latitude"], site["longitude"], 10)
    assert verdict.inside
    assert data["door"]["methods"] == ["app", "qr", "pin"]
    assert data["controller"]["key"].startswith("efc_")
    assert "Idempotency-Key" in data["walkthrough"] and "X-CSRF-Token" in data["walkthrough"]
    # Again: nothing seeded, the same world described (the key is not shown twice).
    again = json.loads(runner.invoke(args=["demo", "--json"]).output)
    assert again["site"] == site and again["door"]["id"] == data["door"]["id"]
    assert again["controller"]["key"] is None


def test_every_login_may_open_the_door_and_check_in(session):
    assert demo_mod.seed(session, echo=lambda _: None) is True
    door = session.query(Door).filter_by(name="Main gate").one()
    here = door_ops.Position(door.site.latitude, door.site.longitude, 10)
    for email in (demo_mod.ADMIN_EMAIL, demo_mod.WORKER_EMAIL):
        account = session.query(Account).filter_by(email=email).one()
        assert account.identity_number_enc is not None
        m = session.query(Membership).filter_by(account_id=account.id).one()
        for channel, pin in (("app", None), ("scan", None)):
            decision = door_ops.decide(session, membership=m, door=door, channel=channel,
                                       at=clock.now(), pin=pin, position=here)
            assert (email, channel, decision.granted) == (email, channel, True)
    guest = session.query(Membership).filter_by(role="guest").one()
    assert guest.valid_to > clock.now()
    assert session.query(Controller).count() == 1
    assert door.controller_id is not None
    assert session.query(Ticket).count() == 1
    assert [p.status for p in session.query(DataRequestPart)] == ["pending"]
