"""One printer's MQTT 3.1.1 client session as bytes in and bytes out: no sockets here.

The network loop owns the TLS socket: it writes `outbox` and feeds what it reads to
`received`. A printer's session needs little of MQTT: CONNECT as bambulabs_api sends it,
one SUBSCRIBE, PUBLISH both ways (QoS 1 and 2 answered), keep-alive pings with paho's
rule, DISCONNECT; anything a server may not send ends the session as a protocol error.
tests/printer/mqtt/test_bambu.py holds the CONNECT to the one the installed library's
paho sends.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.printer.mqtt import codec as mqtt
from exporter.printer.offline_reason import OfflineReason
from exporter.printer.sanitize import MAX_MESSAGE_BYTES

# A report is at most MAX_MESSAGE_BYTES; this leaves room for the topic and ids.
# Anything larger is passed over unread and reported (on_oversized), never buffered.
MAX_BODY = MAX_MESSAGE_BYTES + 1024
# What the exporter sends a printer is a few small commands and acks; a printer that has
# let this much go unread is not reading at all, and the session ends rather than grow.
MAX_OUTBOX = 64 * 1024
# A failure code in a SUBACK (MQTT 3.1.1, 3.9.3).
SUBACK_FAILURE = 0x80


class SessionLost(Exception):
    """The session cannot go on. `reason`: TIMEOUT (no PINGRESP, or the printer reads
    nothing of what is sent), PROTOCOL (the printer broke MQTT 3.1.1) or REFUSED (SUBACK
    refused the subscription); the detail says which."""

    def __init__(self, reason: OfflineReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ClientSession:
    """The client side of one MQTT session. `on_connack(code)` once CONNACK comes (0:
    accepted); `on_message(payload)` for each PUBLISH on `topic`; `on_oversized(size)`
    for a PUBLISH too large to read. Not thread-safe: the network loop's thread only."""

    __slots__ = ("outbox", "established", "refused", "subscribed", "_reader", "_topic",
                 "_keepalive", "_on_connack", "_on_message", "_on_oversized", "_last_in",
                 "_last_out", "_ping_sent", "_packet_id", "_connack_seen", "_suback_wanted")

    def __init__(self, topic: str, keepalive: int, on_connack: Callable[[int], None],
                 on_message: Callable[[bytes], None],
                 on_oversized: Callable[[int], None]) -> None:
        self.outbox = bytearray()
        self.established = False
        self.refused = 0          # CONNACK's return code when it refused the session
        self.subscribed = False   # SUBACK granted the report topic
        self._reader = mqtt.PacketReader(MAX_BODY)
        self._topic = topic.encode()
        self._keepalive = keepalive
        self._on_connack = on_connack
        self._on_message = on_message
        self._on_oversized = on_oversized
        self._last_in = self._last_out = 0.0
        self._ping_sent: float | None = None
        self._packet_id = 0
        self._connack_seen = False
        self._suback_wanted: int | None = None   # the SUBSCRIBE's packet id until SUBACK

    def connect(self, username: str, password: str, now: float) -> None:
        """Queue CONNECT (an empty client id with a clean session, as paho sends it)."""
        self._last_in = now
        self._send(mqtt.connect("", username, password, self._keepalive), now)

    def subscribe(self, topic: str, now: float) -> None:
        self._packet_id = self._packet_id % 0xFFFF + 1
        self._suback_wanted = self._packet_id
        self._send(mqtt.subscribe(self._packet_id, topic), now)

    def publish(self, topic: str, payload: bytes, now: float) -> None:
        """Queue a QoS 0 PUBLISH; SessionLost(TIMEOUT) when the printer has left too
        much unread."""
        self._send(mqtt.publish(topic, payload), now)

    def disconnect(self, now: float) -> None:
        self.outbox += mqtt.disconnect()   # the last word: never refused for size
        self._last_out = now

    def _send(self, packet: bytes, now: float) -> None:
        if len(self.outbox) + len(packet) > MAX_OUTBOX:
            raise SessionLost(OfflineReason.TIMEOUT, f"the printer left {len(self.outbox)} bytes unread "
                                         f"(at most {MAX_OUTBOX} are queued)")
        self.outbox += packet
        self._last_out = now

    def received(self, data: bytes, now: float) -> None:
        """Bytes read from the printer; callbacks run for the packets they complete.
        SessionLost(PROTOCOL) for bytes that are not MQTT 3.1.1 from a server,
        SessionLost(REFUSED) for a SUBACK that refuses the report topic."""
        self._last_in = now
        try:
            packets = self._reader.feed(data)
        except mqtt.ProtocolError as exc:
            raise SessionLost(OfflineReason.PROTOCOL, str(exc)) from None
        for kind, flags, body in packets:
            try:
                mqtt.check_from_server(kind, flags)
            except mqtt.ProtocolError as exc:
                raise SessionLost(OfflineReason.PROTOCOL, str(exc)) from None
            if not self._connack_seen and kind != mqtt.CONNACK:
                raise SessionLost(OfflineReason.PROTOCOL, f"{mqtt.PACKET_NAMES[kind]} before CONNACK")
            if kind == mqtt.PUBLISH:
                self._publish_in(flags, body, now)
            elif kind == mqtt.PINGRESP:
                self._ping_sent = None
            elif kind == mqtt.CONNACK:
                self._connack(body, now)
            elif kind == mqtt.SUBACK:
                self._suback(body)
            elif kind == mqtt.PUBREL and body is not None and len(body) >= 2:
                self._send(mqtt.ack(mqtt.PUBCOMP, (body[0] << 8) | body[1]), now)
            # PUBACK (of nothing we sent at QoS 1), UNSUBACK: nothing to do

    def _connack(self, body: bytes | None, now: float) -> None:
        if self._connack_seen:
            raise SessionLost(OfflineReason.PROTOCOL, "a second CONNACK in one session")
        if body is None or len(body) != 2:
            raise SessionLost(OfflineReason.PROTOCOL, "CONNACK not 2 bytes long")
        self._connack_seen = True
        code = body[1]
        self.established, self.refused = code == 0, code
        if code == 0:   # as the library does on CONNACK
            self.subscribe(self._topic.decode(), now)
        self._on_connack(code)

    def _suback(self, body: bytes | None) -> None:
        if body is None or len(body) < 3:
            raise SessionLost(OfflineReason.PROTOCOL, "SUBACK without a return code")
        packet_id = (body[0] << 8) | body[1]
        if packet_id != self._suback_wanted:
            raise SessionLost(OfflineReason.PROTOCOL, f"SUBACK for packet id {packet_id}, which was "
                                          "never subscribed")
        self._suback_wanted = None
        codes = body[2:]
        if any(code == SUBACK_FAILURE for code in codes):
            raise SessionLost(OfflineReason.REFUSED, f"the printer refused the subscription to "
                                         f"{self._topic.decode()} (SUBACK 0x80)")
        if any(code > 2 for code in codes):
            raise SessionLost(OfflineReason.PROTOCOL, f"SUBACK return code {max(codes):#04x}")
        self.subscribed = True

    def _publish_in(self, flags: int, body: bytes | None, now: float) -> None:
        if body is None:   # too large to keep: passed over unread
            self._on_oversized(MAX_BODY)
            return
        try:
            topic, packet_id, payload = mqtt.publish_topic(flags, body)
        except mqtt.ProtocolError as exc:
            raise SessionLost(OfflineReason.PROTOCOL, str(exc)) from None
        qos = (flags >> 1) & 0x03
        if packet_id is not None:
            self._send(mqtt.ack(mqtt.PUBACK if qos == 1 else mqtt.PUBREC, packet_id), now)
        if topic == self._topic:
            self._on_message(payload)

    def keepalive(self, now: float) -> None:
        """paho's rule: after `keepalive` seconds without traffic either way, PINGREQ;
        SessionLost(TIMEOUT) when its PINGRESP has not come `keepalive` seconds on."""
        if now - self._last_out < self._keepalive and now - self._last_in < self._keepalive:
            return
        if self._ping_sent is None:
            self._ping_sent = now
            self._send(mqtt.pingreq(), now)
        elif now - self._ping_sent >= self._keepalive:
            raise SessionLost(OfflineReason.TIMEOUT, f"no PINGRESP within {self._keepalive}s")
