"""HTTP basic auth against bcrypt hashes, with a cache of verified passwords.

bcrypt is slow on purpose (~50-250 ms at cost 10-12): Prometheus scraping every few seconds
would spend that on every scrape. A password once verified is remembered as a keyed HMAC
(never the password itself) together with the hash it matched, so a changed hash drops it.
Timing: an unknown user costs a bcrypt check against a configured hash, like a wrong
password; cache lookups compare HMACs of a per-process key, which tell an attacker nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading

import bcrypt

CACHE_SIZE = 1024


def credentials(header: str | None) -> tuple[str, bytes] | None:
    """`Authorization: Basic base64(user:password)` -> (user, password), else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    return user.decode("utf-8", "replace"), password


class BasicAuth:
    """check(user, password) against users -> bcrypt hash. Thread-safe."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = dict(users)
        self._key = os.urandom(32)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()
        self.bcrypt_checks = 0   # how many full bcrypt checks ran (the cache's effect)

    def _token(self, user: str, password: bytes, hashed: bytes) -> bytes:
        message = user.encode() + b"\0" + hashed + b"\0" + password
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, user: str, password: bytes) -> bool:
        """True when this password was verified for this user before: no bcrypt needed."""
        hashed = self.users.get(user)
        if hashed is None:
            return False
        token = self._token(user, password, hashed)
        with self._lock:
            return token in self._verified

    def check(self, user: str, password: bytes) -> bool:
        """The full check (slow on a cache miss: call it off the event loop)."""
        if self.cached(user, password):
            return True
        hashed = self.users.get(user)
        # An unknown user still pays for one bcrypt check, so timing does not tell
        # which user names exist.
        reference = hashed if hashed is not None else next(iter(self.users.values()))
        try:
            ok = bcrypt.checkpw(password, reference)
        except ValueError:
            ok = False
        with self._lock:
            self.bcrypt_checks += 1
        if not ok or hashed is None:
            return False
        with self._lock:
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified.add(self._token(user, password, hashed))
        return True
