"""A data-subject request's limits with literal values: the one-time code works 15 minutes
and 5 tries, an extension is 1 or 2 months once, a customer's part is due 7 days early."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from entryfy import clock
from entryfy.errors import Conflict, Unprocessable, ValidationFailed
from models import DataRequest
from privacy import requests as dsr

UTC = dt.UTC
AT = dt.datetime(2027, 3, 10, 9, 0, tzinfo=UTC)


def _code_for(session, monkeypatch, email, type_="access"):
    monkeypatch.setattr(dsr.secrets, "randbelow", lambda n: 123456 if n == 10**6 else 0)
    with clock.frozen_at(AT):
        return dsr.submit_from_outside(session, email, type_, None)


def _open_request(session, monkeypatch, world):
    """A rectification request, verified by its code: it stays open for the customers."""
    ver = _code_for(session, monkeypatch, world.a.worker.email, "rectification")
    return session.get(DataRequest, ver.request_id)


def test_the_code_expires_at_fifteen_minutes(session, world, monkeypatch):
    ver = _code_for(session, monkeypatch, world.a.worker.email)
    assert ver.expires_at.replace(tzinfo=UTC) == AT + dt.timedelta(minutes=15)
    with clock.frozen_at(AT + dt.timedelta(minutes=15)):
        req, err = dsr.check_code(session, ver.id, "123456")
    assert req is None and err.slug == "code-expired"
    with clock.frozen_at(AT + dt.timedelta(minutes=14, seconds=59)):
        req, err = dsr.check_code(session, ver.id, " 123456 ")
    assert err is None and req.id == ver.request_id
    assert req.status == "completed"  # an access request is answered at once
    with clock.frozen_at(AT + dt.timedelta(minutes=14, seconds=59)):
        _, err = dsr.check_code(session, ver.id, "123456")
    assert err.slug == "code-used"


def test_five_tries_then_none(session, world, monkeypatch):
    ver = _code_for(session, monkeypatch, world.a.worker.email)
    left = []
    with clock.frozen_at(AT + dt.timedelta(minutes=1)):
        for _ in range(5):
            _, err = dsr.check_code(session, ver.id, "000000")
            left.append((err.slug, err.extra.get("tries_left"), err.detail))
        _, err = dsr.check_code(session, ver.id, "123456")  # right, but too late
    assert left == [("code-wrong", n, f"Wrong code. {n} tries left.") for n in (4, 3, 2, 1, 0)]
    assert err.slug == "code-attempts-exhausted"
    assert ver.attempts == 5


def test_the_mail_says_the_limits(session, world, monkeypatch, app):
    from tests import doorkit

    before = doorkit.mail_ids()
    _code_for(session, monkeypatch, world.a.worker.email)
    body = doorkit.last_mail_to(world.a.worker.email, before).get_content()
    assert "Your confirmation code: 123456" in body
    assert "It works 15 minutes, for 5 tries." in re.sub(r"\s+", " ", body)


def test_an_unknown_address_gets_a_code_that_never_verifies(session, monkeypatch):
    ver = _code_for(session, monkeypatch, "nobody@example.test")
    assert ver.request_id is None
    with clock.frozen_at(AT + dt.timedelta(minutes=1)):
        _, err = dsr.check_code(session, ver.id, "123456")
    assert (err.slug, err.extra.get("tries_left")) == ("code-wrong", 4)


def test_an_extension_is_one_or_two_months_once(session, world, monkeypatch):
    req = _open_request(session, monkeypatch, world)
    assert req.due_at.replace(tzinfo=UTC) == dt.datetime(2027, 4, 10, 9, tzinfo=UTC)
    for months in (0, 3):
        with pytest.raises(ValidationFailed) as err:
            dsr.extend(session, req, months=months, reason="many records")
        assert err.value.extra["errors"] == {"months": ["1 to 2."]}
    with pytest.raises(ValidationFailed):
        dsr.extend(session, req, months=1, reason="  ")
    with clock.frozen_at(AT + dt.timedelta(days=3)):
        dsr.extend(session, req, months=2, reason=" many records ")
    assert (req.extended_months, req.extension_reason) == (2, "many records")
    assert req.due_at.replace(tzinfo=UTC) == dt.datetime(2027, 6, 10, 9, tzinfo=UTC)
    with pytest.raises(Unprocessable) as err:
        dsr.extend(session, req, months=1, reason="more")
    assert err.value.slug == "already-extended"
    dsr.deny(session, req, reason="manifestly unfounded")
    with pytest.raises(Conflict) as err:
        dsr.extend(session, req, months=1, reason="more")
    assert err.value.slug == "request-closed"


def test_a_part_is_due_a_week_before_the_request(session, world, monkeypatch):
    req = _open_request(session, monkeypatch, world)
    due = dt.datetime(2027, 4, 10, 9, tzinfo=UTC)
    req.due_at = due
    assert dsr.part_due_date(req, AT) == due - dt.timedelta(days=7)
    # Less than a week left: the part is due with the request.
    assert dsr.part_due_date(req, due - dt.timedelta(days=7)) == due
    assert dsr.part_due_date(req, due - dt.timedelta(days=7, seconds=1)) == (
        due - dt.timedelta(days=7))
