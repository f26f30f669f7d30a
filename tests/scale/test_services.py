"""The private HAProxy and Redis that bench.scale starts: HAProxy spreads requests over every
backend and tells each the client's address in one X-Forwarded-For hop (what
ENTRYFY_TRUSTED_PROXIES=1 expects); both stop when their block ends, leaving no process."""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.request

import pytest

from bench import services

pytestmark = pytest.mark.scale


class _Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"{self.server.server_port} {self.headers.get('X-Forwarded-For')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_haproxy_balances_over_every_backend_and_forwards_the_client():
    backends = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(3)]
    for b in backends:
        threading.Thread(target=b.serve_forever, daemon=True).start()
    try:
        with services.haproxy([b.server_port for b in backends]) as port:
            answers = [urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                       .decode().split() for _ in range(6)]
        assert not _listening(port)
    finally:
        for b in backends:
            b.shutdown()
            b.server_close()
    # Round-robin: every backend answered twice; each saw the client in one hop.
    seen = sorted(int(a[0]) for a in answers)
    assert seen == sorted([b.server_port for b in backends] * 2)
    assert {a[1] for a in answers} == {"127.0.0.1"}


def test_redis_server_answers_and_goes_away():
    with services.redis_server() as port, \
            socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(16) == b"+PONG\r\n"
    assert not _listening(port)
