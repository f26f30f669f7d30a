"""Tools of the fault suite: a TCP proxy the test can cut, a private redis-server, a real
gunicorn, load threads that tally what clients saw. Loopback only; everything is started by
the test and stopped by it (the machine's own PostgreSQL and Redis are never touched)."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def keep_limiter() -> Iterator[None]:
    """The limiter is one object for every app in the process (entryfy.extensions): an app
    made with another storage (a Redis the test then stops) must not leave it to the suite's
    app, whose next ``limiter.reset()`` would fail."""
    from entryfy.extensions import limiter

    saved = dict(vars(limiter))
    try:
        yield
    finally:
        vars(limiter).clear()
        vars(limiter).update(saved)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


class TcpProxy:
    """127.0.0.1:<port> -> target. ``cut()`` resets every open connection and refuses new
    ones (what the app sees when the database restarts); ``restore()`` listens again."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(128)
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, 2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self._lock:
                self._socks -= {src, dst}

    def cut(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for s in socks:
            # shutdown() first: close() alone leaves the connection open while a pump thread
            # is blocked in recv() on it. Both ends see the connection end, as in a restart.
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self.cut()


class RedisServer:
    """A private redis-server on a free port, no persistence; stop() and start() again."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


class Tally:
    """What clients saw: answers by status, 503s without Retry-After, acknowledged ids."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: collections.Counter[int] = collections.Counter()
        self.no_retry_after = 0
        self.acked: list[str] = []
        self.events: list[tuple[float, int]] = []
        self.slowest = 0.0

    def add(self, status: int, headers: Any = None, acked: str | None = None,
            took: float = 0.0) -> None:
        with self.lock:
            self.slowest = max(self.slowest, took)
            self.status[status] += 1
            self.events.append((time.monotonic(), status))
            if status == 503 and not (headers and headers.get("Retry-After")):
                self.no_retry_after += 1
            if acked:
                self.acked.append(acked)

    def first_ok_after(self, t: float, ok: frozenset[int] = frozenset({200, 201})) -> float | None:
        with self.lock:
            times = [ts for ts, st in self.events if ts >= t and st in ok]
        return min(times) - t if times else None

    def summary(self, name: str, **extra: Any) -> str:
        total = sum(self.status.values())
        line = (f"FAULT {name}: requests={total} by_status={dict(sorted(self.status.items()))} "
                f"503_without_retry_after={self.no_retry_after} slowest_s={self.slowest:.2f} "
                + " ".join(f"{k}={v}" for k, v in extra.items()))
        print(line, flush=True)
        return line


def hammer(n_threads: int, work: Callable[[int], None],
           stop: threading.Event) -> list[threading.Thread]:
    def loop(i: int) -> None:
        while not stop.is_set():
            work(i)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(n_threads)]
    for t in threads:
        t.start()
    return threads


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, Any, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], args: list[str] | None = None,
             log: Path | None = None) -> Iterator[int]:
    """``gunicorn -c gunicorn.conf.py wsgi:app`` (or ``args``) on a free port; yields it."""
    port = free_port()
    full_env = {**os.environ, **env, "ENTRYFY_BIND": f"127.0.0.1:{port}"}
    cmd = [sys.executable, "-m", "gunicorn", *(args or ["-c", "gunicorn.conf.py"])]
    if args:
        cmd += ["-b", f"127.0.0.1:{port}"]
    cmd.append("wsgi:app")
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120  # a loaded CI machine imports slowly
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                if http("GET", f"http://127.0.0.1:{port}/healthz", timeout=2)[0] < 500:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("gunicorn did not start")
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            out.close()  # type: ignore[union-attr]  # opened above when log is set
