"""A customer admin's day in the console, in a real browser: sign in, invite a member, make a
site and a door, print its sign, give an access, see a check-in appear on the dashboard,
correct an entry, export the ledger, decide an erasure request; then support reads the
ticket the admin granted. One module-scoped server and browser; the steps run in order."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
import zoneinfo
from typing import Any

import pytest
from sqlalchemy import select

from entryfy.ops import staff as staff_ops
from models import Door, Entry, EntryCorrection, Membership, Site
from tests import factories
from tests.attendance import give_identity_number
from tests.browser.conftest import screenshot
from tests.factories import PASSWORD, totp_now

pytestmark = pytest.mark.browser

WAIT = 10.0


def wait_for(predicate, timeout: float = WAIT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.1)


def by_css(driver, css: str):
    from selenium.webdriver.common.by import By

    return wait_for(lambda: driver.find_element(By.CSS_SELECTOR, css), what=css)


def fill(driver, fields: dict[str, str], form: str = "main form") -> None:
    from selenium.webdriver.common.by import By

    root = by_css(driver, form)
    for name, value in fields.items():
        el = root.find_element(By.NAME, name)
        if el.tag_name == "select":
            from selenium.webdriver.support.ui import Select

            Select(el).select_by_value(value)
        else:
            el.clear()
            el.send_keys(value)


def submit(driver, form: str = "main form") -> None:
    from selenium.webdriver.common.by import By

    old = driver.find_element(By.TAG_NAME, "main")
    el = by_css(driver, form)
    invalid = driver.execute_script(
        "return Array.from(arguments[0].elements).filter(e => e.willValidate && "
        "!e.checkValidity()).map(e => e.name + ': ' + e.validationMessage)", el)
    assert not invalid, invalid
    el.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # hx-boost swaps the body; wait until the old main is gone (a full load also removes it).
    wait_for(lambda: _stale(old), what="the page after submit")


def _stale(el) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        el.tag_name  # noqa: B018
        return False
    except StaleElementReferenceException:
        return True


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "main").text


def api(live, method: str, path: str, body: dict | None = None,
        headers: dict | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(live.url + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def cast(live):
    """An admin, a worker with an identity number (the ledger needs it), support staff."""
    s = live.session()
    make = factories.Factory(s)
    customer = make.customer(name="Bygg & Co AB")
    admin = make.account(first_name="Anna", last_name="Admin")
    worker = make.account(first_name="Wilma", last_name="Arbetare")
    make.membership(customer, admin, "admin")
    make.membership(customer, worker, "member", employer_name="Sub AB")
    give_identity_number(s, worker)
    enrolment = staff_ops.create_staff(s, email="support@vendor.test", password=PASSWORD,
                                       role="support", first_name="Sam", last_name="Support")
    s.commit()
    ids = {"customer": customer.id, "admin": admin.email, "worker": worker.email,
           "worker_id": worker.id, "staff": enrolment}
    s.close()
    return ids


def test_admin_day(live, browser, cast):
    d = browser
    cid = cast["customer"]

    # ---- sign in
    d.get(live.url + "/console/login")
    screenshot(d, "01-login")
    fill(d, {"email": cast["admin"], "password": PASSWORD})
    submit(d)
    wait_for(lambda: "Dashboard" in d.title, what="the dashboard")
    assert "Bygg & Co AB" in d.find_element("css selector", "header").text

    # ---- invite a member
    d.get(f"{live.url}/console/c/{cid}/members")
    fill(d, {"email": "ny.kollega@example.test", "role": "member",
             "employer_name": "Elfirma AB"}, "main form:not(.inline)")
    submit(d, "main form:not(.inline)")
    wait_for(lambda: "ny.kollega@example.test" in text(d), what="the invited member")
    assert "The invitation has been sent." in text(d)
    screenshot(d, "02-members")

    # ---- make a site and a door
    d.get(f"{live.url}/console/c/{cid}/sites")
    fill(d, {"name": "Kvarteret Eken", "address": "Storgatan 1", "latitude": "59.3326",
             "longitude": "18.0649", "radius_m": "150", "ledger_id": "PL-4711"})
    submit(d)
    wait_for(lambda: "Doors of Kvarteret Eken" in text(d), what="the doors page")
    fill(d, {"name": "Grind 1"})
    submit(d)

    # ---- print its sign
    wait_for(lambda: "Door sign for Grind 1" in text(d), what="the sign page")
    img = by_css(d, "img#door-sign")
    wait_for(lambda: d.execute_script("return arguments[0].complete && "
                                      "arguments[0].naturalWidth > 0", img),
             what="the sign image to load")
    d.execute_script("window.__printed = 0; window.print = function () { window.__printed++; };")
    by_css(d, "#print-sign").click()
    assert d.execute_script("return window.__printed") == 1
    screenshot(d, "03-door-sign")
    with live.session() as s:
        site = s.scalar(select(Site).where(Site.customer_id == cid))
        door = s.scalar(select(Door).where(Door.site_id == site.id))
        worker_member = s.scalar(select(Membership).where(
            Membership.account_id == cast["worker_id"]))
        site_id, door_id, member_id = site.id, door.id, worker_member.id
        lat, lon = site.latitude, site.longitude

    # ---- give an access
    d.get(f"{live.url}/console/c/{cid}/accesses")
    fill(d, {"name": "Dagtid"})
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    # A time input's typing order follows the browser's locale: set the value itself.
    for name, value in (("w0_start", "07:00"), ("w0_end", "17:00")):
        d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.NAME, name),
                         value)
    d.find_element(By.CSS_SELECTOR, f"input[name=door_ids][value='{door_id}']").click()
    Select(d.find_element(By.NAME, "member_ids")).select_by_value(str(member_id))
    for day in ("mon", "tue", "wed", "thu", "fri"):
        d.find_element(By.NAME, f"w0_{day}").click()
    submit(d)
    wait_for(lambda: "Dagtid" in text(d) and "07:00" in text(d), what="the new access")
    screenshot(d, "04-accesses")

    # ---- see a check-in appear on the dashboard (htmx refreshes "on site now")
    d.get(f"{live.url}/console/c/{cid}/")
    assert "Wilma Arbetare" not in text(d)
    status, token = api(live, "POST", "/api/v1/auth/tokens", {
        "email": cast["worker"], "password": PASSWORD, "device_id": "browser-test-phone"})
    assert status == 201, token
    bearer = {"Authorization": f"Bearer {token['token']}"}
    status, entry = api(live, "POST", "/api/v1/entries",
                        {"site_id": str(site_id), "latitude": lat, "longitude": lon},
                        {**bearer, "Idempotency-Key": str(uuid.uuid4())})
    assert status == 201, entry
    wait_for(lambda: "Wilma Arbetare" in by_css(d, "#on-site").text, timeout=12,
             what="the check-in on the dashboard")
    screenshot(d, "05-dashboard")

    # ---- correct an entry
    d.get(f"{live.url}/console/c/{cid}/entries")
    screenshot(d, "06-entries")
    d.find_element(By.LINK_TEXT, "Wilma Arbetare").click()
    wait_for(lambda: "Correct this entry" in text(d), what="the entry page")
    # The shift began an hour earlier and ended a minute ago (site time, Stockholm).
    now = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Stockholm"))
    for name, value in (("checked_in_at", now - dt.timedelta(hours=1)),
                        ("checked_out_at", now - dt.timedelta(minutes=1))):
        d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.NAME, name),
                         value.strftime("%Y-%m-%dT%H:%M"))
    d.find_element(By.NAME, "reason").send_keys("Glömde checka ut")
    submit(d, "main form")
    wait_for(lambda: "The correction has been saved." in text(d), what="the saved correction")
    with live.session() as s:
        assert s.scalar(select(EntryCorrection).where(
            EntryCorrection.entry_id == uuid.UUID(entry["id"]))).reason == "Glömde checka ut"
        assert s.get(Entry, uuid.UUID(entry["id"])).checked_out_at is not None

    # ---- export the ledger (the Swedish Excel flavour)
    d.get(f"{live.url}/console/c/{cid}/ledger")
    screenshot(d, "07-ledger")
    Select(d.find_element(By.NAME, "dialect")).select_by_value("excel-sv")
    first = d.find_element(By.NAME, "from")
    d.execute_script("arguments[0].value = '2000-01-01'", first)
    d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    done = wait_for(lambda: list(d.downloads.glob("personalliggare-PL-4711-*.csv")),
                    what="the downloaded ledger")
    data = wait_for(lambda: done[0].read_bytes(), what="the file's content")
    assert data.startswith(b"\xef\xbb\xbfentry_id;ledger_id;name;")
    assert "Wilma Arbetare" in data.decode("utf-8-sig") and ";ja;" in data.decode("utf-8-sig")

    # ---- decide an erasure request
    status, req = api(live, "POST", "/api/v1/me/requests",
                      {"type": "erasure", "password": PASSWORD}, bearer)
    assert status == 201, req
    d.get(f"{live.url}/console/c/{cid}/requests")
    wait_for(lambda: "Wilma Arbetare" in text(d), what="the pending request")
    screenshot(d, "08-requests")
    d.find_element(By.CSS_SELECTOR, "button[name=decision][value=approve]").click()
    wait_for(lambda: "Nothing here." in text(d), what="the request decided")

    # ---- a ticket with a grant; support reads it
    d.get(f"{live.url}/console/c/{cid}/tickets")
    fill(d, {"subject": "Grinden öppnar inte", "body": "Sedan i morse, för alla."})
    submit(d)
    wait_for(lambda: "Let support read" in text(d), what="the ticket page")
    d.find_element(By.CSS_SELECTOR, "input[name=scopes][value=members]").click()
    grant_form = next(f for f in d.find_elements(By.CSS_SELECTOR, "main form")
                  if f.find_elements(By.CSS_SELECTOR, "input[name=scopes]"))
    grant_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "members" in by_css(d, "main table").text, what="the grant")
    screenshot(d, "09-ticket")
    by_css(d, "header form.logout button").click()
    wait_for(lambda: "/console/login" in d.current_url, what="signed out")

    enrolment = cast["staff"]
    fill(d, {"email": enrolment.account.email, "password": PASSWORD,
             "otp": totp_now(enrolment.secret)})
    submit(d)
    wait_for(lambda: "Grinden öppnar inte" in text(d), what="support's ticket list")
    screenshot(d, "10-support-tickets")
    d.find_element(By.LINK_TEXT, "Grinden öppnar inte").click()
    wait_for(lambda: "Sedan i morse" in text(d), what="the ticket for support")
    d.find_element(By.PARTIAL_LINK_TEXT, "Granted: members").click()
    wait_for(lambda: "Granted view: members" in text(d), what="the granted view")
    assert "Anna Admin" in text(d)
    screenshot(d, "11-support-granted")


def test_swedish_console(live, browser, cast):
    """The language switch turns the console Swedish, dates in Swedish form."""
    d = browser
    d.delete_all_cookies()
    d.get(live.url + "/console/login")
    from selenium.webdriver.support.ui import Select

    Select(by_css(d, "#lang-select")).select_by_value("sv")
    submit(d, "header form.lang")
    wait_for(lambda: "Logga in" in d.title, what="Swedish sign-in")
    fill(d, {"email": cast["admin"], "password": PASSWORD})
    submit(d)
    wait_for(lambda: "Översikt" in d.title, what="Swedish dashboard")
    d.get(f"{live.url}/console/c/{cast['customer']}/entries")
    assert "Närvaro, senaste först" in text(d)
    screenshot(d, "12-entries-sv")


def test_change_and_remove_an_access(live, browser, cast):  # type: ignore[no-untyped-def]
    """An access changed in the weekly editor (a Saturday window added, a method swapped), then
    removed through the confirm step; the audit trail names both."""
    from selenium.webdriver.common.by import By

    from entryfy.ops import doors as door_ops
    from entryfy.ops import sites as site_ops
    from models import Access, AuditEvent

    cid = cast["customer"]
    with live.session() as s:
        site = site_ops.create_site(s, cid, {"name": "Bryggan", "latitude": 59.3,
                                             "longitude": 18.0, "radius_m": 100})
        door = door_ops.create_door(s, site=site, name="Port A")
        access = door_ops.create_access(s, customer_id=cid, name="Snickare", door_ids=[door.id],
                                        member_ids=[], methods=["app"],
                                        schedule=[{"days": ["mon"], "start": "07:00",
                                                   "end": "16:00"}])
        s.commit()
        access_id = access.id
    d = browser
    d.delete_all_cookies()
    d.get(live.url + "/console/login")
    fill(d, {"email": cast["admin"], "password": PASSWORD})
    submit(d)
    wait_for(lambda: "Dashboard" in d.title, what="the dashboard")

    d.get(f"{live.url}/console/c/{cid}/accesses")
    row = wait_for(lambda: next(r for r in d.find_elements(By.CSS_SELECTOR, "main tbody tr")
                                if "Snickare" in r.text), what="the access's row")
    row.find_element(By.PARTIAL_LINK_TEXT, "Edit").click()
    wait_for(lambda: "Change the access" in text(d), what="the edit page")
    assert d.find_element(By.NAME, "w0_mon").is_selected()
    fill(d, {"name": "Snickare helg"})
    d.find_element(By.NAME, "w1_sat").click()
    for name, value in (("w1_start", "08:00"), ("w1_end", "12:00")):
        d.execute_script("arguments[0].value = arguments[1]", d.find_element(By.NAME, name),
                         value)
    d.find_element(By.CSS_SELECTOR, "input[name=methods][value=app]").click()
    d.find_element(By.CSS_SELECTOR, "input[name=methods][value=keycard]").click()
    submit(d)
    wait_for(lambda: "The access has been saved." in text(d), what="the saved access")
    screenshot(d, "13-access-edit")
    with live.session() as s:
        a = s.get(Access, access_id)
        assert a.name == "Snickare helg" and a.methods == ["keycard"]
        assert a.schedule == [{"days": ["mon"], "start": "07:00", "end": "16:00"},
                              {"days": ["sat"], "start": "08:00", "end": "12:00"}]

    d.find_element(By.LINK_TEXT, "Remove the access").click()
    wait_for(lambda: "This cannot be undone." in text(d), what="the confirm step")
    assert "Port A" in text(d)
    submit(d)
    wait_for(lambda: "The access has been removed." in text(d), what="the access removed")
    assert "Snickare helg" not in text(d)
    with live.session() as s:
        assert s.get(Access, access_id) is None
        actions = set(s.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == str(access_id))))
        assert {"access.update", "access.delete"} <= actions
