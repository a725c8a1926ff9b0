"""Secret scrubbing for messages that may echo a connection string or an access code:
psycopg2's errors can carry the DSN, password included."""

from __future__ import annotations

import re
from collections.abc import Iterable

_SECRET_PATTERNS = (
    re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE),
    re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)"),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with each secret and anything shaped like a password in a DSN or URL
    replaced by '***'. For messages from libraries that may echo connection strings."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _SECRET_PATTERNS[0].sub(r"\1***", text)
    return _SECRET_PATTERNS[1].sub(r"\1***\3", text)
