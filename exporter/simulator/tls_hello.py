"""Reading a TLS ClientHello far enough to see which versions it offers, for the firmware
mode that never answers a ClientHello offering TLS 1.3 (as Bambu P2S firmware
01.02.00.00 is reported to do)."""

from __future__ import annotations

HANDSHAKE = 0x16
CLIENT_HELLO = 0x01
SUPPORTED_VERSIONS = 43   # extension type (RFC 8446, 4.2.1)
TLS13 = 0x0304


def record_complete(data: bytes) -> bool:
    """Whether `data` holds a whole first TLS record (header and body)."""
    return len(data) >= 5 and len(data) >= 5 + int.from_bytes(data[3:5], "big")


def offers_tls13(record: bytes) -> bool:
    """Whether the ClientHello in this first TLS record lists TLS 1.3 in its
    supported_versions extension (a TLS 1.2-only client sends no such extension).
    Anything that is not a readable ClientHello counts as offering it: the deaf
    firmware answers only what it understands."""
    try:
        if record[0] != HANDSHAKE or record[5] != CLIENT_HELLO:
            return True
        pos = 5 + 4 + 2 + 32                      # handshake header, version, random
        pos += 1 + record[pos]                    # session id
        pos += 2 + int.from_bytes(record[pos:pos + 2], "big")   # cipher suites
        pos += 1 + record[pos]                    # compression methods
        end = pos + 2 + int.from_bytes(record[pos:pos + 2], "big")
        pos += 2
        while pos + 4 <= end:
            kind = int.from_bytes(record[pos:pos + 2], "big")
            size = int.from_bytes(record[pos + 2:pos + 4], "big")
            body = record[pos + 4:pos + 4 + size]
            if kind == SUPPORTED_VERSIONS and body:
                versions = body[1:1 + body[0]]
                return any(int.from_bytes(versions[i:i + 2], "big") == TLS13
                           for i in range(0, len(versions) - 1, 2))
            pos += 4 + size
        return False
    except IndexError:
        return True
