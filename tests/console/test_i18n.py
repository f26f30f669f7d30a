"""The console's Swedish: every string the pages use has a translation, the committed .mo is
the .po compiled (a fresh clone serves Swedish without a build step), and dates are written
the Swedish way in the site's time zone."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from entryfy.console import i18n_sv

ROOT = Path(__file__).resolve().parents[2]
SV_DIR = ROOT / "entryfy/console/translations/sv/LC_MESSAGES"


def test_every_console_string_has_swedish(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
                    str(ROOT / "babel.cfg"), "-k", "_", "-k", "gettext", "-k", "ngettext:1,2",
                    "--no-location", "-o", str(pot), str(ROOT)],
                   check=True, cwd=ROOT, capture_output=True)
    missing = i18n_sv.build(str(pot), str(tmp_path / "out"))
    assert missing == []


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def test_committed_mo_matches_the_po():
    with open(SV_DIR / "messages.po", "rb") as f:
        po = {_key(m.id): _key(m.string) for m in read_po(f) if m.id}
    with open(SV_DIR / "messages.mo", "rb") as f:
        mo = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    assert po == mo
    assert po["Sign in"] == "Logga in" and po["Personnel ledger"] == "Personalliggare"


def test_swedish_dates_in_the_site_time_zone(app):
    from entryfy.console import when

    t = dt.datetime(2026, 7, 1, 22, 30, tzinfo=dt.UTC)
    with app.test_request_context("/console/login", headers={"Accept-Language": "sv"}):
        assert when(t, "Europe/Stockholm") == "2026-07-02 00:30"  # CEST
        assert when(t, "Europe/London") == "2026-07-01 23:30"
    with app.test_request_context("/console/login", headers={"Accept-Language": "en-US"}):
        assert when(t, "Europe/Stockholm") == "7/2/26, 12:30\u202fAM"
