"""A live Entryfy (werkzeug in a thread, on a free port, a migrated SQLite file) and a
headless Chromium driven by Selenium: Debian's ``chromium`` and ``chromium-driver``, nothing
downloaded at run time. Without them the browser tests are skipped, unless
``ENTRYFY_REQUIRE_BROWSER`` is set (``.ci/run`` installs them and sets it).

``ENTRYFY_SCREENSHOTS=docs/screenshots`` saves a PNG of each main page as the tests pass it.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entryfy import create_app, migrate
from entryfy.db import Database, make_engine
from models.tenancy import SYSTEM, set_context
from tests.conftest import TEST_CONFIG
from tests.faults.kit import keep_limiter

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = not (os.path.exists(CHROMEDRIVER) and os.path.exists(CHROMIUM))
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing = True
    if not missing:
        return
    if os.environ.get("ENTRYFY_REQUIRE_BROWSER"):
        # CI sets this: there a missing browser is a failure, not a quiet skip.
        raise pytest.UsageError("ENTRYFY_REQUIRE_BROWSER is set but chromium, chromium-driver "
                                "or selenium is missing")
    skip = pytest.mark.skip(reason="chromium / chromium-driver / selenium not installed")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


class Live:
    def __init__(self, url: str, app: Any, database: Database, outbox: Path) -> None:
        self.url, self.app, self.database, self.outbox = url, app, database, outbox

    def session(self):
        s = self.database.session()
        set_context(s, SYSTEM)
        return s


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{tmp / 'live.sqlite3'}"
    migrate.upgrade(url)
    database = Database(make_engine(url))
    outbox = tmp / "outbox"
    # The limiter is one object per process: this app's "throttling off" is put back to
    # what it was when the module ends (tests.faults.kit.keep_limiter).
    with keep_limiter():
        app = create_app({**TEST_CONFIG, "DATABASE": database, "OUTBOX_DIR": str(outbox),
                          "RATELIMIT_ENABLED": False})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Live(f"http://127.0.0.1:{server.server_port}", app, database, outbox)
        finally:
            server.shutdown()
            thread.join(timeout=5)
            database.engine.dispose()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--lang=en-GB", "--no-first-run",
                "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
        "intl.accept_languages": "en-GB,en"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    driver.downloads = downloads  # type: ignore[attr-defined]  # where the tests find files
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("ENTRYFY_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(720, min(int(height), 2000)))
    driver.save_screenshot(str(Path(folder) / f"{name}.png"))
    driver.set_window_size(1280, 900)
