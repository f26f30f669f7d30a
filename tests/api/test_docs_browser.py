"""The API docs render in a real browser with no network: Chromium, its proxy pointed at a
dead port (so anything but loopback fails), loads /api/v1/docs from a live server and must
show the operations, with every resource from the app's own origin and no CSP violation."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from entryfy import create_app
from tests.conftest import TEST_CONFIG

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _missing() -> str | None:
    if not (CHROMIUM and CHROMEDRIVER):
        return "chromium and chromium-driver are not installed (apt-get install)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("docs") / "docs.sqlite3"
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{db}"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    reason = _missing()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--proxy-server=http://127.0.0.1:{_dead_port()}",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver from the system package: Selenium Manager would try to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_the_network_is_really_off(browser, live_url):
    """The proxy setting must cut everything but loopback, or the next test proves nothing.
    (From the JSON document: a page without the docs' CSP, which would block it first.)"""
    browser.get(live_url + "/api/v1/openapi.json")
    ok = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch("http://example.com/", {mode: "no-cors"}).then(() => done("reached"),
                                                              () => done("failed"));
    """)
    assert ok == "failed"


def test_docs_render_offline(browser, live_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(live_url + "/api/v1/docs")
    WebDriverWait(browser, 30).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock")))
    title = browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert title.startswith("Entryfy")
    paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/api/v1/entries" in {p.replace("\u200b", "") for p in paths}
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources, "the page loaded nothing?"
    assert [r for r in resources if not r.startswith(live_url)] == []
    problems = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert problems == []


def test_landing_page_links_docs_and_console(browser, live_url):
    from selenium.webdriver.common.by import By

    browser.get(live_url + "/")
    hrefs = {a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")}
    assert {live_url + "/api/v1/docs", live_url + "/console/",
            live_url + "/api/v1/openapi.json", live_url + "/api/v1/problems"} <= hrefs
