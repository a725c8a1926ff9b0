"""MQTT 3.1.1 packet codec, the client's side: just the packets a printer and its clients
exchange.

A printer is not a broker: it serves one report topic and takes one request topic, so
only CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), PINGREQ and DISCONNECT go to it, and CONNACK,
SUBACK, PUBLISH, PUBACK and PINGRESP come back. The sessions read with PacketReader; the
simulator's broker half (simulator/mqtt_broker.py) parses and answers with the same
constants and encoder.
"""

from __future__ import annotations

import struct

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
PUBREC, PUBREL, PUBCOMP = 5, 6, 7   # QoS 2, which printers do not send; answered all the same

# CONNACK return codes (MQTT 3.1.1, 3.2.2.3).
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL = 1
NOT_AUTHORIZED = 5

# A report with four AMS units is ~20 kB; anything far beyond that is not a client of ours.
MAX_PACKET = 1 << 20


class ProtocolError(Exception):
    """The peer sent something that is not MQTT 3.1.1 as we speak it."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("!H", len(raw)) + raw


def encode(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + _remaining_length(len(body)) + body


def connect(client_id: str, username: str | None = None, password: str | None = None,
            keepalive: int = 60) -> bytes:
    """A CONNECT packet (for tests and the benchmark's raw clients)."""
    flags = 0x02
    payload = _string(client_id)
    if username is not None:
        flags |= 0x80
        payload += _string(username)
    if password is not None:
        flags |= 0x40
        payload += _string(password)
    body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    return encode(CONNECT, 0, body)


def publish(topic: str, payload: bytes, qos: int = 0, packet_id: int | None = None) -> bytes:
    body = _string(topic)
    if qos:
        body += struct.pack("!H", packet_id or 1)
    return encode(PUBLISH, qos << 1, body + payload)


def puback(packet_id: int) -> bytes:
    return ack(PUBACK, packet_id)


def subscribe(packet_id: int, topic: str, qos: int = 0) -> bytes:
    return encode(SUBSCRIBE, 0x02, struct.pack("!H", packet_id) + _string(topic) + bytes([qos]))


def pingreq() -> bytes:
    return encode(PINGREQ, 0, b"")


def disconnect() -> bytes:
    return encode(DISCONNECT, 0, b"")


class PacketReader:
    """Bytes from a stream -> whole packets, as (kind, flags, body), for a client reading
    with non-blocking sockets: feed() takes whatever arrived and returns the packets it
    completes. A packet whose body would exceed `max_body` is not kept: its bytes are
    skipped as they come, and it is returned once as (kind, flags, None), so one huge
    packet costs no memory. ProtocolError for a remaining length of more than 4 bytes."""

    def __init__(self, max_body: int = MAX_PACKET) -> None:
        self._max = max_body
        self._buffer = bytearray()
        self._skip = 0   # bytes of an oversized packet still to pass over

    def feed(self, data: bytes) -> list[tuple[int, int, bytes | None]]:
        packets: list[tuple[int, int, bytes | None]] = []
        if self._skip:
            taken = min(self._skip, len(data))
            self._skip -= taken
            data = data[taken:]
        buffer = self._buffer
        buffer += data
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            first = buffer[pos]
            length = shift = 0
            index = pos + 1
            while True:
                if index >= end:
                    length = -1   # the length itself is not all here yet
                    break
                if index - pos > 4:
                    raise ProtocolError("remaining length longer than 4 bytes")
                byte = buffer[index]
                length |= (byte & 0x7F) << shift
                shift += 7
                index += 1
                if not byte & 0x80:
                    break
            if length < 0:
                break
            if length > self._max:
                packets.append((first >> 4, first & 0x0F, None))
                available = end - index
                self._skip = max(0, length - available)
                pos = min(end, index + length)
                continue
            if end - index < length:
                break
            packets.append((first >> 4, first & 0x0F, bytes(buffer[index:index + length])))
            pos = index + length
        if pos:
            del buffer[:pos]
        return packets


# Packet types a server sends a client (MQTT 3.1.1, 2.2.1) and the fixed-header flags each
# must carry (2.2.2); PUBLISH's flags are its own (DUP, QoS, RETAIN).
SERVER_PACKET_FLAGS: dict[int, int] = {CONNACK: 0, PUBACK: 0, PUBREC: 0, PUBREL: 2,
                                       PUBCOMP: 0, SUBACK: 0, UNSUBACK: 0, PINGRESP: 0}
PACKET_NAMES: dict[int, str] = {
    0: "reserved type 0", CONNECT: "CONNECT", CONNACK: "CONNACK", PUBLISH: "PUBLISH",
    PUBACK: "PUBACK", PUBREC: "PUBREC", PUBREL: "PUBREL", PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE", SUBACK: "SUBACK", UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK", PINGREQ: "PINGREQ", PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT", 15: "reserved type 15"}


def check_from_server(kind: int, flags: int) -> None:
    """ProtocolError, saying what it was, for a packet a server may not send a client:
    a type only clients send (or a reserved one), reserved flag bits set, QoS 3."""
    name = PACKET_NAMES.get(kind, f"type {kind}")
    if kind == PUBLISH:
        if flags & 0x06 == 0x06:
            raise ProtocolError("PUBLISH with QoS 3")
        return
    expected = SERVER_PACKET_FLAGS.get(kind)
    if expected is None:
        raise ProtocolError(f"{name} packet, which a server never sends")
    if flags != expected:
        raise ProtocolError(f"{name} with reserved flag bits {flags:#06b} "
                            f"(must be {expected:#06b})")


def publish_topic(flags: int, body: bytes) -> tuple[bytes, int | None, bytes]:
    """A PUBLISH body -> (topic as bytes, packet id where QoS > 0, payload), without
    decoding the topic: a client compares it with the one topic it wants."""
    if len(body) < 2:
        raise ProtocolError("PUBLISH shorter than its topic length")
    end = 2 + ((body[0] << 8) | body[1])
    packet_id = None
    if flags & 0x06:
        if len(body) < end + 2:
            raise ProtocolError("PUBLISH shorter than its fields")
        packet_id = (body[end] << 8) | body[end + 1]
        return body[2:end], packet_id, body[end + 2:]
    if len(body) < end:
        raise ProtocolError("PUBLISH shorter than its topic")
    return body[2:end], packet_id, body[end:]


def ack(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC or PUBCOMP (flags 0), or PUBREL (flags 2), for a packet id."""
    return encode(kind, 0x02 if kind == PUBREL else 0, struct.pack("!H", packet_id))
