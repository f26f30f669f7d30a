"""Private copies of the scale-out pieces, for benches and tests: PgBouncer, HAProxy, Redis.

Each is a context manager that writes its configuration into a temporary folder, starts the
Debian binary on a free 127.0.0.1 port, waits until the port answers, yields the address and
stops exactly the process it started (never a service by name: the shared PostgreSQL and
Redis of the machine stay up). ``missing()`` names the binaries that are not installed, so a
test can skip (or fail, under ENTRYFY_REQUIRE_SCALE=1) with a clear reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PGBOUNCER = os.environ.get("ENTRYFY_PGBOUNCER", "/usr/sbin/pgbouncer")
HAPROXY = os.environ.get("ENTRYFY_HAPROXY", "/usr/sbin/haproxy")
REDIS = os.environ.get("ENTRYFY_REDIS_SERVER", shutil.which("redis-server") or "redis-server")


def missing(*names: str) -> list[str]:
    """Which of ``names`` ("pgbouncer", "haproxy", "redis-server") are not installed."""
    paths = {"pgbouncer": PGBOUNCER, "haproxy": HAPROXY, "redis-server": REDIS}
    return [n for n in names if not (os.path.isfile(paths[n]) and os.access(paths[n], os.X_OK))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path | None,
               timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on port {port} in time") from None
            time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Terminate ``proc``; kill it if it has not ended within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def pgbouncer(server_host: str, server_port: int, users: list[str], *, pool_size: int = 20,
              pool_mode: str = "transaction", max_client_conn: int = 1000) -> Iterator[int]:
    """PgBouncer in front of ``server_host:server_port``; yields its port. Every database of
    the server is reachable by name; ``users`` may log in (auth_type trust: the server checks
    them itself, as it does without the pooler). ``pool_size`` server connections per
    (database, user) pair."""
    folder = Path(tempfile.mkdtemp(prefix="entryfy-pgbouncer-"))
    port = free_port()
    log = folder / "pgbouncer.log"
    (folder / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server_host} port={server_port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"pool_mode = {pool_mode}\ndefault_pool_size = {pool_size}\n"
        f"min_pool_size = 0\nreserve_pool_size = 0\nmax_client_conn = {max_client_conn}\n"
        # psycopg sends none of these, other clients may: accept rather than refuse them.
        "ignore_startup_parameters = extra_float_digits,options,application_name\n"
        f"logfile = {log}\npidfile =\n"
        "log_connections = 0\nlog_disconnections = 0\n"
    )
    cmd = [PGBOUNCER]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root; CI runs as root: drop to an unprivileged user.
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), "nobody")
        cmd += ["-u", user]
        os.chmod(folder, 0o777)
        for f in folder.iterdir():
            os.chmod(f, 0o644)
    proc = subprocess.Popen([*cmd, str(folder / "pgbouncer.ini")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "pgbouncer", log)
        yield port
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@contextlib.contextmanager
def haproxy(backends: list[int]) -> Iterator[int]:
    """HAProxy balancing HTTP round-robin over ``127.0.0.1:<backends>``; yields its port.
    Keep-alive to the backends (http-reuse), health checks off (the bench starts them ready)."""
    folder = Path(tempfile.mkdtemp(prefix="entryfy-haproxy-"))
    port = free_port()
    servers = "".join(f"    server app{i} 127.0.0.1:{p}\n" for i, p in enumerate(backends))
    cfg = folder / "haproxy.cfg"
    cfg.write_text(
        "global\n    maxconn 4096\n"
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n"
        "    timeout server 60s\n    option http-keep-alive\n"
        # One forwarded hop: the app trusts exactly one proxy (ENTRYFY_TRUSTED_PROXIES=1).
        "    option forwardfor\n"
        f"frontend entry\n    bind 127.0.0.1:{port}\n    default_backend apps\n"
        f"backend apps\n    balance roundrobin\n    http-reuse always\n{servers}"
    )
    proc = subprocess.Popen([HAPROXY, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "haproxy", None)
        yield port
    finally:
        stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A private redis-server (no persistence) on a free port; yields the port."""
    port = free_port()
    proc = subprocess.Popen([REDIS, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, "redis-server", None)
        yield port
    finally:
        stop(proc)


@contextlib.contextmanager
def serving_http(cmd: list[str], env: dict[str, str], ready_url: str, *, what: str,
                 cwd: Path, timeout: float = 120.0, stop_timeout: float = 10.0
                 ) -> Iterator[None]:
    """Run ``cmd`` (an HTTP server) until the block ends; enter the block once ``ready_url``
    gives any HTTP answer (even 404). Its log goes to a file, not a pipe: nobody reads a pipe
    while the load runs, and a server that logs many errors would fill it and stall instead
    of answering. The log's end is in the error when the server exits before it answers."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    err = log.read().decode(errors="replace")
                    raise RuntimeError(f"{what} exited: {err[-2000:]}")
                try:
                    urllib.request.urlopen(ready_url, timeout=2)
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{what} did not answer in time") from None
                    time.sleep(0.2)
            yield
        finally:
            stop(proc, stop_timeout)
