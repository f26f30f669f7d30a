"""Log records are stripped of personal data before any handler writes them."""

from __future__ import annotations

import logging

from entryfy.logs import RedactingFilter, redact


def test_redact_masks_addresses_emails_and_identity_numbers():
    line = ('192.168.10.77 - - "POST /login" 200 anna.svensson@example.se '
            '19850101-1234 2001:db8:1234:5678:9:a:b:c')
    out = redact(line)
    assert "192.168.10.0" in out and ".77" not in out
    assert "anna.svensson" not in out and "<email>" in out
    assert "19850101-1234" not in out and "<id-number>" in out
    assert "5678" not in out


def test_loopback_is_left_alone():
    assert redact("Running on http://127.0.0.1:8000") == "Running on http://127.0.0.1:8000"


def test_filter_rewrites_formatted_record():
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1,
                               "%s - - %s", ("10.1.2.3", "user@example.test"), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "10.1.2.0 - - <email>"


def test_werkzeug_logger_is_filtered(app):  # the app installs the filter
    assert any(isinstance(f, RedactingFilter) for f in logging.getLogger("werkzeug").filters)
