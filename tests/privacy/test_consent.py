"""Consent: versioned notices, choices per purpose, withdrawal stops the processing at once."""

from __future__ import annotations

import datetime as dt

import pytest

from entryfy import clock, mail
from entryfy.errors import Unprocessable, ValidationFailed
from entryfy.ops import newsletter
from models import Consent
from privacy import consent
from tests.factories import bearer

UTC = dt.UTC


@pytest.fixture
def notice(session):
    nv = consent.publish_notice(session, "newsletter", url="https://entryfy.dev/nyhetsbrev/v1",
                                text="Vi skickar nyheter och erbjudanden ...")
    session.commit()
    return nv


def _inbox(address):
    return [m for m in mail.mailer().messages() if m["To"] == address]


def test_withdrawal_stops_the_newsletter(session, make, notice):
    yes, no = make.account(), make.account()
    consent.decide(session, yes.id, [consent.Choice("newsletter", True, notice.version)],
                   channel="app")
    session.commit()
    assert consent.has_consent(session, yes.id, "newsletter")
    assert not consent.has_consent(session, no.id, "newsletter")
    before_yes, before_no = len(_inbox(yes.email)), len(_inbox(no.email))
    assert newsletter.send_newsletter(session, "News", "Hello") >= 1
    assert len(_inbox(yes.email)) == before_yes + 1
    assert len(_inbox(no.email)) == before_no
    assert "Withdraw at any time" in _inbox(yes.email)[-1].get_content()

    with clock.frozen_at(clock.now() + dt.timedelta(seconds=1)):
        consent.decide(session, yes.id, [consent.Choice("newsletter", False)], channel="web")
    session.commit()
    assert not consent.has_consent(session, yes.id, "newsletter")
    newsletter.send_newsletter(session, "News 2", "Hello again")
    assert len(_inbox(yes.email)) == before_yes + 1


def test_history_is_kept_and_unchanged_choices_add_nothing(session, make, notice):
    acc = make.account()
    t0 = dt.datetime(2027, 1, 1, tzinfo=UTC)
    with clock.frozen_at(t0):
        consent.decide(session, acc.id, [consent.Choice("newsletter", True, 1)], channel="app")
        consent.decide(session, acc.id, [consent.Choice("newsletter", True, 1)], channel="app")
    with clock.frozen_at(t0 + dt.timedelta(days=1)):
        consent.decide(session, acc.id, [consent.Choice("newsletter", False)], channel="app")
    rows = session.query(Consent).filter_by(account_id=acc.id).order_by(Consent.decided_at).all()
    assert [(r.granted, r.notice_version_id is not None) for r in rows] == [
        (True, True), (False, False)]


def test_consent_names_the_current_notice(session, make, notice):
    acc = make.account()
    consent.publish_notice(session, "newsletter", url="https://entryfy.dev/nyhetsbrev/v2",
                           text="Ny text")
    with pytest.raises(Unprocessable) as e:
        consent.decide(session, acc.id, [consent.Choice("newsletter", True, 1)], channel="app")
    assert e.value.slug == "stale-notice"
    consent.decide(session, acc.id, [consent.Choice("newsletter", True, 2)], channel="app")
    assert consent.has_consent(session, acc.id, "newsletter")


def test_only_consent_based_purposes_take_a_consent(session, make, notice):
    acc = make.account()
    with pytest.raises(Unprocessable):
        consent.decide(session, acc.id, [consent.Choice("personnel_ledger", True, 1)],
                       channel="app")
    with pytest.raises(ValidationFailed):
        consent.decide(session, acc.id, [consent.Choice("nope", True, 1)], channel="app")
    with pytest.raises(Unprocessable) as e:
        consent.decide(session, acc.id, [consent.Choice("product_analytics", True, 1)],
                       channel="app")
    assert e.value.slug == "no-notice"
    with pytest.raises(ValueError):
        consent.has_consent(session, acc.id, "account")


def test_me_consents_get_and_put(client, session, make, notice):
    acc = make.account()
    h = bearer(client, acc)
    r = client.get("/api/v1/me/consents", headers=h)
    assert r.status_code == 200
    items = {i["purpose"]: i for i in r.get_json()["items"]}
    assert set(items) == {"newsletter", "product_analytics"}
    assert items["newsletter"]["granted"] is False
    assert items["newsletter"]["current_notice"]["version"] == 1

    r = client.put("/api/v1/me/consents", headers=h, json={
        "consents": [{"purpose": "newsletter", "granted": True, "notice_version": 1}],
        "channel": "app"})
    assert r.status_code == 200, r.get_json()
    got = {i["purpose"]: i for i in r.get_json()["items"]}["newsletter"]
    assert got["granted"] is True and got["agreed_notice_version"] == 1
    assert got["channel"] == "app"
    assert consent.has_consent(session, acc.id, "newsletter")

    # Withdrawing is as easy as giving: one field.
    r = client.put("/api/v1/me/consents", headers=h, json={
        "consents": [{"purpose": "newsletter", "granted": False}]})
    assert r.status_code == 200
    assert not consent.has_consent(session, acc.id, "newsletter")


@pytest.mark.parametrize(("body", "status"), [
    ({}, 400),
    ({"consents": []}, 400),
    ({"consents": [{"purpose": "newsletter"}]}, 400),
    ({"consents": [{"purpose": "newsletter", "granted": "maybe"}]}, 400),
    ({"consents": [{"purpose": "newsletter", "granted": True, "x": 1}]}, 400),
    ({"consents": [{"purpose": "newsletter", "granted": True}], "channel": "fax"}, 400),
    ({"consents": [{"purpose": "newsletter", "granted": True}]}, 422),
    ({"consents": [{"purpose": "newsletter", "granted": True, "notice_version": 9}]}, 422),
    ({"consents": [{"purpose": "account", "granted": False}]}, 422),
    ({"consents": [{"purpose": "nope", "granted": False}]}, 400),
    ({"consents": [{"purpose": "newsletter", "granted": False},
                   {"purpose": "newsletter", "granted": False}]}, 400),
])
def test_me_consents_refuses_bad_input(client, make, notice, body, status):
    h = bearer(client, make.account())
    r = client.put("/api/v1/me/consents", headers=h, json=body)
    assert r.status_code == status, r.get_json()
    assert r.mimetype == "application/problem+json"


def test_me_consents_needs_sign_in(client):
    assert client.get("/api/v1/me/consents").status_code == 401


def test_a_withdrawal_in_the_same_instant_still_wins(session, make, notice):
    acc = make.account()
    with clock.frozen_at(dt.datetime(2027, 1, 1, tzinfo=UTC)):
        for _ in range(3):
            consent.decide(session, acc.id, [consent.Choice("newsletter", True, 1)], "app")
            consent.decide(session, acc.id, [consent.Choice("newsletter", False)], "app")
            assert not consent.has_consent(session, acc.id, "newsletter")
        consent.decide(session, acc.id, [consent.Choice("newsletter", True, 1)], "app")
        assert consent.has_consent(session, acc.id, "newsletter")
        assert [a.id for a in consent.consenting_accounts(session, "newsletter")
                if a.id == acc.id] == [acc.id]


def test_cli_publishes_notices_and_sends_only_to_consenting(runner, session, make, tmp_path):
    text = tmp_path / "notice.txt"
    text.write_text("Nyhetsbrev: vi skickar nyheter en gång i månaden.", "utf-8")
    r = runner.invoke(args=["privacy", "publish-notice", "newsletter",
                            "--url", "https://entryfy.dev/n", "--text-file", str(text)])
    assert r.exit_code == 0, r.output
    version = consent.current_notice(session, "newsletter").version
    r = runner.invoke(args=["privacy", "publish-notice", "personnel_ledger",
                            "--url", "https://entryfy.dev/n", "--text-file", str(text)])
    assert r.exit_code == 1 and "does not rest on consent" in r.output
    yes, no = make.account(), make.account()
    consent.decide(session, yes.id, [consent.Choice("newsletter", True, version)], "web")
    session.commit()
    before_no = len(_inbox(no.email))
    r = runner.invoke(args=["privacy", "send-newsletter", "--subject", "S",
                            "--body-file", str(text)])
    assert r.exit_code == 0, r.output
    assert _inbox(yes.email) and len(_inbox(no.email)) == before_no


def test_the_newsletter_unsubscribes_with_one_click(client, session, make, notice):
    """RFC 8058: List-Unsubscribe (a link also in the text) and List-Unsubscribe-Post; a POST
    to it withdraws the consent at once, without signing in; a forged token is 404."""
    from urllib.parse import urlsplit

    reader = make.account()
    consent.decide(session, reader.id, [consent.Choice("newsletter", True, notice.version)],
                   channel="app")
    session.commit()
    newsletter.send_newsletter(session, "News", "Hello", "https://entryfy.example")
    msg = _inbox(reader.email)[-1]
    link = msg["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://entryfy.example/api/v1/newsletter/unsubscribe?token=")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in msg.get_content()
    path = urlsplit(link)
    url = f"{path.path}?{path.query}"
    token = path.query.split("=", 1)[1]
    other = make.account()
    forged = newsletter.unsubscribe_token(other.id).split(".")[0] + "." + token.split(".")[1]
    assert client.post(f"/api/v1/newsletter/unsubscribe?token={forged}",
                       data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 404
    page = client.get(url)  # a link scanner's GET changes nothing
    assert page.status_code == 200 and b"<form method=post" in page.data
    assert consent.has_consent(session, reader.id, "newsletter")
    with clock.frozen_at(clock.now() + dt.timedelta(seconds=1)):
        r = client.post(url, data="List-Unsubscribe=One-Click",
                        content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200, r.get_json()
    reader_id, reader_email = reader.id, reader.email  # read before expiring: see below
    # Expired objects reload on the test's connection, which the app's request shares (and
    # whose transaction-local scope it leaves as it was): plain ids need no reload.
    session.expire_all()
    assert not consent.has_consent(session, reader_id, "newsletter")
    assert client.post(url).status_code == 200  # again: harmless
    before = len(_inbox(reader_email))
    newsletter.send_newsletter(session, "News 2", "Hello again")
    assert len(_inbox(reader_email)) == before
