"""Logging that keeps personal data out of log files.

Our own code logs ids, never names, emails, numbers or positions. Third-party loggers are
less careful (the development server logs every client address), so a filter rewrites each
record before any handler sees it: IPv4 addresses keep their /24, IPv6 their /48, e-mail
addresses and Swedish identity numbers are replaced.
"""

from __future__ import annotations

import logging
import os
import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Loopback (127.x) is nobody's address, and the server's own "Running on" line must stay true.
_IPV4 = re.compile(r"\b(?!127\.)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}\b")
_H = "[0-9a-fA-F]{1,4}"
_IPV6 = re.compile(rf"\b({_H}):({_H}):({_H})(?::[0-9a-fA-F]{{0,4}}){{1,5}}\b")
_PNR = re.compile(r"\b(?:19|20)?\d{6}[-+]?\d{4}\b")


def redact(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    text = _PNR.sub("<id-number>", text)
    text = _IPV4.sub(r"\1.\2.\3.0", text)
    return _IPV6.sub(r"\1:\2:\3::", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class LimiterKeyFilter(logging.Filter):
    """Flask-Limiter logs the key of a breached limit ("LIMITER/<client address>/<scope>..."):
    the address is cut to its network (entryfy.security.truncate_ip) like everywhere else,
    while the limiter itself still counts per full address."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_truncate_key(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def _truncate_key(value: str) -> str:
    from entryfy.security import truncate_ip

    parts = value.split("/")
    return "/".join(truncate_ip(p) or p if _looks_like_ip(p) else p for p in parts)


def _looks_like_ip(part: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(part.split("%")[0])
    except ValueError:
        return False
    return True


_installed = False


def configure() -> None:
    global _installed
    if _installed:
        return
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    f = RedactingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(f)
    # Logger-level too: records logged straight on these loggers pass it before any handler.
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "entryfy", "api", "privacy"):
        logging.getLogger(name).addFilter(f)
    limiter_log = logging.getLogger("flask-limiter")
    limiter_log.addFilter(LimiterKeyFilter())
    limiter_log.addFilter(f)
    _installed = True
