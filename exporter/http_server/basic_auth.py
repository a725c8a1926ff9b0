"""HTTP basic auth against bcrypt hashes, with short caches of verified and failed passwords.

bcrypt is slow on purpose (~50-250 ms at cost 10-12): Prometheus scraping every few seconds
would spend that on every scrape. A password once verified is remembered as a keyed HMAC
(never the password itself) together with the hash it matched, so a changed hash drops it.
A wrong password is remembered the same way for a short while, so a client repeating it
costs no bcrypt. Timing: an unknown user costs a bcrypt check against a configured hash,
like a wrong password, against a dummy hash at the highest cost any user has (checked
against a real user's cheaper hash it would answer faster, and tell the names apart);
cache lookups compare HMACs of a per-process key, which tell an attacker nothing.

Passwords over 72 bytes are refused before bcrypt, as exporter-toolkit (Go's bcrypt) does:
bcrypt reads only 72 bytes (bcrypt 4 ignores the rest, bcrypt 5 raises), and a password
that matches in its first 72 bytes only must not get in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import bcrypt

CACHE_SIZE = 1024          # verified passwords remembered
FAILED_CACHE_SIZE = 4096   # wrong passwords remembered ...
FAILED_FOR = 30.0          # ... for this many seconds
MAX_PASSWORD_BYTES = 72    # what bcrypt reads


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


def too_long(password: bytes) -> bool:
    return len(password) > MAX_PASSWORD_BYTES


def bcrypt_cost(hashed: bytes) -> int:
    """The cost of a `$2b$12$...` hash (0 when it is not one)."""
    parts = hashed.split(b"$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0


def dummy_hash(users: dict[str, bytes]) -> bytes:
    """A hash no password matches, at the highest cost among `users`: a fresh salt and a
    digest of filler (checkpw computes the digest and compares, so filler never matches)."""
    cost = max((bcrypt_cost(hashed) for hashed in users.values()), default=4)
    return bcrypt.gensalt(min(max(cost, 4), 31)) + b"." * 31


class BasicAuth:
    """check(user, password) against users -> bcrypt hash. Thread-safe."""

    def __init__(self, users: dict[str, bytes],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = dict(users)
        self._clock = clock
        self._key = os.urandom(32)
        self._dummy = dummy_hash(self.users)   # what unknown users are checked against
        self._verified: set[bytes] = set()
        self._failed: OrderedDict[bytes, float] = OrderedDict()   # token -> when
        self._lock = threading.Lock()
        self.bcrypt_checks = 0   # how many full bcrypt checks ran (the caches' effect)

    def _token(self, user: str, password: bytes) -> bytes:
        # An unknown user is keyed with the hash it is checked against.
        hashed = self.users.get(user) or self._dummy
        message = user.encode() + b"\0" + hashed + b"\0" + password
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def cached(self, user: str, password: bytes) -> bool:
        """True when this password was verified for this user before: no bcrypt needed."""
        if user not in self.users:
            return False
        token = self._token(user, password)
        with self._lock:
            return token in self._verified

    def failed_recently(self, user: str, password: bytes) -> bool:
        """True when this password failed for this user within FAILED_FOR seconds."""
        token = self._token(user, password)
        with self._lock:
            failed = self._failed.get(token)
            return failed is not None and self._clock() - failed < FAILED_FOR

    def check(self, user: str, password: bytes) -> bool:
        """The full check (slow on a cache miss: call it off the event loop)."""
        if self.cached(user, password):
            return True
        if too_long(password):
            return False
        hashed = self.users.get(user)
        # An unknown user still pays for one bcrypt check at the highest cost, so timing
        # does not tell which user names exist.
        reference = hashed if hashed is not None else self._dummy
        try:
            ok = bcrypt.checkpw(password, reference)
        except ValueError:
            ok = False
        token = self._token(user, password)
        with self._lock:
            self.bcrypt_checks += 1
            if not ok or hashed is None:
                self._failed[token] = self._clock()
                self._failed.move_to_end(token)
                while len(self._failed) > FAILED_CACHE_SIZE:
                    self._failed.popitem(last=False)
                return False
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
            self._verified.add(token)
        return True
