"""The production server configuration: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Every value can be overridden on the command line or by gunicorn's GUNICORN_CMD_ARGS; the
few Entryfy-specific knobs are environment variables, named below.

Slow clients. A sync worker serves one connection at a time and reads the request itself, so
two clients that send one header byte a second block a worker each until `timeout` kills it
(measured with the old README command: 2 such clients blocked every request for 33 s, 4 kept
the service down for 70 s). gthread is no cure: it hands a connection to a thread as soon as
its first byte arrives and the thread then waits for the rest. gevent workers read every
connection in its own greenlet, so a trickling client costs a few kilobytes and blocks
nobody; psycopg 3 (>= 3.1.14) cooperates with gevent by itself, and SQLite's write-lock wait
yields (entryfy.db). Behind a buffering reverse proxy (nginx's default proxy_buffering)
slow clients never reach gunicorn at all; this configuration is safe without one.
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return multiprocessing.cpu_count()


bind = os.environ.get("ENTRYFY_BIND", "0.0.0.0:" + os.environ.get("PORT", "8000"))

# Workers from the machine: one per CPU for the CPU-bound work (password hashing, JSON),
# plus one so a CPU never idles while a worker waits for the database, at least two so a
# restarting worker never leaves the port unserved. WEB_CONCURRENCY overrides (gunicorn's
# convention). Each worker's database pool is DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW
# connections (10 by default): workers x 10 must stay below PostgreSQL's max_connections.
workers = _int("WEB_CONCURRENCY", max(2, _cpus() + 1))
worker_class = "gevent"
# Concurrent connections per worker (idle keep-alives and slow clients included); requests
# beyond the database pool wait for a connection for at most pool_timeout (then 503).
worker_connections = _int("ENTRYFY_WORKER_CONNECTIONS", 500)

# A worker whose event loop is stuck this long (a runaway CPU-bound request) is restarted.
timeout = _int("ENTRYFY_WORKER_TIMEOUT", 30)
# On SIGTERM: stop accepting, let requests in flight finish for this long, then exit.
graceful_timeout = _int("ENTRYFY_GRACEFUL_TIMEOUT", 25)
keepalive = 5
# Recycle workers now and then (a leak stays bounded); jitter so they do not restart at once.
max_requests = 20000
max_requests_jitter = 2000

# Request size limits (gunicorn's defaults, spelled out): long lines and many headers -> 400.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Forwarded headers. The app applies X-Forwarded-For/-Proto itself, for exactly
# ENTRYFY_TRUSTED_PROXIES proxies (werkzeug's ProxyFix, entryfy.app). gunicorn must not
# second-guess it: with no trusted proxy it believes no forwarding header from anyone (its
# default trusts 127.0.0.1, which a local client could abuse); with proxies it leaves the
# scheme to those proxy addresses (FORWARDED_ALLOW_IPS, default loopback: a proxy on the
# same host).
if _int("ENTRYFY_TRUSTED_PROXIES", 0) > 0:
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
else:
    forwarded_allow_ips = ""
    secure_scheme_headers: dict[str, str] = {}

accesslog = os.environ.get("ENTRYFY_ACCESS_LOG") or None  # e.g. "-" for stdout
# No client address in the access log format: it is personal data (entryfy.logs).
access_log_format = '"%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_fork(server, worker):
    """No ``Server: gunicorn`` banner: it tells a scanner which exploits to try."""
    from gunicorn.http import wsgi

    original = wsgi.Response.default_headers

    def default_headers(self):
        return [h for h in original(self) if not h.startswith("Server:")]

    wsgi.Response.default_headers = default_headers


# gunicorn's runtime control socket (a file in the home directory) is not used.
control_socket_disable = True
