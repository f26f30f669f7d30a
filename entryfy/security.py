"""Secrets, hashes and keys: passwords (argon2id), tokens (SHA-256), keyed hashes (HMAC),
field encryption (AES-GCM via cryptography's Fernet-like AESGCM), truncated IP addresses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Passwords:
    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        # argon2-cffi uses argon2id by default.
        self._ph = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Verified against when the email is unknown, so both paths cost the same.
        self._dummy = self._ph.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._ph.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._ph.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._ph.check_needs_rehash(stored)

    def burn(self, password: str) -> None:
        """Spend the time of one verification (unknown email: answer alike, in the same time)."""
        self.verify(None, password)


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _decode_key(key_b64: str) -> bytes:
    raw = base64.urlsafe_b64decode(key_b64 + "=" * (-len(key_b64) % 4))
    if len(raw) != 32:
        raise ValueError("ENTRYFY_DATA_KEY must be 32 bytes in URL-safe base64")
    return raw


class DataKeys:
    """Keys derived from ENTRYFY_DATA_KEY: one for encryption, one per keyed-hash purpose."""

    def __init__(self, key_b64: str) -> None:
        self._root = _decode_key(key_b64)
        self._aead = AESGCM(self._derive(b"field-encryption"))

    def _derive(self, label: bytes) -> bytes:
        return hmac.new(self._root, b"entryfy:" + label, hashlib.sha256).digest()

    def keyed_hash(self, purpose: str, value: str) -> str:
        """A stable pseudonym for ``value`` (device ids, PINs, keycards): HMAC-SHA256, hex."""
        return hmac.new(self._derive(purpose.encode()), value.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return "v1:" + base64.urlsafe_b64encode(nonce + ct).decode()

    def decrypt(self, token: str, *, context: str) -> str:
        if not token.startswith("v1:"):
            raise ValueError("unknown ciphertext version")
        blob = base64.urlsafe_b64decode(token[3:])
        return self._aead.decrypt(blob[:12], blob[12:], context.encode()).decode()


def truncate_ip(addr: str | None) -> str | None:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    if not addr:
        return None
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return None
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


# The configured instances, set once by create_app (or a job) from configuration.
_passwords: Passwords | None = None
_keys: DataKeys | None = None


def configure(*, passwords: Passwords, keys: DataKeys) -> None:
    global _passwords, _keys
    _passwords, _keys = passwords, keys


def passwords() -> Passwords:
    if _passwords is None:
        raise RuntimeError("entryfy.security is not configured (create_app does it)")
    return _passwords


def keys() -> DataKeys:
    if _keys is None:
        raise RuntimeError("entryfy.security is not configured (create_app does it)")
    return _keys


_scope_key: tuple[DataKeys, bytes] | None = None


def db_scope_key() -> bytes:
    """The key the app signs its row-level-security settings with (models.tenancy); the
    database holds it where the web role cannot read it (models/rls.py). Derived from
    ENTRYFY_DATA_KEY: rotating that key means storing this one again (`entryfy db upgrade`)."""
    global _scope_key
    k = keys()
    if _scope_key is None or _scope_key[0] is not k:
        _scope_key = (k, bytes.fromhex(k.keyed_hash("db-scope-signing", "v1")))
    return _scope_key[1]
