"""MQTT 3.1.1, the printer's side: reading packets from a client and answering them.

Only the simulator serves MQTT; the exporter's sessions are clients
(printer/mqtt/codec.py holds the constants and the encoder both sides share).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

from exporter.printer.mqtt.codec import (
    CONNACK,
    MAX_PACKET,
    PINGRESP,
    SUBACK,
    UNSUBACK,
    ProtocolError,
    encode,
    publish_topic,
)


@dataclass
class Packet:
    kind: int
    flags: int
    body: bytes


@dataclass
class Connect:
    protocol: str
    level: int
    client_id: str
    keepalive: int
    username: str | None
    password: str | None = field(repr=False)
    clean_session: bool


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    packet_id: int | None = None


@dataclass
class Subscribe:
    packet_id: int
    topics: list[tuple[str, int]]


async def read_packet(reader: asyncio.StreamReader) -> Packet:
    """One packet; raises asyncio.IncompleteReadError at end of stream."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("remaining length longer than 4 bytes")
    if length > MAX_PACKET:
        raise ProtocolError(f"packet of {length} bytes is too large")
    body = await reader.readexactly(length) if length else b""
    return Packet(first >> 4, first & 0x0F, body)


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("packet shorter than its fields")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("!H", self.take(2))[0]

    def binary(self) -> bytes:
        return self.take(self.u16())

    def string(self) -> str:
        try:
            return self.binary().decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("string field is not UTF-8") from exc

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def parse_connect(body: bytes) -> Connect:
    c = _Cursor(body)
    protocol = c.string()
    level = c.u8()
    flags = c.u8()
    keepalive = c.u16()
    client_id = c.string()
    if flags & 0x04:  # will flag: topic and message, ignored by a printer
        c.string()
        c.binary()
    username = c.string() if flags & 0x80 else None
    password = None
    if flags & 0x40:
        try:
            password = c.binary().decode()
        except UnicodeDecodeError:
            password = ""
    return Connect(protocol, level, client_id, keepalive, username, password,
                   bool(flags & 0x02))


def parse_publish(flags: int, body: bytes) -> Publish:
    topic, packet_id, payload = publish_topic(flags, body)
    try:
        name = topic.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError("string field is not UTF-8") from exc
    return Publish(name, payload, (flags >> 1) & 0x03, packet_id)


def parse_subscribe(body: bytes) -> Subscribe:
    c = _Cursor(body)
    packet_id = c.u16()
    topics = []
    while not c.at_end():
        topic = c.string()
        topics.append((topic, c.u8() & 0x03))
    if not topics:
        raise ProtocolError("SUBSCRIBE without topics")
    return Subscribe(packet_id, topics)


def parse_unsubscribe(body: bytes) -> tuple[int, list[str]]:
    c = _Cursor(body)
    packet_id = c.u16()
    topics = []
    while not c.at_end():
        topics.append(c.string())
    return packet_id, topics


def connack(code: int, session_present: bool = False) -> bytes:
    return encode(CONNACK, 0, bytes([1 if session_present else 0, code]))


def suback(packet_id: int, granted: list[int]) -> bytes:
    return encode(SUBACK, 0, struct.pack("!H", packet_id) + bytes(granted))


def unsuback(packet_id: int) -> bytes:
    return encode(UNSUBACK, 0, struct.pack("!H", packet_id))


def pingresp() -> bytes:
    return encode(PINGRESP, 0, b"")
