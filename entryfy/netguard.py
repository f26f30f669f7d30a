"""Outgoing HTTP to addresses customers give us (webhooks), guarded against SSRF.

A target is resolved once, every address it resolves to must be global (not private,
loopback, link-local, shared, reserved, multicast or unspecified), and the connection goes to
the address that was checked, so a DNS answer that changes between the check and the
connect (rebinding) cannot point the request inside. Redirects are never followed; timeouts
are short. ``allow_private`` (ENTRYFY_WEBHOOKS_ALLOW_PRIVATE=1) lifts the address rule for
tests and local development.

Own code rather than a library: ``requests`` with ``advocate`` (the usual SSRF guard) is
unmaintained, and neither httpx nor urllib3 offers a pinned-address connect with a
post-resolution check; http.client with a pinned socket is a few lines.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

TIMEOUT_S = 5.0
MAX_URL = 2000


class Refused(Exception):
    """The target may not be called; ``slug`` says why (stable, no address in it)."""

    def __init__(self, slug: str, message: str) -> None:
        super().__init__(message)
        self.slug = slug


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse(url: str) -> Target:
    if len(url) > MAX_URL:
        raise Refused("webhook-url-invalid", "The URL is too long.")
    try:
        u = urlsplit(url)
        port = u.port
    except ValueError as exc:
        raise Refused("webhook-url-invalid", "The URL is not valid.") from exc
    if u.scheme not in ("https", "http") or not u.hostname:
        raise Refused("webhook-url-invalid", "Give an http or https URL with a host name.")
    if u.username or u.password:
        raise Refused("webhook-url-invalid", "Credentials in the URL are not accepted.")
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    return Target(u.scheme, u.hostname, port or (443 if u.scheme == "https" else 80), path)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def resolve(target: Target, *, allow_private: bool) -> str:
    """The address to connect to: the first the host resolves to, after checking them all."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused("webhook-host-unresolvable", "The host name does not resolve.") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise Refused("webhook-host-unresolvable", "The host name does not resolve.")
    if not allow_private and not all(_is_public(a) for a in addresses):
        raise Refused("webhook-private-address",
                      "The URL leads to a private, loopback or link-local address.")
    return str(addresses[0])


def check(url: str, *, allow_private: bool) -> Target:
    """At creation: a well-formed URL whose host resolves to public addresses only."""
    target = parse(url)
    resolve(target, allow_private=allow_private)
    return target


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificate and SNI for the host name, connection to the checked address.
        # _context: the SSL context HTTPSConnection keeps (set in __init__; not in its stubs).
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]  # see above
            sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool,
         timeout: float | None = None) -> int:
    """POST ``body`` and return the status code (a redirect is returned, not followed).

    Raises Refused for a forbidden target and OSError (timeouts included) for a network
    failure."""
    target = parse(url)
    address = resolve(target, allow_private=allow_private)
    cls = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = cls(target.host, target.port, address, TIMEOUT_S if timeout is None else timeout)
    try:
        conn.request("POST", target.path, body=body,
                     headers={**headers, "Content-Type": "application/json",
                              "User-Agent": "Entryfy-Webhooks/1"})
        resp = conn.getresponse()
        resp.read(64 * 1024)  # drain a little; the receiver's body is never stored
        return resp.status
    except http.client.HTTPException as exc:
        raise OSError("bad HTTP response") from exc
    finally:
        conn.close()
